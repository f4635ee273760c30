"""The hires fix's target size, torch-free: requests check it against the size limits before
anything is queued, and the hires pass uses the same rule to resize."""

from dataclasses import dataclass

LATENT_STRIDE = 8  # the VAE's downscale factor: image sides are multiples of it


@dataclass(frozen=True)
class HiresTarget:
    width: int
    height: int


def target_size(width: int, height: int, scale: float, resize_x: int, resize_y: int) -> HiresTarget:
    """A1111's rule: "resize to" wins when given (one side 0 keeps the aspect ratio), otherwise
    "upscale by"; sides are rounded to multiples of 8 (the VAE's stride)."""
    if resize_x or resize_y:
        if not resize_y:
            resize_y = resize_x * height / width
        if not resize_x:
            resize_x = resize_y * width / height
        target_w, target_h = resize_x, resize_y
    else:
        target_w, target_h = width * scale, height * scale
    return HiresTarget(_side(target_w), _side(target_h))


def _side(value: float) -> int:
    return max(64, int(round(value / LATENT_STRIDE)) * LATENT_STRIDE)
