"""The core's weight patches: a set merged once however often it is asked for, originals restored
bit for bit, order-independent ids and sums, failures that leave the model untouched."""

import pytest
import torch

from modules.models.patcher import Patch, PatchCollector, PatchSet
from tests.extensions.lycoris_support import loaded_model

LAYERS = ("down_blocks.1.attentions.0.proj_in", "conv_in", "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k")


def low_rank(seed: int):
    """A LoRA-like delta function: up @ down of the layer's shape, from a fixed seed."""

    def delta(original: torch.Tensor):
        generator = torch.Generator().manual_seed(seed)
        rows, columns = original.shape[0], original[0].numel()
        up, down = torch.randn(rows, 2, generator=generator), torch.randn(2, columns, generator=generator)
        return (up @ down).reshape(original.shape).to(original.device) * 0.05, None

    return delta


def patches(strength: float = 1.0, source: str = "test:a", seed: int = 1, component: str = "unet") -> list[Patch]:
    return [Patch(component, layer, low_rank(seed + i), strength, source) for i, layer in enumerate(LAYERS)]


def state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {key: tensor.clone() for key, tensor in module.state_dict().items()}


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    assert all(torch.equal(a[key], b[key]) for key in a), [key for key in a if not torch.equal(a[key], b[key])]


def test_the_same_set_merges_once_and_another_strength_merges_again():
    model = loaded_model()
    patcher = model.patcher
    assert patcher.apply(PatchSet(patches(0.8))) is True
    merged = state(model.unet)
    for _ in range(24):
        assert patcher.apply(PatchSet(patches(0.8))) is False  # a fresh but equal set: nothing done
    assert patcher.merges == 1
    assert_same(state(model.unet), merged)
    patcher.apply(PatchSet(patches(0.5)))
    assert patcher.merges == 2
    assert not torch.equal(model.unet.conv_in.weight, merged["conv_in.weight"])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_restore_and_the_empty_set_give_the_exact_original_bytes(dtype):
    model = loaded_model()
    model.unet.to(dtype)
    original = state(model.unet)
    model.patcher.apply(PatchSet(patches(1.3)))
    assert not torch.equal(model.unet.conv_in.weight, original["conv_in.weight"])
    model.patcher.restore()
    assert_same(state(model.unet), original)
    model.patcher.apply(PatchSet(patches(0.7, seed=5)))
    model.patcher.apply(PatchSet())  # a job without tags
    assert_same(state(model.unet), original)
    assert model.patcher.merges == 2 and model.patcher.applied_id == ""


def test_a_new_set_starts_from_the_originals_not_from_the_last_set():
    once, twice = loaded_model(), loaded_model()
    once.patcher.apply(PatchSet(patches(0.5)))
    twice.patcher.apply(PatchSet(patches(0.9, seed=7)))
    twice.patcher.apply(PatchSet(patches(0.5)))
    assert_same(state(once.unet), state(twice.unet))


def test_set_ids_and_merged_weights_do_not_depend_on_the_order_of_patches():
    first = patches(0.6, "lora:a") + patches(0.4, "lora:b", seed=11)
    reordered = list(reversed(first))
    assert PatchSet(first).id == PatchSet(reordered).id
    a, b = loaded_model(), loaded_model()
    a.patcher.apply(PatchSet(first))
    b.patcher.apply(PatchSet(reordered))
    assert_same(state(a.unet), state(b.unet))
    assert PatchSet(first).id != PatchSet(patches(0.6, "lora:a")).id
    assert PatchSet(patches(0.0)).id == PatchSet().id  # strength 0 is no patch


def test_two_patches_on_one_layer_add_their_deltas_to_the_original():
    model = loaded_model()
    original = model.unet.conv_in.weight.detach().clone()
    first, second = low_rank(1), low_rank(2)
    model.patcher.apply(
        PatchSet([Patch("unet", "conv_in", first, 0.5, "a"), Patch("unet", "conv_in", second, 2.0, "b")])
    )
    expected = original + first(original)[0] * 0.5 + second(original)[0] * 2.0
    torch.testing.assert_close(model.unet.conv_in.weight, expected, rtol=0, atol=1e-6)


def test_text_encoder_patches_and_bias_deltas():
    model = loaded_model()
    layer = "text_model.encoder.layers.0.self_attn.q_proj"
    if not hasattr(model.text_encoder, "text_model"):
        layer = layer.removeprefix("text_model.")
    module = model.text_encoder.get_submodule(layer)
    weight, bias = module.weight.detach().clone(), module.bias.detach().clone()

    def with_bias(original):
        return torch.ones_like(original), torch.full((original.shape[0],), 0.25)

    model.patcher.apply(PatchSet([Patch("text_encoder", layer, with_bias, 2.0, "bias")]))
    assert torch.equal(module.weight, weight + 2.0) and torch.equal(module.bias, bias + 0.5)
    model.patcher.restore()
    assert torch.equal(module.weight, weight) and torch.equal(module.bias, bias)


def test_a_set_that_cannot_be_merged_leaves_the_model_untouched():
    model = loaded_model()
    original = state(model.unet)
    bad = patches(1.0) + [Patch("unet", "no.such.layer", low_rank(3), 1.0, "bad")]
    with pytest.raises(LookupError, match="no.such.layer"):
        model.patcher.apply(PatchSet(bad))
    assert_same(state(model.unet), original)
    assert model.patcher.merges == 0 and model.patcher.applied_id == ""


def test_patches_and_the_collector_refuse_bad_input():
    with pytest.raises(ValueError, match="component"):
        Patch("vae", "conv_in", low_rank(1), 1.0, "x")
    with pytest.raises(ValueError, match="source"):
        Patch("unet", "conv_in", low_rank(1), 1.0, "")
    collector = PatchCollector()
    collector.add(patches())
    collector.add(patches(source="test:b")[0])
    assert len(collector) == len(LAYERS) + 1 and len(collector.patch_set()) == len(LAYERS) + 1
    with pytest.raises(TypeError, match="Patch objects"):
        collector.add(["conv_in"])
