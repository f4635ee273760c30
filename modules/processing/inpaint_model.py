"""The UNet input channels that come after the latents for the two kinds of image-conditioned
checkpoints (A1111's `image_conditioning`, diffusers' inpaint and instruct-pix2pix pipelines):

- 9-channel inpainting models (SD 1.x / SDXL inpainting): 1 mask channel (1 = repaint, on the
  latent grid) then the 4 scaled VAE latents of the masked init picture. A1111's "Inpainting
  conditioning mask strength" (`inpainting_mask_weight`) blends the masked picture back towards the
  whole one: lerp(picture, picture * (1 - mask), weight); 1 masks fully, 0 shows the model the
  whole picture.
  - img2img with a mask: that mask, rounded to 0/1 unless the job asks for a soft mask (A1111's
    `mask_round`, which soft inpainting turns off).
  - img2img without a mask: a mask of ones (A1111's default), so the conditioning picture is the
    init picture blended towards black-in-[-1, 1] (mid grey) by the weight.
  - txt2img: a mask of ones and a mid-grey picture's latents (A1111's txt2img_image_conditioning:
    "the entire image is masked").
- instruct-pix2pix (8 channels): the init picture's VAE latents, the distribution's mode and NOT
  scaled by the VAE's scaling factor (A1111's edit_image_conditioning and diffusers'
  prepare_image_latents both do this). In txt2img there is no picture to edit: zeros, the same
  "no image" the unconditional row of its guidance sees.

A1111 samples the VAE posterior for these latents; we take its mean, as for every other encode in
this engine (modules/processing/hires.py encode_images), so a seed gives one picture.
"""

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from modules.images.pixels import to_model_pixels
from modules.memory.placement import compute_device

LATENT_UNET_CHANNELS = 4
INPAINT_UNET_CHANNELS = 9  # latents + mask + masked picture latents
IP2P_UNET_CHANNELS = 8  # latents + picture latents
# A1111's infotext key for the inpainting_mask_weight setting (written when an inpainting model ran).
MASK_WEIGHT_KEY = "Conditional mask weight"


def unet_input_channels(model) -> int:
    return int(model.unet.config.in_channels)


def supported_unet_channels(model) -> int:
    """The UNet's input channels, or ValueError when this engine cannot feed that many."""
    channels = unet_input_channels(model)
    if channels not in (LATENT_UNET_CHANNELS, IP2P_UNET_CHANNELS, INPAINT_UNET_CHANNELS):
        raise ValueError(f"this checkpoint's UNet takes {channels} input channels: only 4, 8 and 9 are supported")
    return channels


def is_inpainting_model(model) -> bool:
    return unet_input_channels(model) == INPAINT_UNET_CHANNELS


def is_ip2p_model(model) -> bool:
    return unet_input_channels(model) == IP2P_UNET_CHANNELS


def conditioning_mask(mask: Image.Image, *, round_mask: bool = True) -> torch.Tensor:
    """A processing mask ("L", 255 = repaint) as [1, 1, H, W] float32 in [0, 1], rounded to 0/1 as
    A1111 does unless `round_mask` is False (torch.round: exactly half goes to 0, but no 8-bit level
    is exactly half)."""
    levels = torch.from_numpy(np.asarray(mask.convert("L"), dtype=np.float32) / 255)[None, None]
    return torch.round(levels) if round_mask else levels


def masked_picture(pixels: torch.Tensor, mask: torch.Tensor, weight: float) -> torch.Tensor:
    """A1111's conditioning picture: lerp(pixels, pixels * (1 - mask), weight) on [-1, 1] pixels."""
    mask = mask.to(pixels.device, pixels.dtype)
    return torch.lerp(pixels, pixels * (1.0 - mask), float(weight))


def _vae_input(vae, pixels: torch.Tensor) -> torch.Tensor:
    """Contiguous NCHW in the VAE's dtype. A flat picture (the grey of txt2img, a fully masked one)
    leaves GroupNorm almost nothing to normalise, and then the memory layout changes the encoding
    visibly (seen on small random VAEs); A1111 encodes contiguous tensors, so we do too (pictures
    come from numpy in channels-last strides, as diffusers' preprocessing leaves them)."""
    return pixels.to(compute_device(vae), vae.dtype).contiguous()


