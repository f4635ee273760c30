"""img2img's four resize modes (A1111 v1.10 semantics): how an init image or mask of any size becomes
the requested output size.

0 Just resize: stretch to the output size.
1 Crop and resize: scale to cover the output, centred; what overhangs is cut off.
2 Resize and fill: scale to fit inside the output, centred; the bars are the image's edge rows (or
  columns) stretched across them.
3 Just resize (latent upscale): the init image is encoded at its own size and the *latent* is
  interpolated to the output's latent size (`interpolate_latent`); a picture given to
  `resize_image` with mode 3 (a mask, an overlay) is stretched, the pixel-space twin of that.

Upscaling goes through an optional `upscale(image, scale)` callable (the "Upscaler for img2img"
setting); Lanczos brings the result to the exact size. Masks (mode "L") always use Lanczos.
"""

from collections.abc import Callable
from enum import IntEnum

import numpy as np
from PIL import Image


class ResizeMode(IntEnum):
    JUST_RESIZE = 0
    CROP_AND_RESIZE = 1
    RESIZE_AND_FILL = 2
    LATENT_RESIZE = 3


# A1111's labels, in mode order (the UI radio and the infotext's "Resize mode" use them).
RESIZE_MODE_LABELS = ("Just resize", "Crop and resize", "Resize and fill", "Just resize (latent upscale)")

# An upscaler as the img2img setting names it: (picture, scale factor > 1) -> a bigger picture.
Upscale = Callable[[Image.Image, float], Image.Image]


def resize_image(image: Image.Image, mode: int, width: int, height: int, upscale: Upscale | None = None) -> Image.Image:
    """`image` at exactly width x height by resize `mode` (0-3). Keeps "L", "RGB" and "RGBA";
    other modes come back as RGB."""
    if width < 1 or height < 1:
        raise ValueError(f"resize target must be at least 1x1, got {width}x{height}")
    mode = ResizeMode(mode)  # ValueError for an unknown mode
    if image.mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGB")
    if mode in (ResizeMode.JUST_RESIZE, ResizeMode.LATENT_RESIZE):
        return _scale(image, width, height, upscale)
    if mode == ResizeMode.CROP_AND_RESIZE:
        scaled_w, scaled_h = cover_size(image.width, image.height, width, height)
        return _centred(_scale(image, scaled_w, scaled_h, upscale), width, height)
    scaled_w, scaled_h = fit_size(image.width, image.height, width, height)
    return _fill_bars(_centred(_scale(image, scaled_w, scaled_h, upscale), width, height), scaled_w, scaled_h)


def cover_size(source_w: int, source_h: int, width: int, height: int) -> tuple[int, int]:
    """Mode 1's scaled size: the aspect kept, both sides >= the target's (integer floor as A1111)."""
    if width / height > source_w / source_h:
        return width, max(1, source_h * width // source_w)
    return max(1, source_w * height // source_h), height


def fit_size(source_w: int, source_h: int, width: int, height: int) -> tuple[int, int]:
    """Mode 2's scaled size: the aspect kept, both sides <= the target's (integer floor as A1111)."""
    if width / height < source_w / source_h:
        return width, max(1, source_h * width // source_w)
    return max(1, source_w * height // source_h), height


def centred_offset(scaled_w: int, scaled_h: int, width: int, height: int) -> tuple[int, int]:
    """Where a scaled picture's top-left lands in the output (negative: it overhangs and is cut)."""
    return width // 2 - scaled_w // 2, height // 2 - scaled_h // 2


def _scale(image: Image.Image, width: int, height: int, upscale: Upscale | None) -> Image.Image:
    if image.size == (width, height):
        return image.copy()
    scale = max(width / image.width, height / image.height)
    if upscale is not None and scale > 1 and image.mode != "L":
        image = upscale(image, scale)
    if image.size != (width, height):
        image = image.resize((width, height), resample=Image.Resampling.LANCZOS)
    return image


def _centred(scaled: Image.Image, width: int, height: int) -> Image.Image:
    canvas = Image.new(scaled.mode, (width, height))
    canvas.paste(scaled, centred_offset(scaled.width, scaled.height, width, height))
    return canvas


def _fill_bars(canvas: Image.Image, scaled_w: int, scaled_h: int) -> Image.Image:
    """Mode 2's bars: the first/last row (or column) of the pasted picture repeated to the edge.
    Both bars run to the border, so an odd leftover never leaves a black line (A1111 can)."""
    pixels = np.array(canvas)
    left, top = centred_offset(scaled_w, scaled_h, canvas.width, canvas.height)
    if scaled_h < canvas.height:
        pixels[:top] = pixels[top]
        pixels[top + scaled_h :] = pixels[top + scaled_h - 1]
    if scaled_w < canvas.width:
        pixels[:, :left] = pixels[:, left : left + 1]
        pixels[:, left + scaled_w :] = pixels[:, left + scaled_w - 1 : left + scaled_w]
    return Image.fromarray(pixels)


def latent_size(width: int, height: int, factor: int = 8) -> tuple[int, int]:
    """(latent width, latent height) of an output size for a VAE that downsamples by `factor`."""
    return width // factor, height // factor


def interpolate_latent(latent, latent_width: int, latent_height: int, mode: str = "bilinear"):
    """Mode 3: a BxCxhxw latent (encoded at the init image's own size) interpolated to the output's
    latent size, as A1111 (bilinear, no corner alignment, no antialias). Same size: returned as is."""
    import torch.nn.functional as functional  # lazy: the pixel modes above need no torch

    if latent_width < 1 or latent_height < 1:
        raise ValueError(f"latent size must be at least 1x1, got {latent_width}x{latent_height}")
    if tuple(latent.shape[-2:]) == (latent_height, latent_width):
        return latent
    return functional.interpolate(latent, size=(latent_height, latent_width), mode=mode)
