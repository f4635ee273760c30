"""img2img resize modes pinned on non-square inputs: output size, where the content lands, what
fills the bars; mode 3's latent interpolation; the img2img upscaler hook."""

import numpy as np
import pytest
import torch
from PIL import Image

from modules.images.resize_modes import (
    ResizeMode,
    cover_size,
    fit_size,
    interpolate_latent,
    latent_size,
    resize_image,
)

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
YELLOW, CYAN, GREY = (255, 255, 0), (0, 255, 255), (128, 128, 128)


def quarters_wide() -> Image.Image:
    """40x20: four 10-pixel-wide vertical stripes, red | green | blue | white."""
    pixels = np.zeros((20, 40, 3), np.uint8)
    for index, colour in enumerate((RED, GREEN, BLUE, WHITE)):
        pixels[:, index * 10 : (index + 1) * 10] = colour
    return Image.fromarray(pixels)


def banded_wide() -> Image.Image:
    """40x20: rows 0-4 yellow, 5-14 grey, 15-19 cyan."""
    pixels = np.full((20, 40, 3), GREY, np.uint8)
    pixels[:5] = YELLOW
    pixels[15:] = CYAN
    return Image.fromarray(pixels)


def near(pixel, colour, tolerance=12) -> bool:
    return bool(np.all(np.abs(np.asarray(pixel, int) - np.asarray(colour, int)) <= tolerance))


def test_just_resize_stretches_every_stripe_across_the_output():
    out = np.asarray(resize_image(quarters_wide(), 0, 32, 32))
    assert out.shape == (32, 32, 3)
    # Each 10-pixel stripe becomes 8 pixels wide and the full 32 tall.
    for index, colour in enumerate((RED, GREEN, BLUE, WHITE)):
        assert near(out[0, index * 8 + 4], colour) and near(out[31, index * 8 + 4], colour)


def test_crop_and_resize_covers_and_cuts_the_overhang_equally_on_both_sides():
    assert cover_size(40, 20, 32, 32) == (64, 32)
    out = np.asarray(resize_image(quarters_wide(), ResizeMode.CROP_AND_RESIZE, 32, 32))
    assert out.shape == (32, 32, 3)
    # Scaled to 64x32 (16-pixel stripes), centred: columns 16..47 remain -> green | blue.
    assert near(out[16, 6], GREEN) and near(out[16, 26], BLUE)
    # The edge columns are the stripe boundaries of the scaled picture: mostly green / blue.
    assert (out[:, 0, 1] > 2 * out[:, 0, 0]).all() and (out[:, 31, 2] > 2 * out[:, 31, 0]).all()
    reddish = (out[..., 0] > 200) & (out[..., 1] < 60) & (out[..., 2] < 60)
    assert not reddish.any(), "the red stripe lies in the cut-off overhang"


def test_crop_and_resize_of_a_tall_input_cuts_top_and_bottom():
    tall = quarters_wide().transpose(Image.Transpose.TRANSPOSE)  # 20x40, stripes now horizontal
    out = np.asarray(resize_image(tall, 1, 32, 32))
    assert near(out[6, 16], GREEN) and near(out[26, 16], BLUE)


def test_resize_and_fill_fits_centres_and_stretches_the_edge_rows_into_the_bars():
    assert fit_size(40, 20, 32, 32) == (32, 16)
    out = np.asarray(resize_image(banded_wide(), ResizeMode.RESIZE_AND_FILL, 32, 32))
    assert out.shape == (32, 32, 3)
    # Content at rows 8..23 (32x16, centred); the bars repeat its first and last rows exactly.
    assert near(out[8, 16], YELLOW) and near(out[16, 16], GREY) and near(out[23, 16], CYAN)
    assert (out[:8] == out[8]).all()
    assert (out[24:] == out[23]).all()


def test_resize_and_fill_of_a_tall_input_stretches_the_edge_columns():
    tall = banded_wide().transpose(Image.Transpose.TRANSPOSE)  # 20x40: yellow left, cyan right
    out = np.asarray(resize_image(tall, 2, 32, 32))
    assert near(out[16, 8], YELLOW) and near(out[16, 23], CYAN)
    assert (out[:, :8] == out[:, 8:9]).all()
    assert (out[:, 24:] == out[:, 23:24]).all()


def test_resize_and_fill_leaves_no_unfilled_line_when_the_leftover_is_odd():
    # 40x20 into 32x33: content 32x16 at row 8; 8 rows above, 9 below (A1111 leaves one black).
    out = np.asarray(resize_image(banded_wide(), 2, 32, 33))
    assert out.shape == (33, 32, 3)
    assert (out.max(axis=-1) > 0).all()
    assert (out[24:] == out[23]).all()


def test_resize_modes_keep_a_mask_a_mask():
    mask = Image.new("L", (40, 20), 0)
    mask.paste(255, (0, 0, 20, 20))
    for mode in (0, 1, 2, 3):
        out = resize_image(mask, mode, 32, 16)
        assert out.mode == "L" and out.size == (32, 16)
        assert np.asarray(out)[8, 4] > 200 and np.asarray(out)[8, 28] < 50


def test_latent_mode_stretches_pictures_like_just_resize():
    image = quarters_wide()
    assert np.array_equal(np.asarray(resize_image(image, 3, 24, 16)), np.asarray(resize_image(image, 0, 24, 16)))


def test_bad_mode_and_size_are_refused():
    with pytest.raises(ValueError):
        resize_image(quarters_wide(), 4, 32, 32)
    with pytest.raises(ValueError, match="at least 1x1"):
        resize_image(quarters_wide(), 0, 0, 32)


def test_upscaler_is_used_only_to_enlarge_colour_pictures():
    calls = []

    def upscale(image, scale):
        calls.append((image.size, scale))
        return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.NEAREST)

    image = quarters_wide()
    assert resize_image(image, 0, 80, 40, upscale=upscale).size == (80, 40)
    assert calls == [((40, 20), 2.0)]
    # Mode 1 upscales to the cover size (64x32 from 40x20: x1.6).
    resize_image(image, 1, 32, 32, upscale=upscale)
    assert calls[-1] == ((40, 20), 1.6)
    calls.clear()
    resize_image(image, 0, 20, 10, upscale=upscale)  # shrinking: Lanczos only
    resize_image(Image.new("L", (40, 20)), 0, 80, 40, upscale=upscale)  # masks: Lanczos only
    assert calls == []


def test_latent_interpolation_reaches_the_output_latent_size_keeping_orientation():
    assert latent_size(512, 768) == (64, 96)
    latent = torch.zeros(1, 4, 5, 10)
    latent[..., :, :5] = 1.0  # left half marked
    out = interpolate_latent(latent, latent_width=8, latent_height=6)
    assert out.shape == (1, 4, 6, 8)
    assert torch.allclose(out, torch.nn.functional.interpolate(latent, size=(6, 8), mode="bilinear"))
    assert float(out[0, 0, 3, 0]) == pytest.approx(1.0) and float(out[0, 0, 3, 7]) == pytest.approx(0.0)
    assert interpolate_latent(latent, 10, 5) is latent
