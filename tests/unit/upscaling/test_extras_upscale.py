"""A1111's Extras upscale: scale by, scale to with and without crop, Upscaler 2 blended in."""

import numpy as np
import pytest
from PIL import Image

from modules.images.postprocessing import UpscaleOptions, upscale_image
from modules.upscaling import UpscalerRegistry
from tests.unit.upscaling.test_registry import picture


@pytest.fixture(scope="module")
def registry(upscaler_models):
    return UpscalerRegistry(upscaler_models)


def test_scale_by_uses_the_factor(registry):
    out, info = upscale_image(registry, picture(), UpscaleOptions(upscaler_1="2x-Tiny", upscaling_resize=3))
    assert out.size == (72, 48)
    assert info == {"Postprocess upscale by": 3.0, "Postprocess upscaler": "2x-Tiny"}


def test_scale_to_covers_the_size_and_crops_to_it(registry):
    options = UpscaleOptions(resize_mode=1, upscaling_resize_w=40, upscaling_resize_h=40, upscaler_1="Lanczos")
    out, info = upscale_image(registry, picture(), options)
    assert out.size == (40, 40) and info["Postprocess crop to"] == "40x40"
    uncropped, _ = upscale_image(registry, picture(), options.model_copy(update={"upscaling_crop": False}))
    assert uncropped.size == (60, 40)  # 24x16 scaled by 2.5 to cover 40x40
    left = (60 - 40) // 2
    assert np.array_equal(np.asarray(out), np.asarray(uncropped)[:, left : left + 40])


def test_upscaler_2_is_blended_at_its_visibility(registry):
    source = picture()
    first = registry.upscale(source, "2x-Tiny", 2)
    second = registry.upscale(source, "Nearest", 2)
    options = UpscaleOptions(upscaler_1="2x-Tiny", upscaler_2="Nearest", extras_upscaler_2_visibility=0.5,
                             upscaling_resize=2)  # fmt: skip
    out, info = upscale_image(registry, source, options)
    expected = Image.blend(first, second, 0.5)
    assert np.array_equal(np.asarray(out), np.asarray(expected))
    assert info["Postprocess upscaler 2"] == "Nearest"
    alone, _ = upscale_image(registry, source, options.model_copy(update={"extras_upscaler_2_visibility": 0}))
    assert np.array_equal(np.asarray(alone), np.asarray(first))


def test_unknown_upscaler_names_are_refused_before_work(registry):
    with pytest.raises(ValueError, match="unknown upscaler"):
        UpscaleOptions(upscaler_1="2x-Tiny", upscaler_2="missing").checked(registry)
    assert UpscaleOptions(upscaler_1="2x-tiny").checked(registry).upscaler_1 == "2x-Tiny"
