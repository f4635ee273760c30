"""Stable Diffusion 1.x: one CLIP ViT-L text encoder (768 wide), epsilon prediction, 512 px."""

from modules.models.families.base import Family


class SD1(Family):
    pass


FAMILY = SD1()
