"""Only-masked crop regions pinned on small examples (bounding box + padding, grown to the output
aspect ratio, clamped at each border), the paste-back location, and the final composite."""

import numpy as np
import pytest
from PIL import Image

from modules.images.inpaint_area import (
    composite,
    crop_for_processing,
    expand_to_aspect,
    mask_bounding_box,
    only_masked_region,
    overlay_mask,
    paste_back,
)
from modules.images.masks import blur_mask


def mask_with(width, height, *boxes) -> Image.Image:
    pixels = np.zeros((height, width), np.uint8)
    for x1, y1, x2, y2 in boxes:
        pixels[y1:y2, x1:x2] = 255
    return Image.fromarray(pixels)


def test_bounding_box_plus_padding():
    mask = mask_with(100, 80, (40, 30, 50, 35))
    assert mask_bounding_box(mask) == (40, 30, 50, 35)
    assert mask_bounding_box(mask, 4) == (36, 26, 54, 39)
    # Two separate strokes: one box around both.
    assert mask_bounding_box(mask_with(100, 80, (10, 10, 12, 12), (60, 50, 70, 52)), 0) == (10, 10, 70, 52)


def test_padding_is_clamped_at_every_border():
    assert mask_bounding_box(mask_with(100, 80, (2, 3, 97, 78)), 10) == (0, 0, 100, 80)
    assert mask_bounding_box(mask_with(100, 80, (5, 70, 8, 80)), 6) == (0, 64, 14, 80)


def test_empty_mask_has_no_region():
    assert mask_bounding_box(Image.new("L", (16, 16))) is None
    assert only_masked_region(Image.new("L", (16, 16)), 8, 64, 64) is None


def test_wide_region_grows_in_height_centred():
    # 18x13 -> square: 5 more rows, 2 above and 3 below.
    assert expand_to_aspect((36, 26, 54, 39), 64, 64, 100, 80) == (36, 24, 54, 42)
    assert only_masked_region(mask_with(100, 80, (40, 30, 50, 35)), 4, 64, 64) == (36, 24, 54, 42)


def test_tall_region_grows_in_width_to_a_wide_output():
    # 10x20 for a 2:1 output: 40 wide, 15 more on each side.
    assert expand_to_aspect((40, 30, 50, 50), 128, 64, 100, 80) == (25, 30, 65, 50)


def test_growth_past_the_top_slides_down():
    assert expand_to_aspect((38, 0, 62, 7), 64, 64, 100, 80) == (38, 0, 62, 24)


def test_growth_past_the_bottom_slides_up():
    assert expand_to_aspect((38, 75, 62, 80), 64, 64, 100, 80) == (38, 56, 62, 80)


def test_growth_past_the_left_and_right_borders_slides_inside():
    assert expand_to_aspect((0, 20, 6, 40), 64, 64, 100, 80) == (0, 20, 20, 40)
    assert expand_to_aspect((95, 20, 100, 40), 64, 64, 100, 80) == (80, 20, 100, 40)


def test_growth_larger_than_the_image_is_clamped_to_it():
    # A 90x10 stroke wants a 90x90 square; the image is only 40 tall.
    assert expand_to_aspect((5, 15, 95, 25), 64, 64, 100, 40) == (5, 0, 95, 40)


def test_crop_for_processing_brings_the_region_to_the_output_size():
    pixels = np.zeros((80, 100, 3), np.uint8)
    pixels[24:42, 36:45] = (255, 0, 0)  # left half of the region red
    pixels[24:42, 45:54] = (0, 0, 255)  # right half blue
    cropped = np.asarray(crop_for_processing(Image.fromarray(pixels), (36, 24, 54, 42), 64, 64))
    assert cropped.shape == (64, 64, 3)
    assert cropped[32, 10, 0] > 200 and cropped[32, 54, 2] > 200


def test_paste_back_lands_in_the_region_and_leaves_everything_else_exact():
    rng = np.random.default_rng(3)
    original = rng.integers(0, 256, (80, 100, 3), dtype=np.uint8)
    generated = np.zeros((64, 64, 3), np.uint8)
    generated[:, :32] = (255, 0, 0)
    generated[:, 32:] = (0, 0, 255)
    region = (36, 24, 54, 42)
    mask = mask_with(100, 80, region)
    out = np.asarray(paste_back(Image.fromarray(generated), Image.fromarray(original), mask, region))
    assert out.shape == (80, 100, 3)
    outside = np.asarray(mask) == 0
    assert np.array_equal(out[outside], original[outside])
    # Scaled to 18x18 at (36, 24): red on columns 36..44, blue on 45..53 (Lanczos blends the seam).
    assert (out[24:42, 36:43, 0] > 200).all() and (out[24:42, 36:43, 2] < 60).all()
    assert (out[24:42, 47:54, 2] > 200).all() and (out[24:42, 47:54, 0] < 60).all()


def test_composite_is_exact_outside_the_blurred_mask_and_generated_inside():
    rng = np.random.default_rng(5)
    original = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    generated = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    blurred = blur_mask(mask_with(64, 64, (16, 16, 48, 48)), 4, 4)
    out = np.asarray(composite(Image.fromarray(generated), Image.fromarray(original), blurred)).astype(int)
    weights = np.asarray(blurred)
    assert (weights == 0).any() and (weights == 255).any() and ((weights > 0) & (weights < 255)).any()
    assert np.array_equal(out[weights == 0], original[weights == 0])
    assert np.array_equal(out[weights == 255], generated[weights == 255])
    between = (weights > 0) & (weights < 255)
    low = np.minimum(original, generated)[between]
    high = np.maximum(original, generated)[between]
    assert ((out[between] >= low) & (out[between] <= high)).all()


def test_whole_picture_paste_back_doubles_the_blurred_mask():
    blurred = Image.fromarray(np.array([[0, 1, 100, 127, 128, 200, 255]], np.uint8))
    assert np.asarray(overlay_mask(blurred, only_masked=False)).tolist() == [[0, 2, 200, 254, 255, 255, 255]]
    assert np.asarray(overlay_mask(blurred, only_masked=True)).tolist() == [[0, 1, 100, 127, 128, 200, 255]]
    original = Image.new("RGB", (7, 1), (10, 10, 10))
    generated = Image.new("RGB", (7, 1), (210, 210, 210))
    out = np.asarray(paste_back(generated, original, overlay_mask(blurred, only_masked=False)))[0, :, 0]
    assert out.tolist() == [10, 12, 167, 209, 210, 210, 210]


def test_paste_back_refuses_mismatched_sizes():
    with pytest.raises(ValueError, match="differ"):
        paste_back(Image.new("RGB", (8, 8)), Image.new("RGB", (16, 16)), Image.new("L", (16, 16)))
    with pytest.raises(ValueError, match="differ"):
        paste_back(Image.new("RGB", (16, 16)), Image.new("RGB", (16, 16)), Image.new("L", (8, 8)))
