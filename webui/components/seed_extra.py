"""The seed row's "Extra" controls: variation seed and strength, resize seed from size."""

import gradio as gr

from modules.processing.request import SIZE_MULTIPLE, SeedKnobs
from webui.components.field_group import FieldGroup, field_defaults, number_for, slider_for
from webui.components.icon_button import icon_button

DEFAULTS = field_defaults(SeedKnobs)


class SeedExtra(FieldGroup):
    def request_fields(self, by_component: dict) -> dict:
        """The request's variation fields from an event's {component: value}."""
        chosen = self.values(by_component)
        return {
            "subseed": int(chosen["subseed"]),
            "subseed_strength": float(chosen["subseed_strength"]),
            "seed_resize_from_w": int(chosen["seed_resize_from_w"]),
            "seed_resize_from_h": int(chosen["seed_resize_from_h"]),
        }


def build_seed_extra(tab: str) -> SeedExtra:
    with gr.Accordion("Extra (variation seed)", open=False, elem_id=f"{tab}_seed_extras"):
        with gr.Row():
            subseed = number_for(SeedKnobs, "subseed", label="Variation seed", elem_id=f"{tab}_subseed", scale=3)
            random = icon_button("🎲", f"{tab}_random_subseed")
            strength = slider_for(SeedKnobs, "subseed_strength", step=0.01, label="Variation strength",
                                  elem_id=f"{tab}_subseed_strength", scale=3)  # fmt: skip
        with gr.Row():
            # From 0 ("off"), not the model's -1 (A1111 clients' "off"): a slider stepping by 8
            # from -1 would offer only sizes that are not multiples of 8.
            resize_w = slider_for(
                SeedKnobs, "seed_resize_from_w", minimum=0, step=SIZE_MULTIPLE,
                label="Resize seed from width (0: off)", elem_id=f"{tab}_seed_resize_from_w",
            )  # fmt: skip
            resize_h = slider_for(
                SeedKnobs, "seed_resize_from_h", minimum=0, step=SIZE_MULTIPLE,
                label="Resize seed from height (0: off)", elem_id=f"{tab}_seed_resize_from_h",
            )  # fmt: skip
    random.click(lambda: -1, outputs=subseed, queue=False)
    return SeedExtra(
        {
            "subseed": subseed,
            "subseed_strength": strength,
            "seed_resize_from_w": resize_w,
            "seed_resize_from_h": resize_h,
        },
        DEFAULTS,
    )
