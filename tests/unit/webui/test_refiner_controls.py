"""The Refiner accordion and the Hires checkpoint dropdown: what they put in the request, and what a
pasted infotext puts back into them (a title selects the listed file, an unknown name changes nothing)."""

import shutil

import gradio as gr
import pytest

from modules.processing.request import SAME_CHECKPOINT, Txt2ImgRequest
from tests.conftest import make_engine
from webui.components.hires import build_hires_controls
from webui.components.refiner import ENABLE, build_refiner_controls, listed_name


@pytest.fixture(scope="module")
def engine(tmp_path_factory, tiny_single_file):
    """Two listed checkpoints: tiny.safetensors and other.safetensors."""
    models = tmp_path_factory.mktemp("two-models")
    folder = models / "Stable-diffusion"
    folder.mkdir()
    shutil.copy(tiny_single_file, folder / "tiny.safetensors")
    shutil.copy(tiny_single_file, folder / "other.safetensors")
    built = make_engine(tmp_path_factory.mktemp("data"), "--models-dir", str(models))
    yield built
    built.queue.shutdown()


@pytest.fixture(scope="module")
def controls(engine):
    with gr.Blocks():
        hires = build_hires_controls("txt2img", engine)
        refiner = build_refiner_controls(engine, "txt2img")
    return hires, refiner


def event(group, **values) -> dict:
    """An event's {component: value}: the named fields set, the others as a never-opened accordion sends them."""
    return {component: values.get(name) for name, component in group.fields.items()}


def test_the_controls_carry_a1111s_elem_ids_and_the_listed_checkpoints(controls):
    hires, refiner = controls
    assert refiner.fields["refiner_checkpoint"].elem_id == "txt2img_refiner_checkpoint"
    switch_at = refiner.fields["refiner_switch_at"]
    assert (switch_at.elem_id, switch_at.minimum, switch_at.maximum, switch_at.value) == (
        "txt2img_refiner_switch_at",
        0.01,
        1.0,
        0.8,
    )
    refiner_values = [value for _, value in refiner.fields["refiner_checkpoint"].choices]
    assert refiner_values == ["other.safetensors", "tiny.safetensors"]
    checkpoint = hires.fields["hr_checkpoint_name"]
    assert checkpoint.elem_id == "txt2img_hr_checkpoint"
    assert checkpoint.value == SAME_CHECKPOINT
    assert [value for _, value in checkpoint.choices] == [SAME_CHECKPOINT, "other.safetensors", "tiny.safetensors"]


def test_an_unticked_refiner_sends_no_checkpoint(controls):
    _, refiner = controls
    fields = refiner.request_fields(event(refiner, refiner_checkpoint="other.safetensors", refiner_switch_at=0.5))
    assert fields == {"refiner_checkpoint": None, "refiner_switch_at": 0.5}
    assert Txt2ImgRequest(**fields).refiner is None


def test_a_ticked_refiner_sends_its_checkpoint_and_switch_point(controls):
    _, refiner = controls
    chosen = event(refiner, **{ENABLE: True, "refiner_checkpoint": "other.safetensors", "refiner_switch_at": 0.5})
    request = Txt2ImgRequest(**refiner.request_fields(chosen))
    assert (request.refiner.refiner_checkpoint, request.refiner.refiner_switch_at) == ("other.safetensors", 0.5)
    # Ticked with no checkpoint chosen: still no refiner; a never-opened slider is the default.
    assert refiner.request_fields(event(refiner, **{ENABLE: True})) == {
        "refiner_checkpoint": None,
        "refiner_switch_at": 0.8,
    }


def test_the_hires_checkpoint_same_choice_is_none(controls):
    hires, _ = controls
    assert hires.request_fields(event(hires))["hr_checkpoint_name"] is None
    assert hires.request_fields(event(hires, hr_checkpoint_name=SAME_CHECKPOINT))["hr_checkpoint_name"] is None
    picked = hires.request_fields(event(hires, enable_hr=True, hr_checkpoint_name="other.safetensors"))
    assert Txt2ImgRequest(**picked).hires.hr_checkpoint_name == "other.safetensors"


def test_a_title_or_model_name_selects_the_listed_file_and_a_stranger_nothing(engine):
    assert listed_name(engine, "other.safetensors [0123456789]") == "other.safetensors"
    assert listed_name(engine, "other") == "other.safetensors"
    assert listed_name(engine, "missing.safetensors [0123456789]") is None
    assert listed_name(engine, "../other.safetensors") is None
    assert listed_name(engine, "") is None


INFOTEXT = (
    "a cat\nSteps: 4, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 64x64, Denoising strength: 0.6, "
    "Hires upscale: 2, Hires upscaler: Latent, Hires checkpoint: {hires}, Refiner: {refiner}, "
    "Refiner switch at: 0.5"
)


def test_pasted_infotext_ticks_the_refiner_and_selects_the_named_files(engine, controls):
    hires, refiner = controls
    fields = engine.fields_from_infotext(
        INFOTEXT.format(hires="tiny.safetensors [0123456789]", refiner="other.safetensors [0123456789]")
    )
    pasted = {**hires.pasted_values(fields), **refiner.pasted_values(fields)}
    assert pasted[refiner.fields[ENABLE]] is True
    assert pasted[refiner.fields["refiner_checkpoint"]] == "other.safetensors"
    assert pasted[refiner.fields["refiner_switch_at"]] == 0.5
    assert pasted[hires.fields["hr_checkpoint_name"]] == "tiny.safetensors"
    assert pasted[hires.fields["enable_hr"]] is True


def test_pasted_unknown_checkpoints_leave_the_controls_as_they_are(engine, controls):
    hires, refiner = controls
    fields = engine.fields_from_infotext(INFOTEXT.format(hires="gone.safetensors [aaaaaaaaaa]", refiner="gone"))
    pasted = {**hires.pasted_values(fields), **refiner.pasted_values(fields)}
    assert refiner.fields[ENABLE] not in pasted
    assert refiner.fields["refiner_checkpoint"] not in pasted
    assert hires.fields["hr_checkpoint_name"] not in pasted
    assert pasted[hires.fields["hr_scale"]] == 2.0  # the rest is still read


def test_pasted_infotext_without_a_refiner_unticks_it_and_resets_the_hires_checkpoint(engine, controls):
    hires, refiner = controls
    fields = engine.fields_from_infotext("a cat\nSteps: 4, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 64x64")
    pasted = {**hires.pasted_values(fields), **refiner.pasted_values(fields)}
    assert pasted[refiner.fields[ENABLE]] is False
    assert pasted[refiner.fields["refiner_switch_at"]] == 0.8
    assert pasted[hires.fields["hr_checkpoint_name"]] == SAME_CHECKPOINT
