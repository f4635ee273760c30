"""Colour correction: the result's LAB histograms move toward the init's while its luminosity stays."""

import cv2
import numpy as np
from PIL import Image

from modules.images.color_correction import (
    apply_color_correction,
    color_reference,
    luminosity,
    match_histogram,
    with_luminosity,
)


def scene(tint, seed) -> np.ndarray:
    """A 64x96 gradient scene with shapes, multiplied by a colour tint."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:64, 0:96].astype(np.float32)
    base = np.stack([xs / 95, ys / 63, (xs + ys) / 158], axis=-1)
    base[20:40, 30:60] = (0.9, 0.8, 0.3)
    base = base * 0.6 + 0.2 + rng.normal(0, 0.03, base.shape)
    return np.clip(base * np.asarray(tint) * 255, 0, 255).astype(np.uint8)


def lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float64)


def histogram_distance(values: np.ndarray, reference: np.ndarray) -> float:
    """1-D earth mover's distance between two equally sized samples (mean gap of sorted values)."""
    return float(np.abs(np.sort(values.ravel()) - np.sort(reference.ravel())).mean())


def luma_levels(rgb: np.ndarray) -> np.ndarray:
    return luminosity(rgb.astype(np.float32) / 255) * 255


def test_colour_histograms_move_toward_the_init_and_luminosity_stays():
    init = scene((1.0, 0.75, 0.55), seed=1)  # warm
    result = scene((0.6, 0.8, 1.1), seed=2)  # drifted toward blue
    corrected = np.asarray(apply_color_correction(color_reference(Image.fromarray(init)), Image.fromarray(result)))
    assert corrected.shape == result.shape and corrected.dtype == np.uint8
    for channel in (1, 2):  # a (green-red) and b (blue-yellow)
        before = histogram_distance(lab(result)[..., channel], lab(init)[..., channel])
        after = histogram_distance(lab(corrected)[..., channel], lab(init)[..., channel])
        assert before > 8, "the test images must differ in colour to begin with"
        assert after < before / 3, (channel, before, after)
    assert np.abs(luma_levels(corrected) - luma_levels(result)).max() <= 1.0


def test_an_image_already_matching_the_init_barely_changes():
    init = scene((1.0, 0.75, 0.55), seed=1)
    corrected = np.asarray(apply_color_correction(color_reference(Image.fromarray(init)), Image.fromarray(init)))
    assert np.abs(corrected.astype(int) - init).mean() < 1.5


def test_histogram_match_maps_levels_onto_the_reference_distribution():
    source = np.repeat(np.arange(0, 100, dtype=np.uint8), 3)
    reference = np.repeat(np.arange(100, 200, dtype=np.uint8), 3)
    matched = match_histogram(source, reference)
    assert np.array_equal(matched, reference)
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, 5000).astype(np.uint8)
    target = np.clip(rng.normal(180, 10, 5000), 0, 255).astype(np.uint8)
    out = match_histogram(noisy, target)
    assert abs(float(out.mean()) - float(target.mean())) < 1.5 and abs(float(out.std()) - float(target.std())) < 1.5
    order = np.argsort(noisy, kind="stable")
    assert (np.diff(out[order].astype(int)) >= 0).all(), "the mapping keeps the order of levels"


def test_set_luminosity_keeps_luma_exact_even_when_colours_would_clip():
    colours = np.array([[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.2, 0.9, 0.2]]], np.float32)
    target = np.array([[0.95, 0.02, 0.5]], np.float32)
    out = with_luminosity(colours, target)
    assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6
    assert np.allclose(luminosity(out), target, atol=1e-5)
