"""Reading VAE files: both key layouts give the module's exact weights; a VAE that does not fit the
loaded model (other latent channels, other widths, another family's declared architecture) is
refused naming the file and the checkpoint's family; pickles are read without running anything."""

import os
import pickle

import pytest
import torch

from modules.memory import DevicePolicy
from modules.models.manager import ModelManager
from modules.models.vae_files import VaeInfo
from modules.models.vae_weights import VaeLoadError, check_fits, read_vae_file, to_diffusers_layout
from tests.fixtures.tiny_model import VAE_CONFIG
from tests.fixtures.tiny_vae import build_vae, write_vae
from tests.fixtures.hostile_pickle import TouchOnUnpickle


@pytest.fixture(scope="module")
def model(tmp_path_factory, tiny_single_file):
    manager = ModelManager((tiny_single_file.parent,), tmp_path_factory.mktemp("cache"), DevicePolicy.cpu)
    return manager.get("tiny.safetensors")


def read(path):
    return read_vae_file(VaeInfo(path.name, path))


def assert_same_state(state, vae):
    expected = vae.state_dict()
    assert set(state) == set(expected)
    for key, value in expected.items():
        assert torch.equal(state[key].reshape(value.shape), value), key
        assert tuple(state[key].shape) == tuple(value.shape), key


@pytest.mark.parametrize("layout", ["ldm", "ldm-prefixed", "diffusers", "pickled"])
def test_every_layout_reads_back_the_modules_exact_weights(tmp_path, layout):
    vae = build_vae(seed=7)
    suffix = ".pt" if layout == "pickled" else ".safetensors"
    state, _ = read(write_vae(tmp_path / f"v{suffix}", vae, layout))
    assert_same_state(to_diffusers_layout(state, dict(vae.config)), vae)


def test_a_fitting_vae_passes_and_a_declared_sd1_one_too(tmp_path, model):
    path = write_vae(
        tmp_path / "ok.safetensors", build_vae(), metadata={"modelspec.architecture": "stable-diffusion-v1/vae"}
    )
    state, metadata = read(path)
    check_fits(VaeInfo("ok.safetensors", path), to_diffusers_layout(state, VAE_CONFIG), metadata, model)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"latent_channels": 8}, "8 latent channels, the model's VAE 4"),
        ({"block_out_channels": [32, 32, 32, 32]}, "first block is 32 channels wide"),
        ({"block_out_channels": [16, 32, 32], "down_block_types": ["DownEncoderBlock2D"] * 3,
          "up_block_types": ["UpDecoderBlock2D"] * 3}, "blocks differ"),
        ({"block_out_channels": [16, 32, 64, 32]}, "other block widths"),
    ],
)  # fmt: skip
def test_a_vae_of_other_shapes_is_refused_naming_the_file_and_family(tmp_path, model, changes, reason):
    path = write_vae(tmp_path / "odd.safetensors", build_vae(**changes))
    state, metadata = read(path)
    with pytest.raises(VaeLoadError, match="odd.safetensors does not fit the SD 1.x checkpoint") as refused:
        check_fits(VaeInfo("odd.safetensors", path), to_diffusers_layout(state, VAE_CONFIG), metadata, model)
    assert reason in str(refused.value)


def test_a_vae_declared_for_sdxl_is_refused_on_sd1_though_its_shapes_fit(tmp_path, model):
    metadata = {"modelspec.architecture": "stable-diffusion-xl-v1-base/vae"}
    path = write_vae(tmp_path / "xl.safetensors", build_vae(), metadata=metadata)
    state, metadata = read(path)
    with pytest.raises(VaeLoadError, match=r"xl.safetensors does not fit the SD 1.x checkpoint: it is an SDXL VAE"):
        check_fits(VaeInfo("xl.safetensors", path), to_diffusers_layout(state, VAE_CONFIG), metadata, model)




@pytest.mark.parametrize("kind", ["legacy", "zip"])
def test_a_pickle_that_would_run_code_is_refused_naming_the_file(tmp_path, kind):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    if kind == "legacy":
        path.write_bytes(pickle.dumps({"state_dict": TouchOnUnpickle(marker)}))
    else:
        torch.save({"state_dict": TouchOnUnpickle(marker)}, path)
    with pytest.raises(VaeLoadError, match="evil.pt: refused: its pickle asks to run code"):
        read(path)
    assert not marker.exists()


def test_a_corrupt_safetensors_file_is_refused_naming_it(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"not a safetensors file at all" * 4)
    with pytest.raises(VaeLoadError, match="VAE broken.safetensors: not a readable .safetensors file"):
        read(path)
