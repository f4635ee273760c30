"""Judge a generated shapes picture with plain OpenCV measurements.

A model trained on `shapes.py` scenes should draw what the caption asks for. This module
reads a picture back: the background colour, and the colour and shape of the largest
object. Generated pictures are blurrier and noisier than the drawn ones, so every step
prefers robust statistics (medians, area ratios) over exact edges and corners.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from modules.training.shapes import BACKGROUNDS, COLOURS

# Lab (L 0..100) distance from the background above which a pixel is "object". Every palette
# colour is at least ~72 away from every background, and noise of ~8 RGB levels moves a
# pixel only a few units, so a threshold near a third of the gap keeps both margins wide.
OBJECT_DISTANCE = 25.0
MIN_OBJECT_FRACTION = 0.005  # components smaller than this share of the picture are specks


@dataclass(frozen=True)
class Verdict:
    background: str | None
    colour: str | None
    shape: str | None


def _to_lab(rgb: np.ndarray) -> np.ndarray:
    """Lab as float32 with L in 0..100: distances there track how different colours look."""
    return cv2.cvtColor(np.ascontiguousarray(rgb, np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _palette_lab(palette: dict[str, tuple[int, int, int]]) -> tuple[list[str], np.ndarray]:
    names = list(palette)
    return names, _to_lab(np.array([[palette[n] for n in names]], np.float32))[0]


def _nearest(lab: np.ndarray, palette: dict[str, tuple[int, int, int]]) -> str:
    names, colours = _palette_lab(palette)
    return names[int(np.argmin(np.linalg.norm(colours - lab, axis=1)))]


def _border(image: np.ndarray) -> np.ndarray:
    """The pixels of a thin ring around the edge, as an N x 3 array."""
    ring = max(2, min(image.shape[:2]) // 32)  # 4 px at 128: thick enough to outvote noise
    mask = np.ones(image.shape[:2], bool)
    mask[ring:-ring, ring:-ring] = False
    return image[mask]


def _kernel(size: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def _largest_component(mask: np.ndarray, min_area: float) -> np.ndarray | None:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return None
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))  # label 0 is the background
    if stats[best, cv2.CC_STAT_AREA] < min_area:
        return None
    return (labels == best).astype(np.uint8)


def _shape(component: np.ndarray) -> str:
    """Name the shape from area ratios, which blur, noise and small turns barely move.

    Ideal values: a star fills ~55% of its convex hull, the others ~95-100%. Of its
    minimum-area rectangle the hull (smoother than the ragged outline) fills: triangle 50%,
    circle pi/4 = 79%, square 100%. Both ratios ignore rotation. The ranges quoted below were
    measured on 2000 renders at 128 px, clean and with blur sigma 1.5 plus noise sigma 8.
    """
    contours, _ = cv2.findContours(component, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = max(contours, key=cv2.contourArea)
    hull = cv2.convexHull(contour)
    hull_area = max(cv2.contourArea(hull), 1.0)
    solidity = cv2.contourArea(contour) / hull_area
    if solidity < 0.8:  # stars measure 0.54-0.68, the convex shapes 0.90 and up
        return "star"
    (_, _), (w, h), _ = cv2.minAreaRect(hull)
    rect_fill = hull_area / max(w * h, 1.0)
    if rect_fill < 0.7:  # triangles measure 0.53-0.62, circles 0.79 and up
        return "triangle"
    return "square" if rect_fill > 0.9 else "circle"  # circles measure <= 0.86, squares >= 0.94


def _clean(mask: np.ndarray, k: int) -> np.ndarray:
    """Open drops speckles smaller than the kernel; close fills pinholes the noise punched."""
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, _kernel(k))
    return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _kernel(k))


def _segment(lab: np.ndarray, background_lab: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(object Lab colour, 0/1 mask of the largest object), or None when there is no object."""
    k = max(3, min(lab.shape[:2]) // 40) | 1  # odd; 3 px at 64 and 128, 7 px at 256
    far = np.linalg.norm(lab - background_lab, axis=2) > OBJECT_DISTANCE
    component = _largest_component(_clean(far, k), MIN_OBJECT_FRACTION * lab.shape[0] * lab.shape[1])
    if component is None:
        return None

    # Take the colour from the component's core: pixels at least half as deep inside it as
    # its deepest pixel. That skips anti-aliased and blurred rims at any picture size, and
    # when two objects touch, the core lies in the fatter one instead of mixing both colours.
    depth = cv2.distanceTransform(component, cv2.DIST_L2, 3)
    object_lab = np.median(lab[depth >= 0.5 * depth.max()], axis=0)

    # Blur spreads an edge over several pixels and the fixed threshold above cuts it near the
    # background side, which fattens the shape and fills a star's notches. Re-cut halfway
    # between the two colours (projection onto the background->object line) to keep the
    # true outline; this also drops a touching object of another colour.
    axis = object_lab - background_lab
    halfway = (lab - background_lab) @ axis > 0.5 * float(axis @ axis)
    refined = _largest_component(_clean(halfway, k) & cv2.dilate(component, _kernel(k)), 1)
    return object_lab, component if refined is None else refined


def judge(image: np.ndarray) -> Verdict:
    """Read background colour, and colour and shape of the largest object, from an RGB picture."""
    # A float picture in 0..1 would be read as nearly black, so refuse it rather than guess.
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image.dtype} {image.shape}")
    lab = _to_lab(image)
    # The median of the border ring ignores the odd object corner or speck that reaches it.
    background_lab = np.median(_border(lab), axis=0)
    background = _nearest(background_lab, BACKGROUNDS)
    found = _segment(lab, background_lab)
    if found is None:
        return Verdict(background, None, None)
    object_lab, component = found
    return Verdict(background, _nearest(object_lab, COLOURS), _shape(component))


def agreement(verdicts: Sequence[Verdict], expected: Sequence[tuple[str, str, str]]) -> dict[str, float]:
    """Fractions of verdicts matching expected (colour, shape, background) tuples."""
    if len(verdicts) != len(expected):
        raise ValueError(f"{len(verdicts)} verdicts but {len(expected)} expected tuples")
    n = len(verdicts)
    if n == 0:
        return {"colour": math.nan, "shape": math.nan, "background": math.nan, "count": 0}
    pairs = list(zip(verdicts, expected, strict=True))
    return {
        "colour": sum(v.colour == c for v, (c, _, _) in pairs) / n,
        "shape": sum(v.shape == s for v, (_, s, _) in pairs) / n,
        "background": sum(v.background == b for v, (_, _, b) in pairs) / n,
        "count": n,
    }
