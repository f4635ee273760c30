"""The script's controls (web UI only): A1111's labels, ranges, steps and hints. The engine puts
them in a "Soft Inpainting" accordion on the img2img tab; the returned names are Args fields."""

import gradio as gr

from .script import SoftInpaintingArgs

# name: (label, hint, step)
SLIDERS = {
    "mask_blend_power": ("Schedule bias", "Shifts when preservation of original content occurs during denoising.", 0.1),
    "mask_blend_scale": ("Preservation strength", "How strongly partially masked content should be preserved.", 0.05),
    "inpaint_detail_preservation": (
        "Transition contrast boost",
        "Amplifies the contrast that may be lost in partially masked regions.",
        0.5,
    ),
    "composite_mask_influence": (
        "Mask influence",
        "How strongly the original mask should bias the difference threshold.",
        0.05,
    ),
    "composite_difference_threshold": (
        "Difference threshold",
        "How much an image region can change before the original pixels are not blended in anymore.",
        0.25,
    ),
    "composite_difference_contrast": (
        "Difference contrast",
        "How sharp the transition should be between blended and not blended.",
        0.25,
    ),
}
COMPOSITE_FIRST = "composite_mask_influence"


def build_controls() -> dict:
    fields = SoftInpaintingArgs.model_fields
    controls = {
        "enabled": gr.Checkbox(label="Soft inpainting", value=False, elem_id="soft_inpainting_enabled"),
    }
    gr.Markdown("Blends original and inpainted content by the mask's opacity. High *Mask blur* values are recommended.")
    for name, (label, hint, step) in SLIDERS.items():
        if name == COMPOSITE_FIRST:
            gr.Markdown("**Pixel composite**: where the picture changed little, the original pixels are kept.")
        bounds = {type(m).__name__: m for m in fields[name].metadata}
        controls[name] = gr.Slider(
            minimum=bounds["Ge"].ge,
            maximum=bounds["Le"].le,
            step=step,
            value=fields[name].default,
            label=label,
            info=hint,
            elem_id=f"soft_inpainting_{name}",
        )
    return controls
