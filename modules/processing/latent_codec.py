"""Latents -> pictures with a model's VAE (the final decode, previews, the hires pass's image upscale)."""

import logging

import torch
from PIL import Image

from modules.images.pixels import to_pil_images
from modules.processing import vae_tiling

log = logging.getLogger(__name__)


def decode_latents(model, latents: torch.Tensor, settings=None, taesd=None) -> list[Image.Image]:
    """The pictures of `latents`. `settings` (the job's snapshot; None: Full, Automatic tiling)
    picks the decoder ("sd_vae_decode_method") and tiling ("vae_tiling"). `taesd` is the engine's
    TaesdDecoder for the model's latent space (engine.taesd_for(...)); TAESD chosen without a
    usable decoder falls back to the full VAE with a warning."""
    method = settings.get("sd_vae_decode_method") if settings is not None else "Full"
    if method == "TAESD":
        images = taesd.decode_batch(latents) if taesd is not None else None
        if images is not None:
            return images
        reason = getattr(taesd, "problem", None) or "no TAESD decoder file in models/VAE-approx"
        log.warning("VAE type for decode is TAESD but %s; decoding with the full VAE", reason)
    mode = settings.get("vae_tiling") if settings is not None else None
    return to_pil_images(vae_tiling.decode(model.vae, latents, mode))
