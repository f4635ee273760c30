"""Every infotext key is declared once (on its request field, or in infotext.py for the keys that
are not one field), and the writer and the paste reader are derived from the declarations. The
table test below is generated from those declarations: a key written without a reader fails it."""

import typing

import annotated_types
import pytest

from modules.images.infotext import (
    COMPOSITE_KEYS,
    INFOTEXT_FIELDS,
    INFOTEXT_SETTINGS,
    build_infotext,
    infotext_keys,
    params_from_fields,
    parse_infotext,
)
from modules.processing.request import GenerationRequest, Txt2ImgRequest

# Values for the fields whose non-default value cannot be made up from the type alone: a name
# the engine must know, or a pair written as one "WxH" key.
NAMED = {
    "sampler_name": "DPM++ 2M",
    "scheduler": "Karras",
    "hr_sampler_name": "Euler",
    "hr_scheduler": "Exponential",
    "hr_upscaler": "Latent (nearest)",
    "checkpoint": "other model",
    "refiner_checkpoint": "refiner model",
    # img2img knobs the infotext records by their A1111 label (the fields take labels too)
    "resize_mode": "Resize and fill",
    "inpainting_fill": "latent noise",
    "inpaint_full_res": "Only masked",
    "inpainting_mask_invert": "Inpaint not masked",
}
COMPOSITE_VALUES = {"Size": (96, 72), "Hires resize": (160, 144), "Seed resize from": (48, 40)}
SETTING_VALUES = {
    "eta_noise_seed_delta": 31337,
    "randn_source": "GPU",
    "emphasis": "No norm",
    "img2img_extra_noise": 0.25,
    "inpainting_mask_weight": 0.5,
    "token_merging_ratio": 0.5,
    "token_merging_ratio_hr": 0.25,
    "s_min_uncond": 1.5,
    "batch_cond_uncond": False,
    "pad_cond_uncond": False,
    "fp8_storage": "Enable",
    "cache_fp16_weight": True,
}


def non_default(field: str):
    """A valid value other than the field's default, from its type and limits."""
    if field in NAMED:
        return NAMED[field]
    info = GenerationRequest.model_fields[field]
    default = info.get_default(call_default_factory=True)
    low = next((m.ge for m in info.metadata if isinstance(m, annotated_types.Ge)), 0)
    high = next((m.le for m in info.metadata if isinstance(m, annotated_types.Le)), 1000)
    kind = next(t for t in (typing.get_args(info.annotation) or (info.annotation,)) if t is not type(None))
    if kind is str:
        return f"text of {field}, with a comma: and a colon"
    if kind is int:
        return high if default != high else low
    start = default if default is not None else low
    return start + 0.125 if start + 0.125 <= high else start - 0.125


def paste(engine, params: dict, prompt: str = "a cat", negative: str = "") -> dict:
    # A parameters line has at least three pairs: keys no field reads keep it one.
    padded = {**params, "Unread one": 1, "Unread two": 2, "Unread three": 3}
    return engine.fields_from_infotext(build_infotext(prompt, negative, padded))


DECLARED = infotext_keys()


def test_the_declarations_cover_every_reader_key():
    fields = {k.field for k in DECLARED}
    assert {"steps", "sampler_name", "cfg_scale", "seed", "clip_skip", "hr_scale", "eta"} <= fields
    assert {k.key for k in DECLARED} >= {"Size", "ENSD", "RNG", "Emphasis", "Steps", "Refiner"}
    readable = set(INFOTEXT_FIELDS)
    for key in DECLARED:
        if key.key in COMPOSITE_KEYS:
            assert {f"{key.key}-1", f"{key.key}-2"} <= readable
        elif key.key not in INFOTEXT_SETTINGS:
            assert INFOTEXT_FIELDS[key.key] == key.field
        assert key.label


@pytest.mark.parametrize("declared", DECLARED, ids=[k.key for k in DECLARED])
def test_every_declared_key_round_trips_through_paste(engine, declared):
    if declared.key in COMPOSITE_KEYS:
        first, second = COMPOSITE_KEYS[declared.key]
        width, height = COMPOSITE_VALUES[declared.key]
        params = params_from_fields({first: width, second: height})
        assert params == {declared.key: f"{width}x{height}"}
        pasted = paste(engine, params)
        assert (pasted[first], pasted[second]) == (width, height)
        return
    if declared.key in INFOTEXT_SETTINGS:
        setting = INFOTEXT_SETTINGS[declared.key]
        pasted = paste(engine, params_from_fields({setting: SETTING_VALUES[setting]}))
        assert pasted["override_settings"] == {setting: SETTING_VALUES[setting]}
        return
    value = non_default(declared.field)
    assert value != GenerationRequest.model_fields[declared.field].get_default(call_default_factory=True)
    Txt2ImgRequest(**{declared.field: value})  # a value the request takes
    if declared.field == "prompt":
        pasted = paste(engine, {}, prompt=value)
    elif declared.field == "negative_prompt":
        pasted = paste(engine, {}, negative=value)
    else:
        params = params_from_fields({declared.field: value})
        assert list(params) == [declared.key]
        pasted = paste(engine, params)
    assert pasted[declared.field] == value


def test_a_name_without_a_declared_key_cannot_be_written():
    with pytest.raises(KeyError, match="batch_size"):
        params_from_fields({"batch_size": 2})


def test_a_generated_picture_writes_only_keys_that_paste_back(engine):
    """Everything the txt2img writer records, with every feature on, reads back as what was asked."""
    asked = {
        "prompt": "a red cube",
        "negative_prompt": "blurry",
        "steps": 3,
        "sampler_name": "DPM++ 2M",
        "scheduler": "Karras",
        "cfg_scale": 6.5,
        "seed": 21,
        "width": 64,
        "height": 64,
        "clip_skip": 2,
        "subseed": 5,
        "subseed_strength": 0.25,
        "seed_resize_from_w": 48,
        "seed_resize_from_h": 56,
        "eta": 0.5,
        "enable_hr": True,
        "hr_scale": 1.5,
        "hr_upscaler": "Latent (nearest)",
        "hr_second_pass_steps": 2,
        "denoising_strength": 0.6,
        "hr_sampler_name": "Euler",
        "hr_scheduler": "Exponential",
        "hr_prompt": "a red cube, sharp",
        "hr_negative_prompt": "soft",
    }
    overrides = {"eta_noise_seed_delta": 31337, "emphasis": "No norm"}
    request = Txt2ImgRequest(**asked, override_settings=overrides, save_images=False)
    result = engine.submit_txt2img(request).outcome()
    infotext = result.images[0].infotext
    parsed = parse_infotext(infotext)
    unread = set(parsed) - set(INFOTEXT_FIELDS) - set(INFOTEXT_SETTINGS) - set(COMPOSITE_KEYS) - {"Model hash"}
    assert unread == set(), infotext
    pasted = engine.fields_from_infotext(infotext)
    for field, value in asked.items():
        assert pasted[field] == value, (field, infotext)
    assert pasted["override_settings"] == overrides
    assert pasted["checkpoint"] == "tiny"
