"""The judge must read back what shapes.py drew, also after blur and noise like a model's output."""

import random

import cv2
import numpy as np
import pytest

from modules.training.judge import Verdict, agreement, judge
from modules.training.shapes import BACKGROUNDS, Scene, random_scene, render


def _single_scenes(count: int, start: int = 0) -> list[tuple[int, Scene]]:
    return [(seed, random_scene(random.Random(seed), two_object_rate=0.0)) for seed in range(start, start + count)]


def _degrade(image: np.ndarray, seed: int, blur: float = 1.5, noise: float = 8.0) -> np.ndarray:
    """Soft edges plus sensor-like noise: roughly what a small diffusion model draws."""
    out = cv2.GaussianBlur(image.astype(np.float32), (0, 0), blur)
    out += np.random.default_rng(seed).normal(0.0, noise, out.shape).astype(np.float32)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _score(images_and_scenes) -> dict[str, float]:
    verdicts, expected = [], []
    for image, scene in images_and_scenes:
        verdicts.append(judge(image))
        expected.append(scene.combo())
    return agreement(verdicts, expected)


def test_clean_renders_are_read_back_exactly():
    scores = _score((render(scene, 128, jitter=random.Random(seed)), scene) for seed, scene in _single_scenes(200))
    # Measured: 1.0 on all three (also over 2000 scenes).
    assert scores == {"colour": 1.0, "shape": 1.0, "background": 1.0, "count": 200}


def test_blurred_noisy_renders_are_still_read_back():
    scores = _score(
        (_degrade(render(scene, 128, jitter=random.Random(seed)), seed), scene) for seed, scene in _single_scenes(200)
    )
    # Measured: 1.0 on all three here and over 2000 scenes; the shape floor leaves room for 2 misses.
    assert scores["background"] == 1.0
    assert scores["colour"] == 1.0
    assert scores["shape"] >= 0.99


def test_heavier_blur_and_noise_still_mostly_right():
    # Much more blur and three times the noise. Measured: shape 1.0 on these 100, 0.991 over 1000.
    scores = _score(
        (_degrade(render(scene, 128, jitter=random.Random(seed)), seed, blur=2.5, noise=24.0), scene)
        for seed, scene in _single_scenes(100, start=1000)
    )
    assert scores["background"] == 1.0
    assert scores["colour"] == 1.0
    assert scores["shape"] >= 0.97


@pytest.mark.parametrize("size", [64, 256])
def test_other_picture_sizes(size):
    scenes = _single_scenes(30, start=500)
    clean = _score((render(scene, size, jitter=random.Random(seed)), scene) for seed, scene in scenes)
    assert clean == {"colour": 1.0, "shape": 1.0, "background": 1.0, "count": 30}
    # Blur scaled with the picture, so 64 px sees as soft an edge (relative to the shape) as 128 px does.
    blur = 1.5 * size / 128
    noisy = _score(
        (_degrade(render(scene, size, jitter=random.Random(seed)), seed, blur), scene) for seed, scene in scenes
    )
    assert noisy == {"colour": 1.0, "shape": 1.0, "background": 1.0, "count": 30}


@pytest.mark.parametrize("background", list(BACKGROUNDS))
def test_empty_picture_has_background_but_no_object(background):
    flat = np.empty((128, 128, 3), np.uint8)
    flat[:] = BACKGROUNDS[background]
    assert judge(flat) == Verdict(background, None, None)
    # Noise and a few speckles are not an object either.
    noisy = _degrade(flat, seed=3)
    rng = np.random.default_rng(4)
    ys, xs = rng.integers(0, 128, (2, 40))
    noisy[ys, xs] = rng.integers(0, 256, (40, 3))
    assert judge(noisy) == Verdict(background, None, None)


def _object_masks(scene: Scene, seed: int, size: int = 128) -> list[np.ndarray]:
    """Each object drawn alone where render() puts it: the shared jitter stream hands each its own draws."""
    jitter = random.Random(seed)
    background = np.array(BACKGROUNDS[scene.background])
    return [
        np.abs(render(Scene(scene.background, (obj,)), size, jitter=jitter).astype(int) - background).sum(axis=2) > 0
        for obj in scene.objects
    ]


def test_two_objects_give_one_of_them():
    checked = 0
    for seed in range(300):
        scene = random_scene(random.Random(seed), two_object_rate=1.0)
        masks = _object_masks(scene, seed)
        if (cv2.dilate(masks[0].astype(np.uint8), np.ones((5, 5), np.uint8)) & masks[1]).any():
            continue  # touching objects merge into one blob: a real ambiguity, not judged here
        checked += 1
        image = _degrade(render(scene, 128, jitter=random.Random(seed)), seed)
        verdict = judge(image)
        pairs = [(obj.colour, obj.shape) for obj in scene.objects]
        assert verdict.background == scene.background
        # Colour and shape come from the same object, not one from each.
        assert (verdict.colour, verdict.shape) in pairs, (seed, scene, verdict)
        areas = [mask.sum() for mask in masks]
        if max(areas) > 1.25 * min(areas):  # clearly different sizes: it must be the larger one
            assert (verdict.colour, verdict.shape) == pairs[int(np.argmax(areas))], (seed, scene, verdict)
    assert checked > 250  # the skip above must stay the exception


def test_agreement_counts_fractions():
    verdicts = [Verdict("white", "red", "star"), Verdict("gray", None, None), Verdict("black", "red", "circle")]
    expected = [("red", "star", "white"), ("blue", "square", "gray"), ("red", "square", "white")]
    assert agreement(verdicts, expected) == {"colour": 2 / 3, "shape": 1 / 3, "background": 2 / 3, "count": 3}
    with pytest.raises(ValueError):
        agreement(verdicts, expected[:2])


def test_rejects_non_rgb_input():
    with pytest.raises(ValueError):
        judge(np.zeros((128, 128), np.uint8))
    with pytest.raises(ValueError):
        judge(np.zeros((128, 128, 3), np.float32))
