"""The Refiner controls of the generation tabs, named as A1111 names them: a second checkpoint that
takes over the sampling at "Switch at" (a fraction of the steps). Unticked, the request has no
refiner. Also the one-choice checkpoint dropdowns they and the Hires. fix share: labels as the top
dropdown shows them, values the listed file names."""

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from modules.processing.request import RefinerKnobs
from webui.components.field_group import FieldGroup, field_defaults, slider_for
from webui.components.icon_button import icon_button

ENABLE = "enable_refiner"  # the accordion's checkbox: not a request field, it decides whether the name is sent
DEFAULTS = {ENABLE: False, **field_defaults(RefinerKnobs)}


def listed_name(engine, wanted) -> str | None:
    """The listed checkpoint's file name that `wanted` (a name, a title "x.safetensors [hash]" or a
    hash) names; None when nothing listed matches, so a pasted name never selects a stranger."""
    if not wanted or not str(wanted).strip():
        return None
    try:
        return engine.models.resolve(str(wanted)).name
    except LookupError:
        return None


def checkpoint_dropdown(engine, extra: tuple = (), **kwargs) -> tuple[gr.Dropdown, gr.Button]:
    """A dropdown over the listed checkpoints (with `extra` (label, value) choices first) and its
    refresh button, in the current row; the refresh keeps the choice while it is still listed."""
    from webui.components.checkpoint import checkpoint_choices

    dropdown = gr.Dropdown(choices=[*extra, *checkpoint_choices(engine)], **kwargs)
    refresh = icon_button("🔄", f"{kwargs['elem_id']}_refresh")

    def refreshed(current):
        choices = [*extra, *checkpoint_choices(engine)]
        values = {value for _, value in choices}
        return gr.Dropdown(choices=choices, value=current if current in values else kwargs.get("value"))

    refresh.click(refreshed, inputs=dropdown, outputs=dropdown, queue=False, show_progress="hidden")
    return dropdown, refresh


@dataclass
class RefinerControls(FieldGroup):
    resolve: Callable[[str], str | None] = lambda wanted: None  # a pasted name -> the listed name, or None

    def request_fields(self, by_component: dict) -> dict:
        """The request's refiner fields from an event's {component: value}: no checkpoint unless
        ticked and one is chosen."""
        chosen = self.values(by_component)
        enabled = bool(chosen.pop(ENABLE))
        chosen["refiner_checkpoint"] = (chosen["refiner_checkpoint"] or None) if enabled else None
        chosen["refiner_switch_at"] = float(chosen["refiner_switch_at"])
        return chosen

    def pasted_values(self, fields: dict) -> dict:
        """{component: value} from pasted request fields: a refiner the infotext names ticks the
        box and selects the listed checkpoint; one not listed leaves box and choice as they are;
        an infotext without a refiner unticks it."""
        updates = {
            self.fields["refiner_switch_at"]: fields.get("refiner_switch_at", self.defaults["refiner_switch_at"])
        }
        wanted = fields.get("refiner_checkpoint")
        if not wanted:
            updates[self.fields[ENABLE]] = False
            return updates
        name = self.resolve(wanted)
        if name is not None:
            updates.update({self.fields[ENABLE]: True, self.fields["refiner_checkpoint"]: name})
        return updates


def build_refiner_controls(engine, tab: str) -> RefinerControls:
    d = DEFAULTS
    with gr.Accordion("Refiner", open=False, elem_id=f"{tab}_refiner"):
        enable = gr.Checkbox(label="Enable refiner", value=d[ENABLE], elem_id=f"{tab}_enable_refiner")
        with gr.Row():
            checkpoint, _ = checkpoint_dropdown(engine, label="Checkpoint", value=d["refiner_checkpoint"],
                                                elem_id=f"{tab}_refiner_checkpoint", scale=4)  # fmt: skip
            switch_at = slider_for(RefinerKnobs, "refiner_switch_at", step=0.01, label="Switch at",
                                   elem_id=f"{tab}_refiner_switch_at", scale=4)  # fmt: skip
    return RefinerControls(
        {ENABLE: enable, "refiner_checkpoint": checkpoint, "refiner_switch_at": switch_at},
        DEFAULTS,
        resolve=lambda wanted: listed_name(engine, wanted),
    )
