import hashlib
import json

import pytest
import torch
from safetensors.torch import save_file

from modules.memory import DevicePolicy
from modules.models.discovery import find_checkpoints, resolve_checkpoint
from modules.models.hashing import HashCache, sha256_of_path
from modules.models.loading import CheckpointLoadError, config_folder_for, load_checkpoint
from modules.models.manager import ModelManager, NoCheckpointError


def test_discovery_lists_single_files_and_diffusers_folders(tiny_models):
    found = find_checkpoints((tiny_models / "Stable-diffusion",))
    assert [(c.name, c.is_diffusers_folder) for c in found] == [("tiny-diffusers", True), ("tiny.safetensors", False)]
    assert resolve_checkpoint("tiny.safetensors [0123456789]", found).name == "tiny.safetensors"
    assert resolve_checkpoint("tiny", found).name == "tiny.safetensors"
    assert resolve_checkpoint("missing", found) is None


def test_single_file_loads_exactly_the_same_weights_as_the_diffusers_folder(tiny_models, tmp_path):
    found = {c.name: c for c in find_checkpoints((tiny_models / "Stable-diffusion",))}
    policy = DevicePolicy.cpu()
    single = load_checkpoint(found["tiny.safetensors"], "0" * 64, policy, tmp_path)
    folder = load_checkpoint(found["tiny-diffusers"], "0" * 64, policy, tmp_path)
    for part in ("unet", "vae", "text_encoder"):
        a, b = getattr(single, part).state_dict(), getattr(folder, part).state_dict()
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), part
    assert single.tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert single.vae_scale_factor == 8


def test_short_hash_is_sha256_prefix_and_is_cached(tiny_single_file, tmp_path):
    expected = hashlib.sha256(tiny_single_file.read_bytes()).hexdigest()
    assert sha256_of_path(tiny_single_file) == expected
    cache = HashCache(tmp_path / "hashes.json")
    assert cache.cached_sha256(tiny_single_file) is None
    assert cache.sha256(tiny_single_file) == expected
    reopened = HashCache(tmp_path / "hashes.json")
    assert reopened.cached_sha256(tiny_single_file) == expected


def test_no_checkpoint_says_where_to_put_one(tmp_path):
    manager = ModelManager((tmp_path / "Stable-diffusion",), tmp_path / ".cache", DevicePolicy.cpu)
    with pytest.raises(NoCheckpointError, match="Stable-diffusion"):
        manager.get()


def test_unknown_layouts_are_refused_with_a_reason(tmp_path):
    unet_in = "model.diffusion_model.input_blocks.0.0.weight"
    no_unet = tmp_path / "te-only.safetensors"
    save_file({"conditioner.embedders.0.transformer.x": torch.zeros(1)}, no_unet)
    with pytest.raises(
        CheckpointLoadError, match="te-only.safetensors: not a supported checkpoint: no Stable Diffusion UNet"
    ):
        config_folder_for(no_unet, tmp_path)
    sd2_depth = tmp_path / "depth.safetensors"
    save_file({"cond_stage_model.model.ln_final.weight": torch.zeros(1), unet_in: torch.zeros(4, 5, 3, 3)}, sd2_depth)
    with pytest.raises(CheckpointLoadError, match="SD 2.x model with a 5-channel UNet"):
        config_folder_for(sd2_depth, tmp_path)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(CheckpointLoadError, match="not a readable"):
        config_folder_for(broken, tmp_path)


def test_embedded_config_is_written_once_to_the_cache(tiny_single_file, tmp_path):
    folder = config_folder_for(tiny_single_file, tmp_path)
    assert folder.parent == tmp_path / "configs"
    unet_config = json.loads((folder / "unet" / "config.json").read_text())
    assert unet_config["block_out_channels"] == [32, 64]
    assert config_folder_for(tiny_single_file, tmp_path) == folder


def test_ckpt_flag_picks_the_default_and_switching_replaces_the_loaded_model(tiny_models, tmp_path):
    dirs = (tiny_models / "Stable-diffusion",)
    manager = ModelManager(dirs, tmp_path, DevicePolicy.cpu, preferred="tiny-diffusers")
    assert manager.default_checkpoint().name == "tiny-diffusers"
    first = manager.get()
    assert first.info.is_diffusers_folder and manager.get() is first
    second = manager.get("tiny.safetensors")
    assert manager.loaded is second and not second.info.is_diffusers_folder
    assert second.sha256 == hashlib.sha256((dirs[0] / "tiny.safetensors").read_bytes()).hexdigest()
    with pytest.raises(LookupError, match="not found"):
        manager.get("nothing-here")
