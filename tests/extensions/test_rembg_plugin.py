"""The rembg extension's hooks as the engine calls them: settings, generated images, the Extras step."""

import numpy as np
import pytest
from PIL import Image

from modules.config.settings import Settings, SettingSpec
from modules.plugins.types import PostprocessImageParams, PostprocessingStep, StepContext
from modules.processing.context import ProcessingContext
from tests.extensions.rembg_loader import load_rembg
from tests.extensions.rembg_pictures import iou, pictures

PICTURE = pictures(128)[2]  # the portrait


@pytest.fixture(scope="module")
def rembg():
    return load_rembg()


@pytest.fixture
def settings(rembg, tmp_path):
    """Real settings in a temporary config.json, with the options the extension declares."""
    settings = Settings(tmp_path / "config.json")
    [specs] = rembg.manager.call("ui_settings")
    assert all(isinstance(spec, SettingSpec) for spec in specs)
    assert settings.register(specs, owner="rembg") == []
    return settings


def generate(rembg, settings, models_dir, image):
    p = ProcessingContext(
        request=None, model=None, settings=settings, models_dir=models_dir, prompt="a person", negative_prompt=""
    )
    params = PostprocessImageParams(image=image, seed=1, index=0)
    rembg.manager.call("postprocess_image", p=p, params=params)
    assert rembg.info.errors == []
    return p, params


def test_settings_declared(settings, rembg):
    assert settings.get("rembg_generated") is False
    assert settings.get("rembg_generated_method") == "opencv"
    assert settings.spec("rembg_generated").kind == "checkbox"
    method = settings.spec("rembg_generated_method")
    assert method.kind == "dropdown" and list(method.choices) == rembg.removal.all_methods()


def test_generated_images_are_left_alone_while_the_setting_is_off(rembg, settings, tmp_path):
    image = PICTURE.image.copy()
    p, params = generate(rembg, settings, tmp_path, image)
    assert params.image is image and p.extra_generation_params == {} and p.warnings == []


def test_generated_images_lose_their_background_when_the_setting_is_on(rembg, settings, tmp_path):
    settings.update({"rembg_generated": True})
    p, params = generate(rembg, settings, tmp_path, PICTURE.image.copy())
    assert params.image.mode == "RGBA" and params.image.size == PICTURE.image.size
    assert iou(np.asarray(params.image.getchannel("A")) > 127, PICTURE.mask) >= 0.96
    assert p.extra_generation_params == {"Rembg": "opencv"}


def test_a_missing_model_file_keeps_the_picture_and_warns(rembg, settings, tmp_path):
    settings.update({"rembg_generated": True, "rembg_generated_method": "u2net"})
    image = PICTURE.image.copy()
    p, params = generate(rembg, settings, tmp_path, image)
    assert params.image is image and "Rembg" not in p.extra_generation_params
    assert len(p.warnings) == 1 and str(tmp_path / "rembg" / "u2net.onnx") in p.warnings[0]


def test_the_extras_step(rembg, settings, tmp_path):
    [steps] = rembg.manager.call("postprocessing_steps")
    [step] = steps
    assert isinstance(step, PostprocessingStep) and step.name == "Background removal" and step.order == 20000
    assert set(step.Args.model_fields) == {
        "model",
        "return_mask",
        "alpha_matting",
        "alpha_matting_foreground_threshold",
        "alpha_matting_background_threshold",
        "alpha_matting_erode_size",
    }
    context = StepContext(settings=settings, models_dir=tmp_path)

    cutout = step.run(PICTURE.image, step.Args(), context)
    assert cutout.mode == "RGBA" and iou(np.asarray(cutout.getchannel("A")) > 127, PICTURE.mask) >= 0.96
    mask = step.run(PICTURE.image, step.Args.model_validate({"model": "None", "return_mask": True}), context)
    assert mask.mode == "L" and mask.size == PICTURE.image.size

    with pytest.raises(ValueError, match="known: opencv"):
        step.Args.model_validate({"model": "no-such-model"})
    with pytest.raises(ValueError):
        step.Args.model_validate({"alpha_matting_foreground_threshold": 300})
    with pytest.raises(OSError, match="u2net.onnx"):  # the Extras tab shows this message
        step.run(PICTURE.image, step.Args(model="u2net"), context)


def test_tab_spec(rembg):
    [tabs] = rembg.manager.call("ui_tabs", engine=None)
    [tab] = tabs
    assert (tab.title, tab.elem_id) == ("Background removal", "tab_rembg") and callable(tab.render)


def test_a_grey_image_mode_is_accepted(rembg, settings, tmp_path):
    settings.update({"rembg_generated": True})
    p, params = generate(rembg, settings, tmp_path, PICTURE.image.convert("L"))
    assert params.image.mode == "RGBA" and params.image.size == PICTURE.image.size
    assert isinstance(params.image, Image.Image)
