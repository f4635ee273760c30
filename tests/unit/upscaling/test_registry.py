"""The registry over a real models/ folder: what is listed, what is skipped and why, and the sizes
each upscaler gives."""

import numpy as np
import pytest
from PIL import Image

from modules.upscaling import UnknownUpscalerNameError, UpscalerRegistry


def picture(width: int = 24, height: int = 16, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def registry(upscaler_models):
    return UpscalerRegistry(upscaler_models)


def test_names_list_builtins_then_models_by_file_stem(registry):
    assert registry.names() == ["None", "Lanczos", "Nearest", "2x-Tiny", "4x-Tiny"]
    scales = {model.name: (model.scale, model.architecture) for model in registry.models()}
    assert scales == {"2x-Tiny": (2, "ESRGAN"), "4x-Tiny": (4, "ESRGAN")}


def test_unidentified_files_are_skipped_with_the_reason(registry):
    registry.names()
    assert "not a readable weights file" in registry.skipped["garbage"]
    assert "not a regular file" in registry.skipped["folder"]
    assert "notes" not in registry.skipped


def test_a_pickle_that_runs_code_is_refused_and_nothing_runs(registry, upscaler_models):
    registry.names()
    assert "evil" in registry.skipped and "evil" not in registry.names()
    assert "could run code" in registry.skipped["evil"]
    assert not (upscaler_models.parent / "code-ran").exists()
    with pytest.raises(UnknownUpscalerNameError, match="evil"):
        registry.upscale(picture(), "evil", 2)


@pytest.mark.parametrize("name", ["2x-Tiny", "4x-Tiny"])
def test_a_model_upscales_by_its_scale(registry, name):
    scale = registry.scale_of(name)
    source = picture()
    out = registry.upscale(source, name, scale)
    assert out.size == (24 * scale, 16 * scale) and out.mode == "RGB"
    assert np.asarray(out).std() > 1  # a real picture came out, not a constant


def test_the_model_output_differs_from_a_plain_resize(registry):
    source = picture()
    model = np.asarray(registry.upscale(source, "2x-Tiny", 2)).astype(int)
    lanczos = np.asarray(registry.upscale(source, "Lanczos", 2)).astype(int)
    assert np.abs(model - lanczos).mean() > 5


def test_fractional_and_repeated_scales_give_the_exact_size(registry):
    source = picture()
    assert registry.upscale(source, "2x-Tiny", 2.5).size == (60, 40)  # two passes (4x), then Lanczos down
    assert registry.upscale(source, "4x-Tiny", 1.5).size == (36, 24)
    assert registry.upscale(source, "Nearest", 3).size == (72, 48)
    assert registry.upscale_to(source, "2x-Tiny", 50, 30).size == (50, 30)


def test_nearest_keeps_pixel_values(registry):
    source = picture()
    out = np.asarray(registry.upscale(source, "Nearest", 2))
    assert np.array_equal(out[::2, ::2], np.asarray(source))


def test_unknown_names_and_bad_scales_are_value_errors(registry):
    with pytest.raises(ValueError, match="unknown upscaler 'nope'"):
        registry.upscale(picture(), "nope", 2)
    assert registry.resolve("2X-TINY") == "2x-Tiny"
    for scale in (0, -1, float("nan"), 100):
        with pytest.raises(ValueError, match="scale"):
            registry.upscale(picture(), "Lanczos", scale)
    with pytest.raises(ValueError, match="larger than allowed"):
        registry.upscale_to(picture(), "Lanczos", 20000, 20)


def test_transparency_is_kept(registry):
    source = picture().convert("RGBA")
    source.putalpha(Image.new("L", source.size, 77))
    out = registry.upscale(source, "2x-Tiny", 2)
    assert out.mode == "RGBA" and out.size == (48, 32)
    assert set(np.unique(np.asarray(out.getchannel("A")))) == {77}


def test_a_new_file_is_found_on_the_next_listing(tmp_path):
    from tests.fixtures.tiny_upscaler import save_tiny_esrgan

    registry = UpscalerRegistry(tmp_path)
    assert registry.names() == ["None", "Lanczos", "Nearest"]
    save_tiny_esrgan(tmp_path / "RealESRGAN" / "late.pth")
    assert registry.names()[-1] == "late"
