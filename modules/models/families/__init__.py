"""Model families: one module each (sd1, sd2, sdxl, sdxl_refiner, sd1_inpaint, sdxl_inpaint, ip2p).

`detect(layout)` names the family of a checkpoint from its tensor names, a few shapes and its
metadata; `get(name)` looks one up. The rest of the engine asks the family it gets back.
"""

from modules.models.families import ip2p, sd1, sd1_inpaint, sd2, sdxl, sdxl_inpaint, sdxl_refiner
from modules.models.families.base import SHAPE_KEYS, Family, Layout, TextEncoderSpec

# The more specific first: an inpainting UNet is an SD 1.x checkpoint with more input channels.
_DETECTION_ORDER = (
    sdxl_refiner.FAMILY,
    sdxl.FAMILY,
    sdxl_inpaint.FAMILY,
    sd2.FAMILY,
    sd1.FAMILY,
    sd1_inpaint.FAMILY,
    ip2p.FAMILY,
)
FAMILIES = {family.name: family for family in _DETECTION_ORDER}

__all__ = ["FAMILIES", "SHAPE_KEYS", "Family", "Layout", "TextEncoderSpec", "UnknownFamilyError", "detect", "get"]


class UnknownFamilyError(ValueError):
    """No family recognises the checkpoint; the message says what was found."""


def get(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise UnknownFamilyError(f"unknown model family {name!r} (known: {', '.join(FAMILIES)})") from None


def detect(layout: Layout) -> Family:
    declared = layout.metadata.get("family")
    if declared:
        return get(declared)
    for family in _DETECTION_ORDER:
        if family.recognizes(layout):
            return family
    raise UnknownFamilyError(_describe_unknown(layout))


def _describe_unknown(layout: Layout) -> str:
    channels = layout.unet_in_channels
    if channels is None:
        return "no Stable Diffusion UNet weights found (model.diffusion_model.input_blocks.0.0.weight)"
    if layout.has_prefix("cond_stage_model.model.") and channels != 4:
        return f"an SD 2.x model with a {channels}-channel UNet (SD 2.x inpainting / depth models are not supported)"
    if not (layout.has_prefix("cond_stage_model.") or layout.has_prefix("conditioner.")):
        return "no text encoder weights found (cond_stage_model.* or conditioner.*)"
    width = layout.context_width()
    return f"an unknown layout: {channels}-channel UNet, cross-attention width {width}"
