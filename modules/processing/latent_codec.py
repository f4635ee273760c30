"""Latents -> pictures with a model's VAE (the final decode, previews, the hires pass's image upscale)."""

import torch
from PIL import Image

from modules.images.pixels import to_pil_images


def decode_latents(model, latents: torch.Tensor) -> list[Image.Image]:
    vae = model.vae
    with torch.inference_mode():
        pixels = vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor).sample
    return to_pil_images(pixels)
