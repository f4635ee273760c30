"""SD 1.x inpainting models: the UNet takes 9 channels (latents, the mask, the masked picture's
latents); everything else is SD 1.x."""

from modules.models.families.base import Family


class SD1Inpaint(Family):
    name = "sd1_inpaint"
    label = "SD 1.x inpainting"
    config = "sd1_inpaint"
    pipeline = "StableDiffusionInpaintPipeline"
    extra_channels = 5


FAMILY = SD1Inpaint()
