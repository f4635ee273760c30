"""The control that edits one declared setting, for the Settings tab and the quicksettings row."""

from collections.abc import Callable

import gradio as gr

from modules.config.settings import SettingSpec


def range_text(spec: SettingSpec) -> str:
    if spec.minimum is None and spec.maximum is None:
        return ""
    low = "" if spec.minimum is None else f"{spec.minimum:g}"
    high = "" if spec.maximum is None else f"{spec.maximum:g}"
    return f"from {low} to {high}" if low and high else (f"at least {low}" if low else f"at most {high}")


def runtime_choices(engine) -> dict[str, Callable[[], list[str]]]:
    """{setting key: its current choices} for dropdowns whose choices are files found at run time
    (a SettingSpec's own choices are fixed): the Settings tab and quicksettings offer these, with a
    refresh button."""
    return {"sd_vae": lambda: engine.vaes.choices()}


def _with_value(choices: list[str], value) -> list[str]:
    # A saved value whose file is gone stays selectable: the job says why it is refused.
    return choices if value in choices or value is None else [*choices, value]


def refresh_choices_button(control, choices: Callable[[], list[str]], elem_id: str):
    """A "↻" beside a runtime-choices dropdown: lists the files again."""
    button = gr.Button("↻", elem_id=elem_id, scale=0, min_width=40, size="sm")
    button.click(lambda value: gr.update(choices=_with_value(choices(), value)), inputs=control, outputs=control,
                 queue=False, show_progress="hidden")  # fmt: skip
    return button


def setting_control(spec: SettingSpec, value, elem_id: str, *, slider: bool = False,
                    choices: list[str] | None = None, **layout):  # fmt: skip
    """A control for `spec`. Numbers are plain number boxes with no client-side limits, so the
    server's check (SettingSpec.coerce) gives the reason for an out-of-range value rather than
    Gradio's bare "Error" or a silent clamp; `slider=True` keeps a slider (the quicksettings row,
    where each change is saved at once and a slider cannot leave its range). `choices`: a dropdown's
    choices found at run time (runtime_choices), instead of the spec's fixed ones."""
    if spec.kind == "checkbox":
        return gr.Checkbox(label=spec.label, value=bool(value), elem_id=elem_id, **layout)
    if spec.kind == "slider" and slider:
        return gr.Slider(spec.minimum or 0, spec.maximum or 1, value=value, step=spec.step, label=spec.label,
                         elem_id=elem_id, **layout)  # fmt: skip
    if spec.kind in ("number", "slider"):
        return gr.Number(label=spec.label, value=value, step=spec.step or 1, info=range_text(spec) or None,
                         elem_id=elem_id, **layout)  # fmt: skip
    if spec.kind == "dropdown":
        listed = list(spec.choices) if choices is None else _with_value(list(choices), value)
        return gr.Dropdown(label=spec.label, choices=listed, value=value, elem_id=elem_id, **layout)
    return gr.Textbox(label=spec.label, value=value, elem_id=elem_id, **layout)
