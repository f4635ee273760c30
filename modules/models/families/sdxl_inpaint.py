"""SDXL inpainting models: SDXL with a 9-channel UNet (latents, mask, masked picture's latents)."""

from modules.models.families.sdxl import SDXL


class SDXLInpaint(SDXL):
    name = "sdxl_inpaint"
    label = "SDXL inpainting"
    config = "sdxl_inpaint"
    pipeline = "StableDiffusionXLInpaintPipeline"
    extra_channels = 5


FAMILY = SDXLInpaint()
