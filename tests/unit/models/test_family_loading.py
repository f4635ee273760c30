"""Loading the families' single files: weight precisions, EMA copies, what a .yaml beside says, parts missing."""

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from modules.memory import DevicePolicy
from modules.models.discovery import checkpoint_at
from modules.models.loading import CheckpointLoadError, load_checkpoint
from tests.fixtures.tiny_families import save_tiny_family


def load(path, tmp_path):
    return load_checkpoint(checkpoint_at(path), "0" * 64, DevicePolicy.cpu(), tmp_path / "cache")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_files_load_as_their_rounded_weights(tmp_path, dtype):
    full = load(save_tiny_family("sdxl", tmp_path / "full.safetensors"), tmp_path)
    half = load(save_tiny_family("sdxl", tmp_path / "half.safetensors", dtype=dtype), tmp_path)
    for part in ("unet", "vae", "text_encoder", "text_encoder_2"):
        ours, reference = getattr(half, part).state_dict(), getattr(full, part).state_dict()
        for key, tensor in ours.items():
            assert tensor.dtype == torch.float32  # computed in the policy's dtype on this CPU
            assert torch.equal(tensor, reference[key].to(dtype).float()), (part, key)


def test_ema_copies_in_a_full_checkpoint_are_not_what_loads(tmp_path):
    """A full training checkpoint also holds `model_ema.*`: the model's own weights load (A1111)."""
    plain = save_tiny_family("sd1", tmp_path / "plain.safetensors")
    state = load_file(plain)
    with safe_open(str(plain), "pt") as handle:
        metadata = handle.metadata()
    ema = {"model_ema." + key[len("model.") :].replace(".", ""): value + 1 for key, value in state.items()
           if key.startswith("model.diffusion_model.")}  # fmt: skip
    full = tmp_path / "full-ema.safetensors"
    save_file({**state, **ema, "model_ema.decay": torch.tensor(0.9999), "model_ema.num_updates": torch.tensor(3)},
              full, metadata=metadata)  # fmt: skip
    a, b = load(plain, tmp_path).unet.state_dict(), load(full, tmp_path).unet.state_dict()
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_a_yaml_beside_sets_v_prediction_and_upcast_attention(tmp_path):
    path = save_tiny_family("sd2", tmp_path / "mine.safetensors")
    assert load(path, tmp_path).prediction_type == "epsilon"
    (tmp_path / "mine.yaml").write_text(
        "model:\n  params:\n    parameterization: v\n    unet_config:\n      params:\n        upcast_attention: true\n",
        encoding="utf-8",
    )
    model = load(path, tmp_path)
    assert model.prediction_type == "v_prediction" and model.unet.config.upcast_attention is True
    (tmp_path / "mine.yaml").write_text("model: [unclosed", encoding="utf-8")  # unreadable: ignored, as A1111
    assert load(path, tmp_path).prediction_type == "epsilon"


def test_a_file_without_a_vae_loads_flagged_and_without_a_text_encoder_is_refused(tmp_path):
    path = save_tiny_family("sd1", tmp_path / "full.safetensors")
    state = load_file(path)
    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata()
    no_vae = tmp_path / "no-vae.safetensors"
    save_file({k: v for k, v in state.items() if not k.startswith("first_stage_model.")}, no_vae, metadata=metadata)
    assert load(no_vae, tmp_path).vae_missing and not load(path, tmp_path).vae_missing
    no_te = tmp_path / "no-te.safetensors"
    save_file({k: v for k, v in state.items() if not k.startswith("cond_stage_model.")}, no_te, metadata=metadata)
    with pytest.raises(CheckpointLoadError, match="no-te.safetensors: could not be loaded as an SD 1.x checkpoint"):
        load(no_te, tmp_path)
