"""img2img colour correction (A1111 v1.10's setting "Apply color correction to img2img results to
match original colors"): the result's LAB histograms matched to the init image's, channel by
channel, then the result's own luminosity put back, so only the colours move.

numpy + OpenCV only (8-bit Lab: L, a, b each 0..255); scikit-image is not a dependency.
"""

import numpy as np
from PIL import Image

# Rec. 601 luma weights, the luminosity a "Luminosity" blend keeps.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def color_reference(image: Image.Image) -> np.ndarray:
    """What colour correction matches against, taken from the (resized, filled) init image: its
    pixels in 8-bit Lab, HxWx3 uint8."""
    import cv2  # here, not at the top: OpenCV need not load while the page starts

    return cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2LAB)


def apply_color_correction(reference_lab: np.ndarray, image: Image.Image) -> Image.Image:
    """`image` (RGB) with its Lab histograms matched to `reference_lab` and its own luminosity kept."""
    import cv2

    rgb = np.asarray(image.convert("RGB"))
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    matched = np.stack([match_histogram(lab[..., c], reference_lab[..., c]) for c in range(3)], axis=-1)
    recoloured = cv2.cvtColor(matched, cv2.COLOR_LAB2RGB).astype(np.float32) / 255
    kept = with_luminosity(recoloured, luminosity(rgb.astype(np.float32) / 255))
    return Image.fromarray(np.clip(np.rint(kept * 255), 0, 255).astype(np.uint8))


def match_histogram(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """uint8 `source` remapped so its value distribution follows `reference`'s: each level goes to
    the reference value at the same cumulative share (linear between the reference's levels)."""
    source_counts = np.bincount(source.ravel(), minlength=256)
    reference_counts = np.bincount(reference.ravel(), minlength=256)
    present = np.nonzero(reference_counts)[0]
    source_quantiles = np.cumsum(source_counts) / source.size
    reference_quantiles = np.cumsum(reference_counts[present]) / reference.size
    lookup = np.interp(source_quantiles, reference_quantiles, present.astype(np.float64))
    return np.clip(np.rint(lookup), 0, 255).astype(np.uint8)[source]


def luminosity(rgb: np.ndarray) -> np.ndarray:
    """Luma of HxWx3 float RGB in [0, 1]."""
    return rgb @ LUMA_WEIGHTS


def with_luminosity(rgb: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The colours of `rgb` (HxWx3 float in [0, 1]) at luma `target`: shift every channel by the
    luma difference, then pull out-of-range colours toward their luma (the W3C "Luminosity" blend's
    SetLum + ClipColor), which keeps the luma exact."""
    shifted = rgb + (target - luminosity(rgb))[..., None]
    luma = luminosity(shifted)[..., None]
    lowest = shifted.min(axis=-1, keepdims=True)
    highest = shifted.max(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        below = np.where(lowest < 0, luma + (shifted - luma) * luma / (luma - lowest), shifted)
        return np.where(highest > 1, luma + (below - luma) * (1 - luma) / (highest - luma), below)
