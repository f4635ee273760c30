"""Masked content "fill": the masked area painted, in pixel space before encoding, with colours
spread in from the pixels around it (A1111 v1.10's masking.fill semantics).

The kept pixels (weighted by 1 - mask) are blurred at decreasing radii; each blur is normalised by
the blurred weights (so a colour is an average of kept pixels only) and laid over the previous
layers with those weights as opacity. Far from any kept pixel the wide blurs decide; near them the
narrow ones; the last layer is the unblurred image, so pixels outside the mask are exactly the input.
"""

import cv2
import numpy as np
from PIL import Image

# (blur sigma in pixels, times laid over), widest first, as A1111.
FILL_LAYERS = ((256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1))
# Above this sigma the blur runs on a downscaled copy: the result is smooth anyway, and a direct
# sigma-256 blur costs ~0.5 s per 512x512 picture on these CPUs.
_DIRECT_SIGMA = 16


def fill_masked_area(image: Image.Image, mask: Image.Image) -> Image.Image:
    """RGB `image` with its masked area (mask "L", 255 = masked; grey = partly) filled from around it.
    A fully masked picture has nothing to take colours from and comes back black, as A1111."""
    if image.size != mask.size:
        raise ValueError(f"image {image.size} and mask {mask.size} differ in size")
    colours = np.asarray(image.convert("RGB"), dtype=np.float32) / 255
    mask_levels = np.asarray(mask.convert("L"))
    kept = 1 - mask_levels.astype(np.float32) / 255
    premultiplied = colours * kept[..., None]

    # Premultiplied "over": out = layer + out * (1 - layer alpha).
    out_colours = np.zeros_like(colours)
    out_alpha = np.zeros_like(kept)
    for sigma, repeats in FILL_LAYERS:
        layer_colours = _blur(premultiplied, sigma)
        layer_alpha = _blur(kept, sigma)
        for _ in range(repeats):
            out_colours = layer_colours + out_colours * (1 - layer_alpha[..., None])
            out_alpha = layer_alpha + out_alpha * (1 - layer_alpha)

    with np.errstate(divide="ignore", invalid="ignore"):
        straight = np.where(out_alpha[..., None] > 1e-6, out_colours / out_alpha[..., None], 0)
    filled = np.clip(np.rint(straight * 255), 0, 255).astype(np.uint8)
    # Exact by construction already; copied so float rounding can never touch a kept pixel.
    untouched = mask_levels == 0
    filled[untouched] = np.asarray(image.convert("RGB"))[untouched]
    return Image.fromarray(filled)


def _blur(values: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return values
    if sigma <= _DIRECT_SIGMA:
        return cv2.GaussianBlur(values, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
    height, width = values.shape[:2]
    factor = sigma / _DIRECT_SIGMA
    small_size = (max(1, round(width / factor)), max(1, round(height / factor)))
    small = cv2.resize(values, small_size, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=_DIRECT_SIGMA, sigmaY=_DIRECT_SIGMA, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
