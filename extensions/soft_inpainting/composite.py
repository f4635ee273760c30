"""The adaptive final composite of soft inpainting: where the generated picture hardly differs
from the original, the original's own pixels are put back; where it differs by more than the
threshold, the generated pixels stay.

A1111 v1.10 measures the difference between the init latent and the sampled latent. The
`mask_overlay` hook hands over pictures, so here the difference is measured between the two
pictures, in the VAE's pixel range (-1..1 per channel, Euclidean over R, G, B), then averaged
over the latent cells (8x8 pixels for SD) so the rest of A1111's recipe runs on the grid it was
tuned for: the same two weighted-histogram filters (a local near-maximum, then a local
inter-quartile mean), the same threshold/contrast curve biased by the mask, upscaled and blurred
(radius 4). Two differences, both deliberate: the share is rounded (A1111 truncates, so a fully
changed pixel got 254/255 of the generated picture), and it is 0 wherever the blurred mask is 0,
so those pixels are exactly the original's (A1111 could let a large change outside the mask
through).
"""

import math

import numpy as np
from PIL import Image, ImageFilter

PIXEL_RANGE = 127.5  # 0..255 to the VAE's -1..1
OVERLAY_BLUR_RADIUS = 4  # A1111's anti-aliasing blur of the upscaled share
# A1111's filter kernel: a Gaussian of "stddev radius" 1.5 over 5x5 cells, tapered to 0 one cell out.
KERNEL_STDDEV = 1.5
KERNEL_RADIUS = 2


def gaussian_kernel(stddev: float = KERNEL_STDDEV, radius: int = KERNEL_RADIUS) -> np.ndarray:
    """(2r+1, 2r+1) weights, 1 at the centre, falling as exp(-d^2 / stddev^2) and shifted and
    rescaled so they would reach 0 at distance r + 1 (A1111's tapered kernel)."""
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    squared = offsets[:, None] ** 2 + offsets[None, :] ** 2
    floor = math.exp(-((radius + 1.0) ** 2) / stddev**2)
    return np.maximum(0.0, (np.exp(-squared / stddev**2) - floor) / (1.0 - floor))


def weighted_histogram_filter(
    values: np.ndarray, kernel: np.ndarray, low: float, high: float, min_width: float = 1.0
) -> np.ndarray:
    """Each cell becomes the weighted mean of the neighbourhood values that fall in the
    [low, high] fraction of the neighbourhood's weighted histogram: (0.9, 1) is a soft local
    maximum, (0.25, 0.75) an inter-quartile mean. Neighbours outside the picture do not count.
    The window is at least `min_width` weight units wide (kept inside the histogram)."""
    height, width = values.shape
    radius = kernel.shape[0] // 2
    padded = np.pad(values.astype(np.float64), radius, mode="edge")
    inside = np.pad(np.ones(values.shape), radius, mode="constant")
    size = kernel.shape[0]
    stack = np.stack([padded[y : y + height, x : x + width] for y in range(size) for x in range(size)])
    weights = np.stack([kernel[y, x] * inside[y : y + height, x : x + width] for y in range(size) for x in range(size)])
    order = np.argsort(stack, axis=0, kind="stable")
    stack = np.take_along_axis(stack, order, axis=0)
    weights = np.take_along_axis(weights, order, axis=0)
    top = np.cumsum(weights, axis=0)  # each value's slice of the stacked histogram: [bottom, top]
    bottom = top - weights
    total = top[-1]
    start, end = total * low, total * high
    narrow = end - start < min_width
    centre = (start + end) / 2
    start = np.where(narrow, centre - min_width / 2, start)
    end = np.where(narrow, centre + min_width / 2, end)
    past_top = narrow & (end > total)
    start, end = np.where(past_top, total - min_width, start), np.where(past_top, total, end)
    below = narrow & (start < 0)
    start, end = np.where(below, 0.0, start), np.where(below, min_width, end)
    overlap = np.clip(np.minimum(end, top) - np.maximum(start, bottom), 0.0, None)
    share = overlap.sum(axis=0)
    mean = (stack * overlap).sum(axis=0) / np.where(share > 0, share, 1.0)
    return np.where(share > 0, mean, 0.0)


def smootherstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (x * (6 * x - 15) + 10)


def pixel_difference(image: Image.Image, original: Image.Image) -> np.ndarray:
    """(height, width) Euclidean RGB distance, channels in the VAE's -1..1 range (0 .. 2*sqrt(3))."""
    new = np.asarray(image.convert("RGB"), dtype=np.float32) / PIXEL_RANGE
    old = np.asarray(original.convert("RGB"), dtype=np.float32) / PIXEL_RANGE
    return np.sqrt(((new - old) ** 2).sum(axis=-1))


def _to_grid(values: np.ndarray, cell: int) -> np.ndarray:
    """Mean over cell x cell blocks (the latent grid; partial blocks at the edges count)."""
    height, width = values.shape
    grid = (max(1, math.ceil(width / cell)), max(1, math.ceil(height / cell)))
    small = Image.fromarray(values.astype(np.float32)).resize(grid, Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float64)


def generated_share(
    image: Image.Image,
    original: Image.Image,
    mask: Image.Image,
    *,
    mask_influence: float,
    difference_threshold: float,
    difference_contrast: float,
    mask_blend_scale: float,
    cell: int = 8,
) -> Image.Image:
    """ "L" picture of the original's size: how much of the generated picture each pixel takes
    (255 = all of it). `mask` is the blurred inpainting mask (white = inpainted)."""
    distance = _to_grid(pixel_difference(image, original), cell)
    kernel = gaussian_kernel()
    distance = weighted_histogram_filter(distance, kernel, 0.9, 1.0)
    distance = weighted_histogram_filter(distance, kernel, 0.25, 0.75)

    # The mask biases the threshold: with full influence a fully masked cell takes any change and
    # an unmasked one none; with none the threshold is the same everywhere.
    inpainted = np.clip(_to_grid(np.asarray(mask.convert("L"), dtype=np.float32) / 255, cell), 0.0, 1.0)
    bias = 1 - inpainted ** (mask_blend_scale / 2)
    bias = 0.5 * (1 - mask_influence) + bias * mask_influence
    bias = bias / (1.00001 - bias)
    half_distance = difference_threshold * bias  # where the original is kept at 50 %
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = distance / half_distance
    ratio = np.where(half_distance > 0, ratio, np.where(distance > 0, np.inf, 0.0))
    with np.errstate(over="ignore"):
        kept = smootherstep(1 / (1 + ratio**difference_contrast))
    share = Image.fromarray(np.rint((1 - kept) * 255).astype(np.uint8))
    share = share.resize(original.size, Image.Resampling.LANCZOS)
    share = share.filter(ImageFilter.GaussianBlur(radius=OVERLAY_BLUR_RADIUS))
    outside = np.asarray(mask.convert("L")) == 0
    return Image.fromarray(np.where(outside, 0, np.asarray(share)).astype(np.uint8))


def blend_pictures(image: Image.Image, original: Image.Image, share: Image.Image) -> Image.Image:
    """original + (image - original) * share / 255, rounded: exactly the original where share is 0
    (and where the two agree), exactly the image where it is 255."""
    new = np.asarray(image.convert("RGB"), dtype=np.float32)
    old = np.asarray(original.convert("RGB"), dtype=np.float32)
    weight = np.asarray(share, dtype=np.float32)[..., None] / 255
    return Image.fromarray(np.clip(np.rint(old + (new - old) * weight), 0, 255).astype(np.uint8))
