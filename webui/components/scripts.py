"""Scripts in a generation tab: always-on scripts' controls, and the Script menu with the
chosen script's controls. Values are handed back by NAME: {arg name: value} per script."""

from dataclasses import dataclass, field

import gradio as gr

from modules.engine import Engine

NONE = "None"


@dataclass
class ScriptControls:
    dropdown: gr.Dropdown
    by_slot: dict = field(default_factory=dict)  # (script title, arg name) -> its component
    alwayson_titles: set[str] = field(default_factory=set)

    @property
    def components(self) -> list:
        return list(self.by_slot.values())

    def collect(self, by_component: dict) -> tuple[str | None, dict, dict]:
        """(script_name, its args, {always-on title: args}) from an event's {component: value},
        which holds the Script menu's choice and every script control."""
        by_script: dict[str, dict] = {}
        for (title, name), component in self.by_slot.items():
            by_script.setdefault(title, {})[name] = by_component[component]
        choice = by_component[self.dropdown]
        chosen = None if choice in (None, "", NONE) else choice
        alwayson = {title: args for title, args in by_script.items() if title in self.alwayson_titles}
        return chosen, by_script.get(chosen, {}) if chosen else {}, alwayson


def build_script_controls(engine: Engine, tab: str) -> ScriptControls:
    # Only the scripts that run in this tab's mode (Script.modes), as A1111's show(is_img2img).
    in_tab = engine.plugins.scripts_for(tab)
    alwayson_scripts = [s for s in in_tab if s.alwayson]
    selectable_scripts = [s for s in in_tab if not s.alwayson]
    controls = ScriptControls(dropdown=None)  # set below, after the always-on scripts
    for script in alwayson_scripts:
        with gr.Accordion(script.title, open=False, elem_id=f"{tab}_script_{_slug(script.title)}"):
            _add_script_ui(engine, script, controls)
        controls.alwayson_titles.add(script.title)
    titles = [s.title for s in selectable_scripts]
    controls.dropdown = gr.Dropdown(
        label="Script", choices=[NONE, *titles], value=NONE, elem_id=f"{tab}_script", visible=bool(titles)
    )
    groups = []
    for script in selectable_scripts:
        with gr.Column(visible=False, elem_id=f"{tab}_script_group_{_slug(script.title)}") as group:
            _add_script_ui(engine, script, controls)
        groups.append(group)
    if groups:

        def show_chosen(choice):
            updates = [gr.update(visible=(choice == title)) for title in titles]
            return updates[0] if len(updates) == 1 else updates  # Gradio takes one output's value bare

        controls.dropdown.change(
            show_chosen,
            inputs=controls.dropdown,
            outputs=groups,
            queue=False,
        )
    return controls


def _add_script_ui(engine: Engine, script, controls: ScriptControls) -> None:
    script.engine = engine  # built-ins that list engine things in their controls (SD upscale's upscalers)
    try:
        built = script.ui() or {}
    except Exception as error:  # noqa: BLE001 - a broken script UI must not take the tab down
        owner = engine.plugins.script_owner.get(script.title, script.title)
        engine.extensions.report_error(owner, f"{script.title}.ui: {type(error).__name__}: {error}")
        gr.HTML(f'<div class="message error">{script.title}: its controls failed to build ({error})</div>')
        return
    for name, component in built.items():
        if name not in script.Args.model_fields:
            continue  # a display-only control: not an argument
        controls.by_slot[(script.title, name)] = component


def _slug(title: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in title.lower())
