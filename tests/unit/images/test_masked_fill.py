"""Masked content "fill": the masked area takes colours from around it; nothing else changes."""

import numpy as np
import pytest
from PIL import Image

from modules.images.masked_fill import fill_masked_area


def two_halves(size=64) -> np.ndarray:
    """Left half red, right half blue, with a little texture so "unchanged" means something."""
    rng = np.random.default_rng(7)
    pixels = np.zeros((size, size, 3), np.uint8)
    pixels[:, : size // 2] = (220, 30, 30)
    pixels[:, size // 2 :] = (30, 30, 220)
    return np.clip(pixels.astype(int) + rng.integers(-20, 21, pixels.shape), 0, 255).astype(np.uint8)


def centre_square_mask(size=64, start=20, end=44, level=255) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    mask[start:end, start:end] = level
    return mask


def test_fill_changes_only_masked_pixels_and_pulls_them_toward_the_surroundings():
    pixels = two_halves()
    pixels[20:44, 20:44] = (255, 255, 255)  # a white object to paint out
    mask = centre_square_mask()
    filled = np.asarray(fill_masked_area(Image.fromarray(pixels), Image.fromarray(mask)))
    outside = mask == 0
    assert np.array_equal(filled[outside], pixels[outside])
    inside = filled[20:44, 20:44].astype(int)
    assert inside.min() < 250, "the white object is gone"
    # Left part of the hole is reddish, right part bluish: colours come from the nearer side.
    assert inside[:, :4, 0].mean() > inside[:, :4, 2].mean() + 60
    assert inside[:, -4:, 2].mean() > inside[:, -4:, 0].mean() + 60


def test_fill_of_a_hole_in_a_flat_colour_is_that_colour():
    pixels = np.full((48, 80, 3), (40, 160, 90), np.uint8)
    pixels[10:30, 30:60] = (0, 0, 0)
    mask = np.zeros((48, 80), np.uint8)
    mask[10:30, 30:60] = 255
    filled = np.asarray(fill_masked_area(Image.fromarray(pixels), Image.fromarray(mask))).astype(int)
    assert np.abs(filled - (40, 160, 90)).max() <= 1


def test_partly_masked_pixels_mix_toward_the_fill():
    pixels = np.full((32, 32, 3), (0, 200, 0), np.uint8)
    pixels[8:24, 8:24] = (255, 0, 255)
    mask = centre_square_mask(32, 8, 24, level=128)
    filled = np.asarray(fill_masked_area(Image.fromarray(pixels), Image.fromarray(mask))).astype(int)
    centre = filled[16, 16]
    assert 0 < centre[1] < 200 and 0 < centre[0] < 255, "half kept, half filled"
    assert np.array_equal(filled[0, 0], (0, 200, 0))


def test_fully_masked_picture_has_nothing_to_fill_from():
    image = Image.new("RGB", (16, 16), (90, 90, 90))
    filled = fill_masked_area(image, Image.new("L", (16, 16), 255))
    assert np.asarray(filled).max() == 0


def test_size_mismatch_is_refused():
    with pytest.raises(ValueError, match="differ"):
        fill_masked_area(Image.new("RGB", (16, 16)), Image.new("L", (8, 16)))
