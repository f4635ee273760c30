"""The checkpoint dropdown at the top of the page, with a refresh button."""

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from modules.engine import Engine
from modules.processing.request import Txt2ImgRequest
from webui.components.field_group import slider_for
from webui.components.progress import message_html


def checkpoint_choices(engine: Engine) -> list[tuple[str, str]]:
    """(label, value): the label shows the hash once known, the value is the stable file name."""
    return [(engine.models.title(info), info.name) for info in engine.models.checkpoints()]


def current_name(engine: Engine) -> str | None:
    loaded = engine.models.loaded
    if loaded is not None:
        return loaded.info.name
    try:
        return engine.models.default_checkpoint().name
    except LookupError:
        return None


@dataclass
class CheckpointRow:
    dropdown: gr.Dropdown  # tabs pass its value with each request
    message: gr.HTML
    refresh: Callable  # -> (dropdown update, message html)
    clip_skip: gr.Slider  # a quick setting, as A1111 users add it: CLIP_stop_at_last_layers


def build_checkpoint_row(engine: Engine) -> CheckpointRow:
    with gr.Row(elem_id="quicksettings"):
        dropdown = gr.Dropdown(
            label="Stable Diffusion checkpoint",
            choices=checkpoint_choices(engine),
            value=current_name(engine),
            elem_id="setting_sd_model_checkpoint",
            scale=4,
        )
        refresh = gr.Button("↻", elem_id="refresh_sd_model_checkpoint", scale=0, min_width=48)
        clip_skip = slider_for(
            Txt2ImgRequest, "clip_skip", value=engine.settings.get("CLIP_stop_at_last_layers"), label="Clip skip",
            elem_id="quicksettings_clip_skip", scale=1, min_width=160,
        )  # fmt: skip
        message = gr.HTML(elem_id="checkpoint_message")

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
        return dropdown_update, message_html("")

    # .input, not .change: only a user's pick loads a model, not a refreshed list.
    dropdown.input(switch, inputs=dropdown, outputs=message, concurrency_limit=None)
    refresh.click(refresh_choices, outputs=[dropdown, message])

    # .change: a pasted infotext sets it too, and that must reach the setting.
    def save_clip_skip(value) -> None:
        engine.settings.update({"CLIP_stop_at_last_layers": int(value)})

    clip_skip.change(
        save_clip_skip,
        inputs=clip_skip,
        queue=False,
        show_progress="hidden",
    )
    return CheckpointRow(dropdown=dropdown, message=message, refresh=refresh_choices, clip_skip=clip_skip)


def _no_checkpoint_text(engine: Engine) -> str:
    try:
        engine.models.default_checkpoint()
    except LookupError as error:
        return str(error)
    return ""
