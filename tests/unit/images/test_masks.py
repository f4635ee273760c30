"""Inpainting masks: from alpha (< 128 masked) and luminance, inverted, blurred with A1111's kernel
length separately in x and y, and brought to the latent grid."""

import numpy as np
import pytest
from PIL import Image

from modules.images.masks import (
    blur_kernel_size,
    blur_mask,
    invert_mask,
    latent_mask,
    mask_from_alpha,
    mask_from_luminance,
    mask_from_upload,
)


def rgba_with_alpha(alpha_values) -> Image.Image:
    alpha = np.asarray(alpha_values, np.uint8)[None, :]
    pixels = np.concatenate([np.full(alpha.shape + (3,), 200, np.uint8), alpha[..., None]], axis=-1)
    return Image.fromarray(pixels)


def test_alpha_below_128_is_masked():
    mask = mask_from_alpha(rgba_with_alpha([0, 1, 127, 128, 129, 255]))
    assert mask.mode == "L"
    assert np.asarray(mask).tolist() == [[255, 255, 255, 0, 0, 0]]


def test_alpha_read_as_a_painted_layer_masks_the_opaque_part():
    mask = mask_from_alpha(rgba_with_alpha([0, 128, 129, 255]), transparent_is_masked=False)
    assert np.asarray(mask).tolist() == [[0, 0, 255, 255]]


def test_alpha_mask_of_an_opaque_mode_is_refused():
    with pytest.raises(ValueError, match="no alpha"):
        mask_from_alpha(Image.new("RGB", (4, 4)))


def test_luminance_mask_keeps_grey_levels_and_reads_white_as_masked():
    pixels = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [128, 128, 128]]], np.uint8)
    mask = np.asarray(mask_from_luminance(Image.fromarray(pixels)))
    assert mask.tolist() == [[0, 255, 76, 128]]


def test_upload_uses_alpha_only_when_some_pixel_is_not_opaque():
    see_through = rgba_with_alpha([0, 255])
    assert np.asarray(mask_from_upload(see_through)).tolist() == [[255, 0]]
    opaque = rgba_with_alpha([255, 255])  # colour 200 everywhere: luminance decides
    assert np.asarray(mask_from_upload(opaque)).tolist() == [[200, 200]]


def test_invert_swaps_masked_and_kept():
    mask = Image.fromarray(np.array([[0, 255, 100]], np.uint8))
    assert np.asarray(invert_mask(mask)).tolist() == [[255, 0, 155]]


@pytest.mark.parametrize(("sigma", "kernel"), [(0.5, 3), (1, 7), (4, 21), (4.2, 23), (64, 321)])
def test_blur_kernel_length_is_a1111s(sigma, kernel):
    assert blur_kernel_size(sigma) == kernel


def half_plane(size=64, edge=32) -> Image.Image:
    """White from column `edge` rightwards, black to its left."""
    pixels = np.zeros((size, size), np.uint8)
    pixels[:, edge:] = 255
    return Image.fromarray(pixels)


@pytest.mark.parametrize("sigma", [1, 4])
def test_horizontal_blur_reaches_exactly_the_kernel_radius(sigma):
    radius = (blur_kernel_size(sigma) - 1) // 2
    row = np.asarray(blur_mask(half_plane(), sigma, 0))[10]
    assert row[32 - radius] > 0 and row[32 - radius - 1] == 0
    assert row[32 + radius - 1] < 255 and row[32 + radius] == 255


def square_mask() -> Image.Image:
    pixels = np.zeros((48, 48), np.uint8)
    pixels[16:32, 16:32] = 255
    return Image.fromarray(pixels)


def test_blur_in_x_and_y_are_separate():
    only_x = np.asarray(blur_mask(square_mask(), 4, 0))
    assert (only_x[:16] == 0).all() and (only_x[32:] == 0).all(), "x blur must not spread vertically"
    assert only_x[24, 10] > 0, "x blur spreads sideways"
    only_y = np.asarray(blur_mask(square_mask(), 0, 4))
    assert (only_y[:, :16] == 0).all() and (only_y[:, 32:] == 0).all(), "y blur must not spread sideways"
    assert only_y[10, 24] > 0
    both = np.asarray(blur_mask(square_mask(), 2, 6))
    # Radii 5 in x and 15 in y: the spread follows each axis's own sigma.
    assert both[24, 16 - 5] > 0 and both[24, 16 - 6] == 0
    assert both[16 - 15, 24] > 0 and both[16 - 16, 24] == 0


def test_zero_blur_changes_nothing_and_negative_blur_is_refused():
    assert np.array_equal(np.asarray(blur_mask(square_mask(), 0, 0)), np.asarray(square_mask()))
    with pytest.raises(ValueError):
        blur_mask(square_mask(), -1, 0)


def test_latent_mask_is_the_mask_on_the_latent_grid_rounded_or_soft():
    pixels = np.zeros((64, 64), np.uint8)
    pixels[:, 32:] = 255
    pixels[:, 28:32] = 100  # a soft band
    soft = latent_mask(Image.fromarray(pixels), 8, 8, round_mask=False)
    assert soft.shape == (8, 8) and soft.dtype == np.float32
    assert soft[0, 0] == 0 and soft[0, 7] == 1 and 0 < soft[0, 3] < 1
    hard = latent_mask(Image.fromarray(pixels), 8, 8)
    assert set(np.unique(hard)) <= {0.0, 1.0}
    assert hard[:, :3].max() == 0 and hard[:, 4:].min() == 1
