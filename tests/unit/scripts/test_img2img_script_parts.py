"""The pieces of the img2img scripts that need no model: arguments (named and A1111's positional),
outpainting geometry, the matched-noise fill, upscaler names, infotext keys."""

import numpy as np
import pytest
from PIL import Image

from modules.plugins.scripts import ScriptArgsError, parse_script_args
from scripts._img2img_scripts import Expansion, check_canvas, expansion, parse_directions, with_params
from scripts._matched_noise import match_histogram, matched_noise
from scripts._upscalers import resolve_upscaler, upscaler_names
from scripts.outpainting_mk2 import OutpaintingMk2
from scripts.poor_mans_outpainting import PoorMansOutpainting, grown_canvas, outpainting_mask
from scripts.sd_upscale import SDUpscale, tile_side, upscaled_size


def noise_picture(width: int, height: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def test_sd_upscale_takes_a1111_positional_args_and_names():
    args = parse_script_args(SDUpscale, ["<p>info</p>", 32, "Lanczos", 2.5])
    assert (args.overlap, args.upscaler_index, args.scale_factor) == (32, "Lanczos", 2.5)
    assert parse_script_args(SDUpscale, {"overlap": 0, "upscaler_index": 1}).upscaler_index == 1
    defaults = parse_script_args(SDUpscale, None)
    assert (defaults.overlap, defaults.upscaler_index, defaults.scale_factor) == (64, "None", 2.0)
    with pytest.raises(ScriptArgsError, match="scale_factor"):
        parse_script_args(SDUpscale, [None, 64, "Lanczos", 9.0])
    with pytest.raises(ScriptArgsError, match="overlap"):
        parse_script_args(SDUpscale, {"overlap": -1})


def test_outpainting_args_in_a1111_order_with_labels():
    mk2 = parse_script_args(OutpaintingMk2, ["", 64, 4, ["Left", "up"], 0.5, 0.1])
    assert (mk2.pixels, mk2.mask_blur, mk2.direction, mk2.noise_q, mk2.color_variation) == (
        64, 4, ["left", "up"], 0.5, 0.1)  # fmt: skip
    poor = parse_script_args(PoorMansOutpainting, [32, 2, "latent noise", ["down", "right"]])
    assert (poor.pixels, poor.mask_blur, poor.inpainting_fill, poor.direction) == (32, 2, 2, ["right", "down"])
    assert parse_script_args(PoorMansOutpainting, {"inpainting_fill": 3}).inpainting_fill == 3
    defaults = parse_script_args(OutpaintingMk2, None)
    assert (defaults.pixels, defaults.mask_blur, defaults.direction) == (128, 8, ["left", "right", "up", "down"])


@pytest.mark.parametrize("script", [OutpaintingMk2, PoorMansOutpainting])
@pytest.mark.parametrize("direction", [[], "", ["north"]])
def test_no_direction_or_an_unknown_one_is_refused(script, direction):
    with pytest.raises(ScriptArgsError, match="direction"):
        parse_script_args(script, {"direction": direction})


def test_directions_come_in_a1111_order():
    assert parse_directions("down, LEFT") == ["left", "down"]
    assert parse_directions(["up", "up"]) == ["up"]


@pytest.mark.parametrize(
    ("size", "pixels", "directions", "expected"),
    [
        ((64, 64), 128, ["left", "right", "up", "down"], (128, 128, 128, 128, 320, 320)),
        ((96, 64), 32, ["left"], (32, 0, 0, 0, 128, 64)),
        ((64, 64), 32, ["left"], (64, 0, 0, 0, 128, 64)),  # rounded up to 64: the side takes the extra
        ((100, 100), 50, ["left", "right"], (78, 78, 0, 0, 256, 128)),
        ((512, 512), 128, ["down"], (0, 0, 0, 128, 512, 640)),
    ],
)
def test_expansion_follows_a1111s_arithmetic(size, pixels, directions, expected):
    grown = expansion(*size, pixels, directions)
    assert (grown.left, grown.right, grown.up, grown.down, grown.width, grown.height) == expected


def test_a_canvas_over_the_size_limits_is_refused():
    with pytest.raises(ValueError, match="at most 2048"):
        check_canvas(expansion(2000, 512, 128, ["left"]), 1)
    with pytest.raises(ValueError, match="batch_size"):
        check_canvas(expansion(1280, 1280, 128, ["left", "right", "up", "down"]), 8)  # 8 x 1536x1536
    check_canvas(expansion(512, 512, 128, ["left", "right", "up", "down"]), 8)


def test_poor_mans_mask_keeps_the_picture_shrunk_at_grown_edges_only():
    grown = Expansion(left=32, right=32, up=0, down=0, width=128, height=64)  # a 64x64 picture at x 32
    mask = np.asarray(outpainting_mask((128, 64), grown, 4))
    assert (mask[:, 36:93] == 0).all()  # kept: shrunk by 4 on the left, by 3 on the right (A1111's rectangle)
    assert (mask[:, :36] == 255).all() and (mask[:, 93:] == 255).all()


def test_poor_mans_canvas_pads_an_axis_not_grown_with_the_pictures_edge():
    picture = noise_picture(64, 40)
    canvas = np.asarray(grown_canvas(picture, Expansion(0, 64, 0, 0, 128, 64)))
    assert np.array_equal(canvas[:40, :64], np.asarray(picture))
    assert (canvas[40:, :64] == np.asarray(picture)[39]).all()  # the last row repeated, not black
    assert (canvas[:, 64:] == 0).all()  # the grown strip: black until the masked content paints it


def test_matched_noise_keeps_known_pixels_and_matches_their_colours():
    rng = np.random.default_rng(1)
    picture = np.zeros((64, 96, 3))
    picture[:, 32:] = np.clip(rng.normal((0.8, 0.3, 0.2), 0.05, (64, 64, 3)), 0, 1)  # a reddish known part
    mask = np.zeros((64, 96))
    mask[:, :32] = 1
    filled = matched_noise(picture, mask, 1.0, 0.05)
    assert filled.shape == picture.shape and filled.min() >= 0 and filled.max() <= 1
    assert np.array_equal(filled[:, 32:], picture[:, 32:])
    new = filled[:, :32].reshape(-1, 3)
    assert np.allclose(new.mean(axis=0), (0.8, 0.3, 0.2), atol=0.03)  # the known part's colours, not black
    assert new.std(axis=0).min() > 0.02  # noise, not a flat fill
    assert np.array_equal(filled, matched_noise(picture, mask, 1.0, 0.05))  # deterministic


def test_histogram_matching_takes_the_references_distribution():
    values = np.linspace(0, 1, 1000)
    reference = np.random.default_rng(2).normal(5, 2, 1000)
    matched = match_histogram(values, reference)
    assert np.allclose(np.sort(matched), np.sort(reference), atol=1e-9)
    assert (np.diff(matched) >= 0).all()  # the order is kept


def test_upscaler_names_and_indexes():
    names = upscaler_names()
    assert names[:3] == ["None", "Lanczos", "Nearest"]
    assert resolve_upscaler(names, 1) == "Lanczos"
    assert resolve_upscaler(names, "nearest") == "Nearest"
    for bad in (7, "../../etc/passwd", "ESRGAN_4x"):
        with pytest.raises(ValueError, match="upscaler"):
            resolve_upscaler(names, bad)


def test_tile_sizes_and_the_upscaled_size():
    assert upscaled_size(96, 64, "Lanczos", 2.0) == (192, 128)
    assert upscaled_size(96, 64, "None", 2.0) == (96, 64)  # A1111: "None" does not scale
    assert tile_side(512, 192) == 192 and tile_side(64, 192) == 64 and tile_side(512, 100) == 96
    with pytest.raises(ValueError, match="smaller"):
        tile_side(512, 60)


def test_script_keys_are_added_to_the_parameters_line():
    text = "a cat\nNegative prompt: dog\nSteps: 2, Seed: 3"
    added = with_params(text, {"SD upscale overlap": 16, "SD upscale upscaler": "Lanczos"})
    assert added == text + ", SD upscale overlap: 16, SD upscale upscaler: Lanczos"
    assert with_params(text, {"Outpainting direction": "left, up"}).endswith('Outpainting direction: "left, up"')


def test_the_script_picture_is_flattened():
    class Settings:
        def get(self, key):
            return {"img2img_background_color": "#ff0000"}[key]

    class Request:
        init_images = [Image.new("RGBA", (8, 8), (0, 0, 0, 0))]

    class P:
        request, settings = Request(), Settings()

    from scripts._img2img_scripts import input_picture

    assert input_picture(P()).getpixel((0, 0)) == (255, 0, 0)
