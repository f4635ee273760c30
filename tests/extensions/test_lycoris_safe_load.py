"""`.pt`/`.ckpt` networks are read with `weights_only=True`: plain tensor dicts load, a pickle
that would run code is refused with a clear message and its code never runs."""

import pytest
import torch
from safetensors.torch import load_file

from modules.plugins.types import ExtraNetworkCall
from tests.extensions.lycoris_support import context, ext_module, loaded_model, weights_hash, write_lycoris_file


class Payload:
    """Unpickling this calls open(marker, "w"): creating the marker proves the code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("safe") / "models"
    (root / "Lora").mkdir(parents=True)
    write_lycoris_file(root / "Lora" / "ink.safetensors", "lora", dim=4, alpha=2)
    torch.save(load_file(str(root / "Lora" / "ink.safetensors")), root / "Lora" / "ink-pt.pt")
    return root


def merged_hash(models_dir, name):
    model = loaded_model()
    p = context(model, models_dir)
    ext_module("network").LoraNetworks().activate(p, [ExtraNetworkCall.from_tag("lora", f"{name}:0.9")])
    return weights_hash(model.unet, model.text_encoder), p.warnings


def test_a_plain_tensor_pickle_loads_and_merges_like_safetensors(models_dir):
    assert merged_hash(models_dir, "ink-pt") == merged_hash(models_dir, "ink")


@pytest.mark.parametrize("suffix", [".pt", ".ckpt"])
def test_a_pickle_with_code_is_refused_and_never_runs(models_dir, tmp_path, suffix):
    marker = tmp_path / "payload-ran"
    evil = models_dir / "Lora" / f"evil{suffix.replace('.', '-')}{suffix}"
    torch.save({"lora_unet_conv_in.lora_down.weight": torch.ones(1), "trap": Payload(marker)}, evil)
    assert not marker.exists()

    with pytest.raises(ext_module("safe_load").NetworkFileError, match=f"{evil.name} was refused") as refused:
        ext_module("safe_load").load_tensors(evil)
    assert "GLOBAL io.open" in str(refused.value)  # the message names what the pickle wanted to call
    assert not marker.exists()

    weights, warnings = merged_hash(models_dir, evil.stem)
    assert not marker.exists()
    assert len(warnings) == 1 and f"{evil.name} was refused" in warnings[0] and ".safetensors" in warnings[0]
    untouched = loaded_model()
    assert weights == weights_hash(untouched.unet, untouched.text_encoder)  # nothing applied
