"""The Settings tab: every declared option (core and extensions), grouped by section."""

import time
from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from modules.config.settings import SettingSpec
from modules.engine import Engine
from webui.components.progress import message_html


def _component(spec: SettingSpec, value):
    elem_id = f"setting_{spec.key}"
    if spec.kind == "checkbox":
        return gr.Checkbox(label=spec.label, value=bool(value), elem_id=elem_id)
    if spec.kind == "slider":
        return gr.Slider(spec.minimum or 0, spec.maximum or 1, value=value, step=spec.step, label=spec.label,
                         elem_id=elem_id)  # fmt: skip
    if spec.kind == "number":
        return gr.Number(label=spec.label, value=value, minimum=spec.minimum, maximum=spec.maximum, elem_id=elem_id)
    if spec.kind == "dropdown":
        return gr.Dropdown(label=spec.label, choices=list(spec.choices), value=value, elem_id=elem_id)
    return gr.Textbox(label=spec.label, value=value, elem_id=elem_id)


@dataclass
class SettingsTab:
    components: list
    by_key: dict
    current_values: Callable  # -> the values now, in the order of `components`


def build_settings_tab(engine: Engine) -> SettingsTab:
    settings = engine.settings
    specs = settings.specs
    sections: dict[str, list[SettingSpec]] = {}
    for spec in specs:
        sections.setdefault(spec.section, []).append(spec)
    with gr.Row():
        apply = gr.Button("Apply settings", variant="primary", elem_id="settings_submit", scale=0, min_width=160)
        message = gr.HTML(elem_id="settings_result")
    keys, components = [], []
    for section, members in sections.items():
        with gr.Accordion(section, open=True):
            for spec in members:
                keys.append(spec.key)
                components.append(_component(spec, settings.get(spec.key)))

    def save(values: dict):
        """`values`: {component: value} for every setting's control (Gradio's set-of-inputs form)."""
        current = settings.values()
        chosen = {key: values[component] for key, component in zip(keys, components, strict=True)}
        changes = {key: value for key, value in chosen.items() if current.get(key) != value}
        try:
            changed = settings.update(changes)
        except ValueError as error:
            return message_html(f"Nothing saved: {error}", "error")
        if not changed:
            return message_html("No changes", "info")
        return message_html(f"{len(changed)} setting(s) saved: {', '.join(changed)}", "info")

    apply.click(save, inputs=set(components), outputs=message, queue=False)

    def current_values():
        # The last output is the page's "settings read" marker (see webui/app.py).
        marker = f"<span hidden>settings read at {time.strftime('%H:%M:%S')}</span>"
        return [*(settings.get(key) for key in keys), marker]

    return SettingsTab(components=components, by_key=dict(zip(keys, components, strict=True)),
                       current_values=current_values)  # fmt: skip
