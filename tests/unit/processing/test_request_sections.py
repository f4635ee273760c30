"""The frozen GenerationRequest: its sections (init images and mask carried and validated for
img2img, hires/refiner/scripts read as views of the A1111 flat fields) and with_overrides()."""

import pytest
from PIL import Image
from pydantic import ValidationError

from modules.processing.request import GenerationRequest, HiresKnobs, Img2ImgRequest, Txt2ImgRequest

PICTURE = Image.new("RGB", (64, 64))


def test_the_request_is_frozen_and_overrides_make_a_new_validated_one():
    request = Txt2ImgRequest(prompt="a cat", steps=3)
    with pytest.raises(ValidationError, match="frozen"):
        request.steps = 4
    changed = request.with_overrides(steps=4, sampler_name="Euler")
    assert (changed.steps, changed.sampler_name, changed.prompt) == (4, "Euler", "a cat")
    assert request.steps == 3 and type(changed) is Txt2ImgRequest
    with pytest.raises(ValidationError, match="steps"):
        request.with_overrides(steps=0)
    with pytest.raises(ValueError, match="no_such_field"):
        request.with_overrides(no_such_field=1)
    with pytest.raises(ValidationError, match="pixels per batch"):
        request.with_overrides(width=2048, height=2048, batch_size=8)


def test_sections_are_views_of_the_flat_fields():
    plain = Txt2ImgRequest()
    assert plain.hires is None and plain.refiner is None and plain.init is None and plain.inpainting is None
    hires = Txt2ImgRequest(enable_hr=True, hr_scale=1.5, hr_upscaler=None, denoising_strength=0.4).hires
    assert isinstance(hires, HiresKnobs)
    assert (hires.hr_scale, hires.hr_upscaler, hires.denoising_strength) == (1.5, "Latent", 0.4)
    refiner = Txt2ImgRequest(refiner_checkpoint="other", refiner_switch_at=0.5).refiner
    assert (refiner.refiner_checkpoint, refiner.refiner_switch_at) == ("other", 0.5)
    scripts = Txt2ImgRequest(script_name="X", script_args=[1], alwayson_scripts={"Y": {"args": []}}).scripts
    assert (scripts.script_name, scripts.script_args, scripts.alwayson_scripts) == ("X", [1], {"Y": {"args": []}})


def test_init_and_mask_fields_are_validated_and_txt2img_has_none():
    request = Img2ImgRequest(init_images=[PICTURE], resize_mode=1, denoising_strength=0.3, mask=PICTURE.convert("L"),
                             mask_blur=8, inpainting_fill="latent noise", inpainting_mask_invert=True)  # fmt: skip
    assert request.init.images == [PICTURE] and request.init.resize_mode == 1 and request.init.denoising_strength == 0.3
    section = request.inpainting
    assert (section.mask_blur_x, section.mask_blur_y, section.inpaint_full_res_padding) == (8, 8, 32)
    assert section.inpainting_fill == 2 and section.inpainting_mask_invert is True
    assert Img2ImgRequest(init_images=[PICTURE], mask_blur=8, mask_blur_y=2).blur_xy == (8, 2)
    labelled = Img2ImgRequest(init_images=[PICTURE], resize_mode="Resize and fill", inpaint_full_res="Only masked",
                              inpainting_mask_invert="Inpaint masked")  # fmt: skip
    assert (labelled.resize_mode, labelled.inpaint_full_res, labelled.inpainting_mask_invert) == (2, True, False)
    for bad in (
        {"init_images": []},
        {"init_images": [PICTURE] * 9},
        {"init_images": [PICTURE], "resize_mode": 4},
        {"init_images": [PICTURE], "denoising_strength": 1.5},
        {"init_images": [PICTURE], "denoising_strength": float("nan")},
        {"init_images": ["not a picture"]},
        {"init_images": [PICTURE], "mask_blur": 65},
        {"init_images": [PICTURE], "inpainting_fill": "sideways"},
    ):
        with pytest.raises(ValidationError):
            Img2ImgRequest(**bad)
    with pytest.raises(ValidationError, match="needs init images"):
        GenerationRequest(mask=PICTURE)
    with pytest.raises(ValidationError, match="the mask is 32x32 but init_images"):
        Img2ImgRequest(init_images=[PICTURE], mask=Image.new("L", (32, 32)))
    with pytest.raises(ValidationError, match="txt2img request has no init images"):
        Txt2ImgRequest(init_images=[PICTURE])


def test_txt2img_request_keeps_the_field_names_and_limits():
    fields = Txt2ImgRequest.model_fields
    assert set(GenerationRequest.model_fields) == set(fields)
    assert {"steps", "width", "hr_scale", "refiner_switch_at", "script_args", "override_settings"} <= set(fields)
    with pytest.raises(ValidationError, match="steps"):
        Txt2ImgRequest(steps=151)
