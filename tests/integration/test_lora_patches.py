"""LoRA as patches the core owns, through the whole engine on the tiny model: the next job without
the tag gets the untouched weights and pixels, an unchanged set is merged once over many jobs,
another strength merges again, and the weights come back bit for bit."""

import numpy as np
import pytest
import torch

from modules.processing.request import Txt2ImgRequest
from tests.conftest import make_engine
from tests.extensions.lycoris_support import models_with_ink_lora, write_lycoris_file


@pytest.fixture(scope="module")
def lora_engine(tmp_path_factory, tiny_single_file):
    models = models_with_ink_lora(tmp_path_factory.mktemp("patch-models"), tiny_single_file)
    write_lycoris_file(models / "Lora" / "paper.safetensors", "loha", dim=4, alpha=2)
    engine = make_engine(tmp_path_factory.mktemp("patch-data"), "--models-dir", str(models))
    yield engine
    engine.queue.shutdown()


def generate(engine, prompt: str, seed: int = 3) -> np.ndarray:
    request = Txt2ImgRequest(prompt=prompt, steps=2, width=64, height=64, seed=seed, save_images=False)
    result = engine.submit_txt2img(request).outcome()
    assert not result.warnings, result.warnings
    return np.asarray(result.images[0].image, dtype=np.int16)


def weights(model) -> dict[str, torch.Tensor]:
    return {
        f"{name}.{key}": tensor.clone()
        for name, module in model.modules().items()
        for key, tensor in module.state_dict().items()
    }


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    changed = [key for key in a if not torch.equal(a[key], b[key])]
    assert changed == []


def test_a_job_without_the_tag_gets_the_untouched_weights_and_pixels(lora_engine):
    plain = generate(lora_engine, "a cat")
    model = lora_engine.models.get(None)
    untouched = weights(model)
    tagged = generate(lora_engine, "a cat <lora:ink:0.9> <lyco:paper:0.6>")
    assert np.abs(tagged - plain).max() > 0
    assert model.patcher.patched_layers > 0  # the set stays merged after the job ...
    assert np.array_equal(generate(lora_engine, "a cat"), plain)  # ... until a job asks for another
    assert model.patcher.patched_layers == 0
    assert_same_weights(weights(model), untouched)


def test_the_same_lora_in_25_jobs_merges_once_and_another_strength_merges_again(lora_engine):
    model = lora_engine.models.get(None)
    generate(lora_engine, "a dog")  # start from no set
    start = model.patcher.merges
    pictures = [generate(lora_engine, "a dog <lora:ink:0.8>", seed=seed) for seed in range(25)]
    assert model.patcher.merges - start == 1
    assert len({picture.tobytes() for picture in pictures}) == 25  # 25 different seeds really ran
    first = generate(lora_engine, "a dog <lora:ink:0.8>", seed=0)
    assert np.array_equal(first, pictures[0])
    assert model.patcher.merges - start == 1
    generate(lora_engine, "a dog <lora:ink:0.4>", seed=0)
    assert model.patcher.merges - start == 2
    # Tags in another order are the same set: nothing merged.
    generate(lora_engine, "a dog <lora:ink:0.5> <lyco:paper:1>")
    merges = model.patcher.merges
    generate(lora_engine, "a dog <lyco:paper:1> <lora:ink:0.5>")
    assert model.patcher.merges == merges


def test_restoring_puts_back_every_tensor_bit_for_bit(lora_engine):
    model = lora_engine.models.get(None)
    generate(lora_engine, "a bird")
    untouched = weights(model)
    generate(lora_engine, "a bird <lora:ink:1.3> <lyco:paper:te=0.4:unet=1.1>")
    changed = weights(model)
    assert any(not torch.equal(changed[key], untouched[key]) for key in untouched)
    model.patcher.restore()  # what training, merging or the checkpoint cache call
    assert_same_weights(weights(model), untouched)
    assert model.patcher.applied_id == ""


class InPlaceNetwork:
    """A network of the older kind: edits a weight in activate(), undoes it in deactivate()."""

    names = ("inplace",)

    def __init__(self):
        self.saved = None

    def activate(self, p, calls):
        if calls:
            norm = p.model.unet.conv_norm_out  # a layer no LoRA here touches
            self.saved = norm.weight.detach().clone()
            norm.weight.data += 0.5

    def deactivate(self, p):
        if self.saved is not None:
            p.model.unet.conv_norm_out.weight.data.copy_(self.saved)
            self.saved = None

    def list_items(self):
        return []


def test_networks_that_edit_weights_in_place_still_work_beside_patches(lora_engine):
    registry = lora_engine.plugins
    registry.networks["inplace"], registry.network_owner["inplace"] = InPlaceNetwork(), "test"
    try:
        plain = generate(lora_engine, "a fox")
        model = lora_engine.models.get(None)
        untouched = weights(model)
        lora_only = generate(lora_engine, "a fox <lora:ink:1>")
        both = generate(lora_engine, "a fox <lora:ink:1> <inplace:x>")
        assert np.abs(both - lora_only).max() > 0  # the in-place edit took part
        assert np.array_equal(generate(lora_engine, "a fox <lora:ink:1>"), lora_only)  # and was undone
        assert np.array_equal(generate(lora_engine, "a fox"), plain)
        assert_same_weights(weights(model), untouched)
    finally:
        registry.networks.pop("inplace"), registry.network_owner.pop("inplace")
