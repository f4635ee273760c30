"""The control that edits one declared setting, for the Settings tab and the quicksettings row."""

import gradio as gr

from modules.config.settings import SettingSpec


def range_text(spec: SettingSpec) -> str:
    if spec.minimum is None and spec.maximum is None:
        return ""
    low = "" if spec.minimum is None else f"{spec.minimum:g}"
    high = "" if spec.maximum is None else f"{spec.maximum:g}"
    return f"from {low} to {high}" if low and high else (f"at least {low}" if low else f"at most {high}")


def setting_control(spec: SettingSpec, value, elem_id: str, *, slider: bool = False, **layout):
    """A control for `spec`. Numbers are plain number boxes with no client-side limits, so the
    server's check (SettingSpec.coerce) gives the reason for an out-of-range value rather than
    Gradio's bare "Error" or a silent clamp; `slider=True` keeps a slider (the quicksettings row,
    where each change is saved at once and a slider cannot leave its range)."""
    if spec.kind == "checkbox":
        return gr.Checkbox(label=spec.label, value=bool(value), elem_id=elem_id, **layout)
    if spec.kind == "slider" and slider:
        return gr.Slider(spec.minimum or 0, spec.maximum or 1, value=value, step=spec.step, label=spec.label,
                         elem_id=elem_id, **layout)  # fmt: skip
    if spec.kind in ("number", "slider"):
        return gr.Number(label=spec.label, value=value, step=spec.step or 1, info=range_text(spec) or None,
                         elem_id=elem_id, **layout)  # fmt: skip
    if spec.kind == "dropdown":
        return gr.Dropdown(label=spec.label, choices=list(spec.choices), value=value, elem_id=elem_id, **layout)
    return gr.Textbox(label=spec.label, value=value, elem_id=elem_id, **layout)
