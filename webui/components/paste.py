"""Reading parameters back: "Read parameters" on an infotext pasted into the prompt box (and a
PNG dropped onto it) fills a generation tab's fields; settings the infotext recorded become the
tab's "Override settings" entries, applied to the next generations only."""

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from modules.engine import Engine
from modules.images.infotext import INFOTEXT_SETTINGS, LOOKED_UP_SETTINGS
from modules.sampling import catalog
from webui.components.progress import message_html
from webui.components.prompt_box import style_names

# Request fields a pasted infotext puts straight into their controls (others need a check or a default).
PASTED_FIELDS = ("prompt", "negative_prompt", "steps", "width", "height", "cfg_scale", "seed")
CLIP_SKIP = "CLIP_stop_at_last_layers"
# Infotext key -> the setting a pasted value overrides for the next generations. "Clip skip" is a
# request field in the infotext, but pasted it is an override as in A1111, shown in the same box.
# "VAE: x" becomes "SD VAE" set to the listed file x names (one not listed is left out).
PASTED_SETTINGS = {**INFOTEXT_SETTINGS, **LOOKED_UP_SETTINGS, "Clip skip": CLIP_SKIP}


@dataclass(frozen=True)
class ParametersPaste:
    """A tab's "Read parameters" logic, for other tabs' send-to buttons: `apply(infotext)` ->
    {component: update} for every field the infotext names; `outputs`: every component it may update."""

    apply: Callable[[str], dict]
    outputs: list


def build_override_box(tab: str) -> gr.Dropdown:
    # Settings a pasted infotext recorded that differ from the current ones ("ENSD: 31337"):
    # applied to the next generations only, as A1111's "Override settings"; remove one to drop it.
    return gr.Dropdown(label="Override settings", choices=[], value=[], multiselect=True, visible=False,
                       elem_id=f"{tab}_override_settings")  # fmt: skip


def build_paste(tab, extra_outputs: list, extra_updates: Callable[[dict], dict]) -> ParametersPaste:
    """Wire "Read parameters" (and a PNG dropped on the prompt): the common fields, plus what
    `extra_updates(fields)` sets among `extra_outputs` (the tab's own controls)."""
    engine, box = tab.engine, tab.top.box
    pasted_fields = {name: tab.form.fields[name] for name in PASTED_FIELDS}
    message = tab.message
    pasted = [message, tab.override_box, tab.sampler, tab.schedule, box.styles, *pasted_fields.values(),
              *tab.seed_extra.components, *tab.scripts.components, *extra_outputs]  # fmt: skip

    def paste_parameters(text):
        """Infotext pasted into the prompt box -> every field it names, scripts' args included."""
        try:
            fields = engine.fields_from_infotext(text or "")
        except ValueError as error:  # e.g. longer than the parser's limit
            return {message: message_html(str(error), "error")}
        if not any(key in fields for key in ("steps", "seed", "sampler_name")):
            return {message: message_html("The prompt holds no generation parameters to read", "error")}
        updates = {message: message_html("Parameters read from the pasted text", "info")}
        updates.update({component: fields[name] for name, component in pasted_fields.items() if name in fields})
        updates.update(extra_updates(fields))
        updates.update(tab.seed_extra.pasted_values(fields))
        if "styles" in fields:
            updates[box.styles] = gr.update(choices=style_names(engine), value=fields["styles"])
        # Clip skip too is the request's override, never the global setting (the quick setting stays);
        # a text without it was made with 1, as A1111 reads it.
        overrides = {**fields.get("override_settings", {}), CLIP_SKIP: fields.get("clip_skip", 1)}
        entries = override_entries_for(engine, overrides)
        updates[tab.override_box] = gr.update(choices=entries, value=entries, visible=bool(entries))
        if "sampler_name" in fields:
            try:
                spec, schedule_type = catalog.resolve(fields["sampler_name"], fields.get("scheduler"))
                updates.update({tab.sampler: spec.name, tab.schedule: schedule_type})
            except ValueError as error:
                updates[message] = message_html(f"Read the rest; sampler not set: {error}", "error")
        alwayson = fields.get("alwayson_scripts", {})
        for (title, name), component in tab.scripts.by_slot.items():
            if name in alwayson.get(title, {}):
                updates[component] = alwayson[title][name]
        return updates

    tab.top.paste.click(paste_parameters, inputs=tab.prompt, outputs=pasted, queue=False)
    paste = ParametersPaste(paste_parameters, pasted)
    from webui.components.png_drop import wire_png_drop

    wire_png_drop(engine, tab.top.png_drop, paste, message)
    return paste


def override_entries_for(engine: Engine, overrides: dict) -> list[str]:
    """Pasted settings as "Infotext key: value" entries, those equal to the current settings left out."""
    labels = {setting: key for key, setting in PASTED_SETTINGS.items()}
    return [f"{labels[k]}: {v}" for k, v in overrides.items() if k in labels and engine.settings.get(k) != v]


def overrides_from_entries(engine: Engine, entries) -> dict:
    """The entries kept in the Override settings box -> the request's override_settings."""
    raw = {}
    for entry in entries or []:
        key, _, value = str(entry).partition(": ")
        if key in PASTED_SETTINGS:
            raw[PASTED_SETTINGS[key]] = value
    return engine.readable_overrides(raw)
