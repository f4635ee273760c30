"""Hires fix: upscale the first pass (in latent space or as an image) and denoise it again at
the larger size, part of the way, as A1111's txt2img does."""

import torch
import torch.nn.functional as F
from PIL import Image

from modules.images.pixels import to_model_pixels
from modules.processing.hires_size import HiresTarget
from modules.processing.upscalers import IMAGE_UPSCALERS, LATENT_UPSCALERS


def upscale_latents(latents: torch.Tensor, upscaler: str, size: tuple[int, int]) -> torch.Tensor:
    """size: (latent height, latent width)."""
    mode, antialias = LATENT_UPSCALERS[upscaler]
    kwargs = {"antialias": antialias} if mode in ("bilinear", "bicubic") else {}
    if mode in ("bilinear", "bicubic"):
        kwargs["align_corners"] = False
    return F.interpolate(latents.float(), size=size, mode=mode, **kwargs).to(latents.dtype)


def upscale_images(images: list[Image.Image], upscaler: str, target: HiresTarget,
                   upscalers=None) -> list[Image.Image]:  # fmt: skip
    """The decoded first pass at the hires size: a plain resize, or a model upscaler of
    `upscalers` (the engine's UpscalerRegistry; the name was checked when the job was prepared)."""
    if upscaler in IMAGE_UPSCALERS:
        return [image.resize((target.width, target.height), IMAGE_UPSCALERS[upscaler]) for image in images]
    if upscalers is None:
        raise ValueError(f"hires upscaler {upscaler!r} is a model upscaler: it needs the engine's upscalers")
    return [upscalers.upscale_to(image, upscaler, target.width, target.height) for image in images]


def encode_images(model, images: list[Image.Image], settings=None) -> torch.Tensor:
    """Pictures -> latents with the model's VAE (the distribution's mean: deterministic), tiled
    per the "vae_tiling" option of `settings` (the job's snapshot; None: Automatic)."""
    from modules.processing import vae_tiling

    mode = settings.get("vae_tiling") if settings is not None else None
    return vae_tiling.encode(model.vae, to_model_pixels(images), mode)
