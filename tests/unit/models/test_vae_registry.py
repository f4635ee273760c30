"""VaeRegistry.apply on a real loaded model: a file's weights go onto the model's VAE, "None" puts
the checkpoint's own back bit for bit, a refused file leaves the VAE as it was, --no-half-vae keeps
the VAE in fp32."""

import pytest
import torch

from modules.memory import DevicePolicy
from modules.models.manager import ModelManager
from modules.models.vae_registry import UnknownVaeError, VaeRegistry
from modules.models.vae_weights import VaeLoadError
from tests.fixtures.tiny_vae import build_vae, write_vae


@pytest.fixture
def setup(tmp_path, tiny_single_file):
    manager = ModelManager((tiny_single_file.parent,), tmp_path / "cache", DevicePolicy.cpu)
    model = manager.get("tiny.safetensors")
    vae_dir = tmp_path / "VAE"
    write_vae(vae_dir / "other.safetensors", build_vae(seed=7))
    write_vae(vae_dir / "latent8.safetensors", build_vae(latent_channels=8))
    return manager, model, vae_dir


def registry(manager, vae_dir, **kwargs):
    return VaeRegistry((vae_dir,), (), {"sd_vae_checkpoint_cache": 1}, manager.sha256_of, **kwargs)


def weights(model) -> dict:
    return {key: value.clone() for key, value in model.vae.state_dict().items()}


def same(first: dict, second: dict) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_a_file_goes_on_and_none_restores_the_own_weights_exactly(setup):
    manager, model, vae_dir = setup
    vaes = registry(manager, vae_dir)
    own = weights(model)
    info = vaes.apply(model, "other.safetensors")
    assert info.name == "other.safetensors"
    assert same(weights(model), dict(build_vae(seed=7).state_dict()))
    assert vaes.apply(model, "Automatic") is None  # nothing beside the checkpoint: its own
    assert same(weights(model), own)
    vaes.apply(model, "other")  # infotext's name works too
    assert vaes.apply(model, "None") is None and same(weights(model), own)


def test_a_refused_file_leaves_the_vae_as_it_was(setup):
    manager, model, vae_dir = setup
    vaes = registry(manager, vae_dir)
    vaes.apply(model, "other.safetensors")
    before = weights(model)
    with pytest.raises(VaeLoadError, match="latent8.safetensors"):
        vaes.apply(model, "latent8.safetensors")
    with pytest.raises(UnknownVaeError, match="available: Automatic, None, latent8.safetensors, other.safetensors"):
        vaes.apply(model, "missing.safetensors")
    assert same(weights(model), before)


def test_no_half_vae_keeps_the_vae_in_fp32(setup):
    manager, model, vae_dir = setup
    model.vae.to(torch.float16)  # as a GPU policy loads it
    registry(manager, vae_dir, keep_vae_fp32=True).apply(model, "None")
    assert model.vae.dtype == torch.float32


def test_outside_a_job_a_handed_out_model_is_left_alone(setup):
    manager, model, vae_dir = setup
    vaes = registry(manager, vae_dir)
    own = weights(model)
    vaes.apply_job_choice(model)
    assert same(weights(model), own)
    with vaes.for_job("other.safetensors"):
        vaes.apply_job_choice(model)
        assert not same(weights(model), own)
    vaes.apply_job_choice(model)  # the job is over: nothing changes until the next one applies its own
    assert not same(weights(model), own)
