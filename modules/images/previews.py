"""Live previews of the latents while sampling: a cheap linear latent-to-RGB approximation
(default), or the full VAE."""

import numpy as np
import torch
from PIL import Image

PREVIEW_METHODS = ("Approx cheap", "Full")
# SD 1.x latent channels -> RGB, the widely used approximation (A1111's "Approx cheap").
_SD1_FACTORS = torch.tensor(
    [[0.298, 0.207, 0.208], [0.187, 0.286, 0.173], [-0.158, 0.189, 0.264], [-0.184, -0.271, -0.473]]
)


def cheap_preview(latents: torch.Tensor) -> Image.Image:
    """The first image of the batch, at latent resolution, through a fixed 4x3 matrix."""
    sample = latents[0].detach().float().cpu()
    if sample.shape[0] != _SD1_FACTORS.shape[0]:
        sample = sample[:3] if sample.shape[0] >= 3 else sample.repeat(3, 1, 1)[:3]
        rgb = sample.permute(1, 2, 0)
    else:
        rgb = torch.einsum("chw,cr->hwr", sample, _SD1_FACTORS)
    pixels = ((rgb + 1) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    return Image.fromarray(np.ascontiguousarray(pixels))


def full_preview(model, latents: torch.Tensor) -> Image.Image:
    from modules.processing.txt2img import decode_latents

    return decode_latents(model, latents[:1])[0]


def make_preview(method: str, model, latents: torch.Tensor) -> Image.Image:
    return full_preview(model, latents) if method == "Full" else cheap_preview(latents)
