"""The UI's controls take their limits and defaults from the request model, and its handlers
read their inputs by name."""

import gradio as gr
import pytest

from modules.processing.request import HiresKnobs, SeedKnobs, Txt2ImgRequest
from webui.components.field_group import field_limits, number_for, slider_for

# elem_id -> the request field the control carries (every bounded number control of the tab).
TXT2IMG_CONTROLS = {
    "txt2img_steps": "steps",
    "txt2img_width": "width",
    "txt2img_height": "height",
    "txt2img_batch_count": "n_iter",
    "txt2img_batch_size": "batch_size",
    "txt2img_cfg_scale": "cfg_scale",
    "txt2img_seed": "seed",
    "txt2img_subseed": "subseed",
    "txt2img_subseed_strength": "subseed_strength",
    "txt2img_seed_resize_from_w": "seed_resize_from_w",
    "txt2img_seed_resize_from_h": "seed_resize_from_h",
    "txt2img_hires_steps": "hr_second_pass_steps",
    "txt2img_denoising_strength": "denoising_strength",
    "txt2img_hr_scale": "hr_scale",
    "txt2img_hr_resize_x": "hr_resize_x",
    "txt2img_hr_resize_y": "hr_resize_y",
    "quicksettings_clip_skip": "clip_skip",
}
# Shown narrower than the model allows, on purpose: 0 is "off" on a slider stepping by 8 (the
# model also takes A1111 clients' -1).
NARROWED_MINIMUM = {"seed_resize_from_w": 0, "seed_resize_from_h": 0}
# Start at the engine's values rather than the model's default.
OWN_START = {"width", "height", "clip_skip"}


@pytest.fixture(scope="module")
def blocks(engine):
    from webui.app import build_blocks

    return build_blocks(engine)


def by_elem_id(blocks, elem_id: str):
    found = [block for block in blocks.blocks.values() if getattr(block, "elem_id", None) == elem_id]
    assert len(found) == 1, elem_id
    return found[0]


def test_every_txt2img_control_has_the_request_fields_limits_and_default(blocks):
    for elem_id, name in TXT2IMG_CONTROLS.items():
        control = by_elem_id(blocks, elem_id)
        limits = field_limits(Txt2ImgRequest, name)
        assert control.minimum == NARROWED_MINIMUM.get(name, limits.minimum), elem_id
        assert control.maximum == limits.maximum, elem_id
        if name not in OWN_START:
            assert control.value == limits.default, elem_id


def test_limits_are_read_from_the_models_annotations():
    steps = field_limits(Txt2ImgRequest, "steps")
    assert (steps.minimum, steps.maximum, steps.default) == (1, 150, 20)
    scale = field_limits(HiresKnobs, "hr_scale")
    assert (scale.minimum, scale.maximum, scale.default) == (1.0, 8.0, 2.0)
    tmin = field_limits(SeedKnobs, "s_tmin")
    assert (tmin.minimum, tmin.maximum) == (0.0, None)
    assert field_limits(Txt2ImgRequest, "styles").default == []  # a default_factory, called


def test_a_control_cannot_show_a_wider_range_than_the_model_takes():
    with gr.Blocks():
        with pytest.raises(ValueError, match="steps"):
            slider_for(Txt2ImgRequest, "steps", maximum=151)
        with pytest.raises(ValueError, match="width"):
            slider_for(Txt2ImgRequest, "width", value=32)
        with pytest.raises(TypeError, match="s_tmin"):
            slider_for(SeedKnobs, "s_tmin")  # no upper limit: not a slider
        narrowed = slider_for(SeedKnobs, "seed_resize_from_w", minimum=0, step=8)
        assert (narrowed.minimum, narrowed.maximum, narrowed.step) == (0, 2048, 8)
        seed = number_for(Txt2ImgRequest, "seed")
        assert (seed.minimum, seed.maximum, seed.precision, seed.value) == (-1, 2**32 - 1, 0, -1)


def test_generate_and_apply_settings_take_their_inputs_by_name(blocks):
    """Gradio's set-of-inputs form: the handler gets one {component: value} dict, so adding a
    control cannot shift the others' values."""
    for elem_id in ("txt2img_generate", "extras_generate", "settings_submit"):
        trigger = by_elem_id(blocks, elem_id)
        [fn] = [fn for fn in blocks.fns.values() if any(t[0] is trigger or t[0] == trigger._id for t in fn.targets)]
        while fn.fn is None:  # steps run in the page first (Generate's busy label): on to the handler
            [fn] = [then for then in blocks.fns.values() if then.trigger_after == fn._id]
        assert fn.inputs_as_dict, elem_id