def encode_scaled(vae, pixels: torch.Tensor) -> torch.Tensor:
    """[-1, 1] pixels -> the VAE's mean latents times its scaling factor (what the UNet samples in)."""
    with torch.inference_mode():
        latents = vae.encode(_vae_input(vae, pixels)).latent_dist.mean
    return latents * vae.config.scaling_factor


def inpainting_channels(vae, pixels: torch.Tensor, mask: torch.Tensor | None, latent_size: tuple[int, int],
                        weight: float = 1.0) -> torch.Tensor:  # fmt: skip
    """The 5 extra channels of a 9-channel inpainting UNet: [B, 1 + 4, h, w].

    `pixels`: [B, 3, H, W] in [-1, 1] (the processed init pictures); `mask`: [1 or B, 1, H, W] in
    [0, 1] (1 = repaint) or None for img2img without a mask (all ones); `latent_size`: (h, w)."""
    if mask is None:
        mask = torch.ones(1, 1, *pixels.shape[-2:])
    mask = mask.to(pixels.device, torch.float32)
    latents = encode_scaled(vae, masked_picture(pixels.float(), mask, weight))
    if tuple(latents.shape[-2:]) != tuple(latent_size):  # latent resize mode: encoded at its own size
        latents = F.interpolate(latents.float(), size=latent_size, mode="bilinear", align_corners=False)
    small = F.interpolate(mask, size=latent_size)  # nearest, as A1111's and diffusers' mask
    small = small.expand(latents.shape[0], -1, -1, -1).to(latents.device, latents.dtype)
    return torch.cat([small, latents], dim=1)


def txt2img_inpainting_channels(vae, batch: int, width: int, height: int) -> torch.Tensor:
    """A 9-channel model in txt2img: a full mask and a mid-grey picture's latents [B, 5, h, w]."""
    grey = torch.zeros(1, 3, height, width)  # 0.5 in [0, 1] is 0 in [-1, 1]
    latents = encode_scaled(vae, grey)
    ones = torch.ones(1, 1, *latents.shape[-2:], device=latents.device, dtype=latents.dtype)
    return torch.cat([ones, latents], dim=1).expand(batch, -1, -1, -1).contiguous()


def ip2p_image_channels(vae, pixels: torch.Tensor) -> torch.Tensor:
    """instruct-pix2pix's 4 picture channels: the VAE's mode, unscaled ([B, 4, h, w])."""
    with torch.inference_mode():
        return vae.encode(_vae_input(vae, pixels)).latent_dist.mode()


def txt2img_extra_channels(model, batch: int, width: int, height: int, pictures: list[Image.Image] | None = None,
                           mask_weight: float = 1.0) -> torch.Tensor | None:  # fmt: skip
    """What txt2img concatenates after the latents for `model` (DenoiseInputs.extra_channels), for a
    width x height picture: None for an ordinary 4-channel UNet.

    For the hires pass (A1111's sample_hr_pass), `pictures` are the first pass's pictures at the
    hires size: with a mask strength below 1 an inpainting model is shown them (no mask: all of
    them masked, by that strength); at strength 1 that is exactly the grey of plain txt2img, so
    they are not needed (and a latent upscale need not decode for them)."""
    channels = supported_unet_channels(model)
    if channels == LATENT_UNET_CHANNELS:
        return None
    factor = 2 ** (len(model.vae.config.block_out_channels) - 1)
    if channels == INPAINT_UNET_CHANNELS:
        if pictures is not None and mask_weight < 1.0:
            pixels = to_model_pixels(pictures)
            return inpainting_channels(model.vae, pixels, None, (height // factor, width // factor), mask_weight)
        return txt2img_inpainting_channels(model.vae, batch, width, height)
    latent = model.vae.config.latent_channels  # instruct-pix2pix
    return torch.zeros(
        batch, latent, height // factor, width // factor, device=compute_device(model.vae), dtype=model.vae.dtype
    )


def conditioning_infotext(model, mask_weight: float) -> dict:
    """A1111's "Conditional mask weight", written whenever an inpainting model ran."""
    return {MASK_WEIGHT_KEY: float(mask_weight)} if is_inpainting_model(model) else {}
