"""The "Soft Inpainting" always-on script: A1111 v1.10's built-in extension on the public hooks.

`process` keeps the latent mask soft (`p.mask_round = False`), `mask_blend` replaces the
per-step blend (blending.py) and `mask_overlay` the final composite (composite.py). The engine
calls these stage methods only in jobs where the script is enabled (`p.script_args` holds its
args), and the two mask stages only when the job has a mask.
"""

from pydantic import BaseModel, Field

from modules.plugins import Script

TITLE = "Soft Inpainting"

# A1111's infotext keys, so its pictures paste here and ours paste there.
INFOTEXT_FIELDS = {
    "enabled": "Soft inpainting enabled",
    "mask_blend_power": "Soft inpainting schedule bias",
    "mask_blend_scale": "Soft inpainting preservation strength",
    "inpaint_detail_preservation": "Soft inpainting transition contrast boost",
    "composite_mask_influence": "Soft inpainting mask influence",
    "composite_difference_threshold": "Soft inpainting difference threshold",
    "composite_difference_contrast": "Soft inpainting difference contrast",
}


class SoftInpaintingArgs(BaseModel):
    """A1111's six parameters (its argument names and order, so positional API args line up)."""

    enabled: bool = False
    # Schedule bias: above 1 the original is preserved more in the early (noisy) steps.
    mask_blend_power: float = Field(1.0, ge=0.0, le=8.0)
    # Preservation strength: how much partially masked pixels keep the original.
    mask_blend_scale: float = Field(0.5, ge=0.0, le=8.0)
    # Transition contrast boost: the power mean of the two latents' lengths (1 = linear).
    inpaint_detail_preservation: float = Field(4.0, ge=1.0, le=32.0)
    # Final composite: how much the mask biases the difference threshold (0 = not at all).
    composite_mask_influence: float = Field(0.0, ge=0.0, le=1.0)
    # The difference at which the original keeps 50 % of a pixel.
    composite_difference_threshold: float = Field(0.5, ge=0.0, le=8.0)
    # How sharp the change from kept to generated is.
    composite_difference_contrast: float = Field(2.0, ge=0.0, le=8.0)


def has_mask(p) -> bool:
    return getattr(p.request, "mask", None) is not None


def latent_cell(p) -> int:
    """Pixels per latent cell of the loaded model's VAE (8 for SD)."""
    try:
        return 2 ** (len(p.models.vae.config.block_out_channels) - 1)
    except (AttributeError, TypeError):
        return 8


class SoftInpainting(Script):
    title = TITLE
    alwayson = True
    modes = ("img2img",)
    Args = SoftInpaintingArgs
    infotext_fields = INFOTEXT_FIELDS

    def ui(self):
        from .ui import build_controls

        return build_controls()

    def process(self, p, args):
        if has_mask(p):
            p.mask_round = False  # the blurred edge reaches the latent mask as it is
            return
        # Plain img2img: nothing to soften, so the job records no soft inpainting (as A1111).
        for key in INFOTEXT_FIELDS.values():
            p.extra_generation_params.pop(key, None)

    def mask_blend(self, p, args, params):
        if params.is_final:
            # As A1111: the sampled latent is kept whole; the adaptive overlay decides per pixel.
            return params.denoised
        from .blending import latent_blend, modified_nmask

        weight = modified_nmask(params.nmask, params.sigma, args.mask_blend_power, args.mask_blend_scale)
        return latent_blend(params.init_latent, params.denoised, weight, args.inpaint_detail_preservation)

    def mask_overlay(self, p, args, params):
        if not (params.image.size == params.original.size == params.mask.size):
            return None  # not what the contract hands over: leave it to the default composite
        from .composite import blend_pictures, generated_share

        share = generated_share(
            params.image,
            params.original,
            params.mask,
            mask_influence=args.composite_mask_influence,
            difference_threshold=args.composite_difference_threshold,
            difference_contrast=args.composite_difference_contrast,
            mask_blend_scale=args.mask_blend_scale,
            cell=latent_cell(p),
        )
        return blend_pictures(params.image, params.original, share)
