"""The seed row's "Extra" controls: variation seed and strength, resize seed from size."""

import gradio as gr

from modules.processing.request import MAX_SIZE, SeedKnobs
from webui.components.field_group import FieldGroup, field_defaults

DEFAULTS = field_defaults(SeedKnobs)


class SeedExtra(FieldGroup):
    def request_fields(self, values) -> dict:
        chosen = self.values(values)
        return {
            "subseed": int(chosen["subseed"]),
            "subseed_strength": float(chosen["subseed_strength"]),
            "seed_resize_from_w": int(chosen["seed_resize_from_w"]),
            "seed_resize_from_h": int(chosen["seed_resize_from_h"]),
        }


def build_seed_extra(tab: str) -> SeedExtra:
    with gr.Accordion("Extra (variation seed)", open=False, elem_id=f"{tab}_seed_extras"):
        with gr.Row():
            subseed = gr.Number(
                label="Variation seed", value=DEFAULTS["subseed"], precision=0, elem_id=f"{tab}_subseed", scale=3
            )
            random = gr.Button("Random", elem_id=f"{tab}_random_subseed", scale=0, min_width=72, size="sm")
            strength = gr.Slider(0.0, 1.0, value=DEFAULTS["subseed_strength"], step=0.01, label="Variation strength",
                                 elem_id=f"{tab}_subseed_strength", scale=3)  # fmt: skip
        with gr.Row():
            resize_w = gr.Slider(
                0, MAX_SIZE, value=DEFAULTS["seed_resize_from_w"], step=8,
                label="Resize seed from width (0: off)", elem_id=f"{tab}_seed_resize_from_w",
            )  # fmt: skip
            resize_h = gr.Slider(
                0, MAX_SIZE, value=DEFAULTS["seed_resize_from_h"], step=8,
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
