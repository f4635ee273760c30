"""LoRA through the whole engine on the tiny model: the tag changes the picture, strength 0 and
the next job without the tag give the original picture and the original weights back."""

import numpy as np
import pytest

from modules.processing.request import Txt2ImgRequest
from tests.conftest import make_engine
from tests.extensions.lycoris_support import models_with_ink_lora, weights_hash


@pytest.fixture(scope="module")
def lora_engine(tmp_path_factory, tiny_single_file):
    models = models_with_ink_lora(tmp_path_factory.mktemp("lora-models"), tiny_single_file)
    engine = make_engine(tmp_path_factory.mktemp("lora-data"), "--models-dir", str(models))
    yield engine
    engine.queue.shutdown()


def generate(engine, prompt):
    request = Txt2ImgRequest(prompt=prompt, steps=3, width=64, height=64, seed=3, save_images=False)
    result = engine.submit_txt2img(request).outcome()
    return np.asarray(result.images[0].image, dtype=np.int16), result


def test_lora_tag_changes_the_picture_and_is_undone(lora_engine):
    plain, _ = generate(lora_engine, "a cat")
    model = lora_engine.models.get(None)
    before = weights_hash(model.unet, model.text_encoder)
    with_lora, result = generate(lora_engine, "a cat <lora:ink:1>")
    assert np.abs(with_lora - plain).max() > 0
    assert "Lora hashes" in result.images[0].infotext and "<lora:ink:1>" in result.images[0].infotext
    assert not result.warnings
    again, _ = generate(lora_engine, "a cat")  # the set stays merged until a job without the tag
    assert weights_hash(model.unet, model.text_encoder) == before
    assert np.array_equal(again, plain)
    zero, _ = generate(lora_engine, "a cat <lyco:ink:0>")
    assert np.array_equal(zero, plain)


def test_missing_network_warns_and_the_job_goes_on(lora_engine):
    plain, _ = generate(lora_engine, "a cat")
    image, result = generate(lora_engine, "a cat <lora:nosuch:1>")
    assert np.array_equal(image, plain)
    assert any("nosuch" in warning for warning in result.warnings)


def test_network_picker_lists_the_file(lora_engine):
    from webui.components.extra_networks import network_choices

    assert ("lora: ink", "<lora:ink:1>") in network_choices(lora_engine)
