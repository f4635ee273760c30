"""instruct-pix2pix: an SD 1.x model whose UNet also takes the input picture's latents (8 channels),
guided by both the text and the picture (img2img's Image CFG scale)."""

from modules.models.families.base import Family


class InstructPix2Pix(Family):
    name = "ip2p"
    label = "instruct-pix2pix"
    config = "ip2p"
    pipeline = "StableDiffusionInstructPix2PixPipeline"
    extra_channels = 4


FAMILY = InstructPix2Pix()
