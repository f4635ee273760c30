"""Synthetic pictures with a known foreground, for judging background removal without weights.

Each picture is drawn from a fixed seed: a background (gradient, texture or noise) and a
foreground of filled shapes whose union is the ground-truth mask.
"""

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


@dataclass(frozen=True)
class Picture:
    name: str
    image: Image.Image  # RGB
    mask: np.ndarray  # bool, True on the foreground


def iou(predicted: np.ndarray, truth: np.ndarray) -> float:
    union = np.logical_or(predicted, truth).sum()
    return float(np.logical_and(predicted, truth).sum() / union) if union else 1.0


def _gradient(size: int, start, end, horizontal=True) -> np.ndarray:
    ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)
    ramp = ramp[None, :, None] if horizontal else ramp[:, None, None]
    picture = np.asarray(start, np.float32) * (1 - ramp) + np.asarray(end, np.float32) * ramp
    return np.broadcast_to(picture, (size, size, 3)).copy()


def _texture(size: int, rng: np.random.Generator) -> np.ndarray:
    """Soft blotches of green and brown, like foliage: busy but not the foreground's colours."""
    noise = rng.random((size // 8, size // 8, 3)).astype(np.float32)
    blotches = np.asarray(Image.fromarray((noise * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC))
    base = np.array([70, 110, 60], np.float32)
    return np.clip(base + (blotches.astype(np.float32) - 128) * 0.35, 0, 255)


def _draw(background: np.ndarray, shapes, rng: np.random.Generator, noise: float) -> tuple[Image.Image, np.ndarray]:
    size = background.shape[0]
    image = Image.fromarray(np.clip(background, 0, 255).astype(np.uint8))
    mask = Image.new("L", (size, size), 0)
    canvas, stencil = ImageDraw.Draw(image), ImageDraw.Draw(mask)
    for kind, box_or_points, colour in shapes:
        getattr(canvas, kind)(box_or_points, fill=colour)
        getattr(stencil, kind)(box_or_points, fill=255)
    # A little blur and sensor noise, so edges and flat areas look photographed, not drawn.
    pixels = np.asarray(image.filter(ImageFilter.GaussianBlur(0.8)), np.float32)
    pixels += rng.normal(0.0, noise, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)), np.asarray(mask) > 127


def pictures(size: int = 128) -> list[Picture]:
    """A few variants: plain gradient, busy texture, a subject touching the bottom edge."""
    s = size / 128
    rng = np.random.default_rng(1234)
    made = []

    background = _gradient(size, (200, 205, 215), (120, 130, 150))
    shapes = [
        ("ellipse", [38 * s, 30 * s, 92 * s, 96 * s], (210, 40, 40)),
        ("polygon", [(60 * s, 50 * s), (100 * s, 70 * s), (70 * s, 104 * s)], (40, 60, 190)),
    ]
    made.append(Picture("gradient", *_draw(background, shapes, rng, noise=4.0)))

    background = _texture(size, rng)
    shapes = [
        ("ellipse", [30 * s, 36 * s, 86 * s, 92 * s], (235, 200, 60)),
        ("rectangle", [70 * s, 50 * s, 100 * s, 84 * s], (180, 60, 160)),
    ]
    made.append(Picture("texture", *_draw(background, shapes, rng, noise=6.0)))

    background = _gradient(size, (230, 230, 225), (170, 175, 180), horizontal=False)
    shapes = [  # head and shoulders: the body runs off the bottom edge, as in a portrait
        ("ellipse", [46 * s, 18 * s, 82 * s, 60 * s], (225, 180, 150)),
        ("polygon", [(30 * s, 128 * s), (40 * s, 66 * s), (88 * s, 66 * s), (98 * s, 128 * s)], (50, 70, 110)),
    ]
    made.append(Picture("portrait", *_draw(background, shapes, rng, noise=4.0)))

    background = _gradient(size, (90, 90, 100), (40, 40, 50))
    shapes = [("ellipse", [34 * s, 34 * s, 94 * s, 94 * s], (240, 240, 235))]
    made.append(Picture("dark", *_draw(background, shapes, rng, noise=8.0)))

    background = _gradient(size, (150, 150, 160), (110, 115, 125))
    shapes = [  # low contrast: the subject is only a little warmer and darker than the wall
        ("ellipse", [36 * s, 26 * s, 92 * s, 100 * s], (140, 115, 110)),
        ("rectangle", [20 * s, 70 * s, 60 * s, 110 * s], (100, 100, 120)),
    ]
    made.append(Picture("low-contrast", *_draw(background, shapes, rng, noise=5.0)))
    return made
