"""The quicksettings row at the top of the page, as A1111's: the settings `quicksettings_list` names
(default: the checkpoint and Clip skip), each with the control the Settings tab uses, saved as
soon as it changes. The list is read when the page is built (a restart applies a new one)."""

from dataclasses import dataclass, field

import gradio as gr

from modules.config.setting_sections import quicksettings_keys
from modules.config.settings import SettingsSaveError
from modules.engine import Engine
from webui.components.checkpoint import build_checkpoint_picker
from webui.components.progress import message_html
from webui.components.setting_control import refresh_choices_button, runtime_choices, setting_control

CHECKPOINT_KEY = "sd_model_checkpoint"
# Elem ids kept from before the row was configurable (scripts and tests find them by these).
ELEM_IDS = {"CLIP_stop_at_last_layers": "quicksettings_clip_skip"}


def quick_elem_id(key: str) -> str:
    return ELEM_IDS.get(key, f"quicksettings_{key}")


@dataclass
class Quicksettings:
    dropdown: gr.Dropdown  # the checkpoint: tabs pass its value with each request
    message: gr.HTML
    refresh: object  # -> (dropdown update, message html)
    controls: dict = field(default_factory=dict)  # setting key -> its control in the row
    unknown: list = field(default_factory=list)  # keys in quicksettings_list that no setting declares

    @property
    def clip_skip(self):
        return self.controls.get("CLIP_stop_at_last_layers")

    def notes(self) -> list[str]:
        if not self.unknown:
            return []
        return [f"quicksettings_list: unknown setting(s) ignored: {', '.join(self.unknown)}"]

    def current_values(self, engine: Engine) -> list:
        return [engine.settings.get(key) for key in self.controls]

    def mirror_into(self, fields: dict) -> None:
        """A quick setting changed -> its Settings-tab field shows the same value."""
        for key, control in self.controls.items():
            if key in fields:
                control.change(lambda value: value, inputs=control, outputs=fields[key], queue=False,
                               show_progress="hidden")  # fmt: skip


def build_quicksettings(engine: Engine) -> Quicksettings:
    settings = engine.settings
    keys, unknown = quicksettings_keys(settings.get("quicksettings_list"), (spec.key for spec in settings.specs))
    controls = {}
    dynamic = runtime_choices(engine)
    with gr.Row(elem_id="quicksettings"):
        message = gr.HTML(elem_id="checkpoint_message", render=False)
        picker = None
        for key in keys:
            if key == CHECKPOINT_KEY:
                picker = build_checkpoint_picker(engine, message)
                continue
            choices = dynamic[key]() if key in dynamic else None  # e.g. "SD VAE": the files listed now
            controls[key] = setting_control(settings.spec(key), settings.get(key), quick_elem_id(key), slider=True,
                                            choices=choices, scale=1, min_width=160)  # fmt: skip
            if key in dynamic:
                refresh_choices_button(controls[key], dynamic[key], f"refresh_{quick_elem_id(key)}")
        if picker is None:  # not listed: hidden, the tabs still read the checkpoint from it
            picker = build_checkpoint_picker(engine, message, visible=False)
        message.render()
    for key, control in controls.items():
        _save_on_change(engine, key, control, message)
    return Quicksettings(picker.dropdown, message, picker.refresh, controls, unknown)


def _save_on_change(engine: Engine, key: str, control, message: gr.HTML) -> None:
    # .change: any change (typed, or a value the Settings tab saved) is the setting's value.
    def save(value):
        try:
            engine.settings.update({key: value})
        except (ValueError, SettingsSaveError) as error:
            return message_html(f"Not saved: {error}", "error")
        return gr.skip()

    control.change(save, inputs=control, outputs=message, queue=False, show_progress="hidden")
