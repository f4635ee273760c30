"""The checkpoint dropdown of the quicksettings row, with a refresh button."""

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from modules.engine import Engine
from webui.components.progress import message_html


def checkpoint_choices(engine: Engine) -> list[tuple[str, str]]:
    """(label, value): the label shows the hash once known and the model family, the value is the
    stable file name."""
    return [(_label(engine, info), info.name) for info in engine.models.checkpoints()]


def _label(engine: Engine, info) -> str:
    family = engine.models.family_of(info)
    title = engine.models.title(info)
    return f"{title} · {family.label}" if family is not None else title


def current_name(engine: Engine) -> str | None:
    current = engine.models.current_info
    if current is not None:
        return current.name
    try:
        return engine.models.default_checkpoint().name
    except LookupError:
        return None


@dataclass
class CheckpointPicker:
    dropdown: gr.Dropdown  # tabs pass its value with each request
    refresh: Callable  # -> (dropdown update, message html)


def build_checkpoint_picker(engine: Engine, message: gr.HTML, visible: bool = True) -> CheckpointPicker:
    """The checkpoint dropdown and its ↻ (in the current row). Hidden when quicksettings_list leaves
    it out: the tabs still read the checkpoint to use from it."""
    dropdown = gr.Dropdown(
        label="Stable Diffusion checkpoint",
        choices=checkpoint_choices(engine),
        value=current_name(engine),
        elem_id="setting_sd_model_checkpoint",
        visible=visible,
        scale=4,
    )
    refresh = gr.Button("↻", elem_id="refresh_sd_model_checkpoint", scale=0, min_width=48, visible=visible)

    def switch(name):
        if not name:
            return message_html("")
        try:
            model = engine.submit_model_switch(name).outcome()
        except (LookupError, RuntimeError, ValueError) as error:
            return message_html(str(error), "error")
        return message_html(f"Loaded {engine.models.title(model.info)}")

    def refresh_choices():
        choices = checkpoint_choices(engine)
        dropdown_update = gr.Dropdown(choices=choices, value=current_name(engine))
        if not choices:
            return dropdown_update, message_html(_no_checkpoint_text(engine), "error")
        return dropdown_update, message_html(engine.model_notice() or "", "error")

    # .input, not .change: only a user's pick loads a model, not a refreshed list.
    dropdown.input(switch, inputs=dropdown, outputs=message, concurrency_limit=None)
    refresh.click(refresh_choices, outputs=[dropdown, message])
    return CheckpointPicker(dropdown=dropdown, refresh=refresh_choices)


def _no_checkpoint_text(engine: Engine) -> str:
    try:
        engine.models.default_checkpoint()
    except LookupError as error:
        return str(error)
    return ""
