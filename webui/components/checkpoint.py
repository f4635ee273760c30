"""The checkpoint dropdown at the top of the page, with a refresh button."""

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from modules.engine import Engine
from webui.components.progress import message_html


def checkpoint_titles(engine: Engine) -> list[str]:
    return [engine.models.title(info) for info in engine.models.checkpoints()]


def current_title(engine: Engine) -> str | None:
    loaded = engine.models.loaded
    if loaded is not None:
        return engine.models.title(loaded.info)
    try:
        return engine.models.title(engine.models.default_checkpoint())
    except LookupError:
        return None


@dataclass
class CheckpointRow:
    dropdown: gr.Dropdown  # tabs pass its value with each request
    message: gr.HTML
    refresh: Callable  # -> (dropdown update, message html)


def build_checkpoint_row(engine: Engine) -> CheckpointRow:
    with gr.Row(elem_id="quicksettings"):
        dropdown = gr.Dropdown(
            label="Stable Diffusion checkpoint",
            choices=checkpoint_titles(engine),
            value=current_title(engine),
            elem_id="setting_sd_model_checkpoint",
            scale=4,
        )
        refresh = gr.Button("↻", elem_id="refresh_sd_model_checkpoint", scale=0, min_width=48)
        message = gr.HTML(elem_id="checkpoint_message")

    def switch(title):
        if not title:
            return message_html("")
        try:
            engine.submit_model_switch(title).outcome()
        except (LookupError, RuntimeError, ValueError) as error:
            return message_html(str(error), "error")
        return message_html(f"Loaded {title}")

    def refresh_choices():
        titles = checkpoint_titles(engine)
        return gr.Dropdown(choices=titles, value=current_title(engine)), message_html(
            f"{len(titles)} checkpoint(s) found" if titles else _no_checkpoint_text(engine),
            "info" if titles else "error",
        )

    # .input, not .change: only a user's pick loads a model, not a refreshed list.
    dropdown.input(switch, inputs=dropdown, outputs=message, concurrency_limit=None)
    refresh.click(refresh_choices, outputs=[dropdown, message])
    return CheckpointRow(dropdown=dropdown, message=message, refresh=refresh_choices)


def _no_checkpoint_text(engine: Engine) -> str:
    try:
        engine.models.default_checkpoint()
    except LookupError as error:
        return str(error)
    return ""
