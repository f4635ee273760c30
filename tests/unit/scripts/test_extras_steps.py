"""The built-in Extras steps (Create flipped copies, Split oversized images, Auto-sized crop) on
real pictures: pixels, sizes and the sizes each objective picks."""

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from modules.plugins.types import StepContext
from scripts import builtin_steps
from scripts.postprocessing_autosized_crop import AutoCropArgs, autosized_crop, best_size
from scripts.postprocessing_flipped_copies import FlipArgs, flipped_copies
from scripts.postprocessing_split_oversized import SplitArgs, split_oversized


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def context(target=None) -> StepContext:
    return StepContext(settings=None, models_dir=None, target_size=target)


def test_the_three_steps_are_built_in_in_a1111_order():
    names = [step.name for step in builtin_steps()]
    assert names == ["Split oversized images", "Auto-sized crop", "Create flipped copies"]


def test_flipped_copies_keep_the_picture_and_add_each_mirror():
    picture = noise(5, 3)
    made = flipped_copies(picture, FlipArgs(directions=["Both", "Horizontal", "Vertical"]), context())
    pixels = [np.asarray(image) for image in made]
    source = np.asarray(picture)
    assert len(made) == 4 and np.array_equal(pixels[0], source)
    assert np.array_equal(pixels[1], source[:, ::-1])  # Horizontal, in the menu's order
    assert np.array_equal(pixels[2], source[::-1, :])  # Vertical
    assert np.array_equal(pixels[3], source[::-1, ::-1])  # Both
    with pytest.raises(ValueError, match="at least one"):
        flipped_copies(picture, FlipArgs(directions=[]), context())
    with pytest.raises(ValidationError):
        FlipArgs(directions=["Diagonal"])


def test_split_cuts_a_tall_picture_into_overlapping_parts_of_the_target():
    picture = noise(32, 128)  # resized to 64x256 for a 64x64 target
    parts = split_oversized(picture, SplitArgs(split_threshold=0.5, overlap_ratio=0.2), context((64, 64)))
    # ceil((256 - 64 * 0.2) / (64 * 0.8)) = 5 parts, spread from the top to the bottom
    assert [part.size for part in parts] == [(64, 64)] * 5
    resized = np.asarray(picture.resize((64, 256), Image.Resampling.LANCZOS))
    assert np.array_equal(np.asarray(parts[0]), resized[:64])
    assert np.array_equal(np.asarray(parts[-1]), resized[-64:])
    assert np.array_equal(np.asarray(parts[2]), resized[96:160])  # step (256 - 64) / 4 = 48


def test_split_cuts_a_wide_picture_across():
    parts = split_oversized(noise(300, 50), SplitArgs(overlap_ratio=0.0), context((100, 100)))
    assert [part.size for part in parts] == [(100, 100)] * 6  # 600x100 in six


def test_split_leaves_a_picture_close_to_the_target_aspect():
    picture = noise(40, 64)
    assert split_oversized(picture, SplitArgs(), context((64, 64))) == [picture]  # ratio 0.625 > 0.5
    assert len(split_oversized(picture, SplitArgs(split_threshold=0.7), context((64, 64)))) == 2
    with pytest.raises(ValueError, match="target size"):
        split_oversized(picture, SplitArgs(), context(None))


def test_autosized_crop_objectives_pick_different_sizes():
    args = AutoCropArgs(max_area=300_000)
    assert best_size((900, 600), args) == (640, 448)  # the largest area within 10% of 3:2
    assert best_size((900, 600), args.model_copy(update={"objective": "Minimize error"})) == (576, 384)
    assert best_size((1000, 500), AutoCropArgs()) == (768, 384)
    cropped = autosized_crop(noise(900, 600), args, context())
    assert cropped.size == (640, 448)


def test_autosized_crop_centres_the_cut():
    picture = Image.new("RGB", (1000, 500), "black")
    picture.paste(Image.new("RGB", (100, 500), "white"), (450, 0))  # a white stripe in the middle
    made = autosized_crop(picture, AutoCropArgs(threshold=0.35, max_area=200_000), context())
    assert made.size == (512, 384)  # covered at 768x384, then its middle 512 columns
    cropped = np.asarray(made)
    middle = cropped.shape[1] // 2
    assert cropped[:, middle].min() > 200 and cropped[:, 0].max() < 60 and cropped[:, -1].max() < 60


def test_autosized_crop_leaves_a_picture_no_size_fits():
    picture = noise(2000, 100)
    assert autosized_crop(picture, AutoCropArgs(), context()) is picture
    with pytest.raises(ValidationError, match="dimension lower bound"):
        AutoCropArgs(min_dimension=800, max_dimension=512)
