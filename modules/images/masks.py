"""Inpainting masks as "L" pictures (255 = repaint, 0 = keep), A1111 v1.10 semantics: made from an
alpha channel or from luminance, inverted for "Inpaint not masked", blurred separately in x and y
("Mask blur"), and reduced to the latent grid (with "mask rounding")."""

import cv2
import numpy as np
from PIL import Image, ImageOps

ALPHA_THRESHOLD = 128


def has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info


def mask_from_alpha(image: Image.Image, *, transparent_is_masked: bool = True) -> Image.Image:
    """Binary mask from the alpha channel. By default a pixel whose alpha is below 128 is masked (the
    transparent holes of an init image). `transparent_is_masked=False` reads it the other way, as
    A1111's create_binary_mask reads a painted mask layer: alpha above 128 is masked."""
    if not has_alpha(image):
        raise ValueError(f"a {image.mode} image has no alpha channel to take a mask from")
    alpha = np.asarray(image.convert("RGBA").getchannel("A"))
    masked = alpha < ALPHA_THRESHOLD if transparent_is_masked else alpha > ALPHA_THRESHOLD
    return Image.fromarray(np.where(masked, 255, 0).astype(np.uint8))


def mask_from_luminance(image: Image.Image) -> Image.Image:
    """Grey levels as they are (white = repaint): A1111 v1.10 does not threshold a luminance mask;
    `latent_mask(round_mask=True)` rounds it on the latent grid."""
    if has_alpha(image):
        # Transparent pixels would otherwise read as whatever colour they happen to store.
        image = Image.alpha_composite(Image.new("RGBA", image.size, "black"), image.convert("RGBA"))
    return image.convert("L")


def mask_from_upload(image: Image.Image, *, transparent_is_masked: bool = True) -> Image.Image:
    """An uploaded mask picture: its alpha when it has any pixel that is not opaque, else its
    luminance (A1111's choice between the two)."""
    if has_alpha(image):
        alpha_low, _alpha_high = image.convert("RGBA").getchannel("A").getextrema()
        if alpha_low < 255:
            return mask_from_alpha(image, transparent_is_masked=transparent_is_masked)
    return mask_from_luminance(image)


def invert_mask(mask: Image.Image) -> Image.Image:
    """Mask mode "Inpaint not masked": repaint what was kept and keep what was masked."""
    return ImageOps.invert(mask.convert("L"))


def blur_kernel_size(sigma: float) -> int:
    """A1111's Gaussian kernel length for a mask blur of `sigma` pixels: odd, about 2.5 sigma each side."""
    return 2 * int(2.5 * sigma + 0.5) + 1


def blur_mask(mask: Image.Image, blur_x: float, blur_y: float) -> Image.Image:
    """Gaussian blur along x with sigma `blur_x`, then along y with sigma `blur_y`, each with A1111's
    kernel length; 0 leaves that axis alone. Computed in float and rounded, so a kernel's last tap
    still shows on an edge."""
    levels = np.asarray(mask.convert("L"), dtype=np.float32)
    if blur_x < 0 or blur_y < 0:
        raise ValueError(f"mask blur must not be negative, got x={blur_x}, y={blur_y}")
    if blur_x > 0:
        levels = cv2.GaussianBlur(levels, (blur_kernel_size(blur_x), 1), sigmaX=blur_x, sigmaY=blur_x)
    if blur_y > 0:
        levels = cv2.GaussianBlur(levels, (1, blur_kernel_size(blur_y)), sigmaX=blur_y, sigmaY=blur_y)
    return Image.fromarray(np.clip(np.rint(levels), 0, 255).astype(np.uint8))


def latent_mask(mask: Image.Image, latent_width: int, latent_height: int, *, round_mask: bool = True) -> np.ndarray:
    """The mask on the latent grid as float32 (latent_height, latent_width) in [0, 1], 1 = repaint
    (A1111's `nmask`; `1 - it` is the part each step takes from the init latent). Bicubic like
    A1111's PIL resize; rounded to 0/1 when `round_mask` (A1111's default)."""
    small = mask.convert("L").resize((latent_width, latent_height), resample=Image.Resampling.BICUBIC)
    weights = np.asarray(small, dtype=np.float32) / 255
    return np.round(weights) if round_mask else weights
