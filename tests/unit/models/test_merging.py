"""The Checkpoint Merger's core on small synthetic checkpoints: exact A / B at M=0 / M=1, add
difference, regex discard, fp16, baked VAE, A1111's metadata (merge of merges), refusals before
anything is written, and the streamed .safetensors writer against safetensors' own."""

import json
import os
import pickle

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from modules.models.discovery import CheckpointInfo
from modules.models.families.base import SD1_TEXT_KEY, UNET_IN_KEY
from modules.models.hashing import sha256_of_path
from modules.models.loading import EMBEDDED_CONFIG_KEY
from modules.models.merge_sources import MergeError, legacy_hash
from modules.models.merging import MergeInput, MergeRecipe, merge_checkpoints
from modules.models.safetensors_stream import StreamingSafetensorsWriter, TensorSpec
from tests.fixtures.hostile_pickle import TouchOnUnpickle

UNET_KEY = "model.diffusion_model.middle_block.0.weight"
VAE_KEY = "first_stage_model.encoder.conv_in.weight"
POSITION_IDS = "cond_stage_model.transformer.text_model.embeddings.position_ids"


def tensors(seed: int, in_channels: int = 4, dtype=torch.float32) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        SD1_TEXT_KEY: torch.randn(10, 8, generator=generator).to(dtype),
        UNET_IN_KEY: torch.randn(8, in_channels, 3, 3, generator=generator).to(dtype),
        UNET_KEY: torch.randn(8, 8, generator=generator).to(dtype),
        VAE_KEY: torch.randn(4, 3, 3, 3, generator=generator).to(dtype),
        POSITION_IDS: torch.arange(77).unsqueeze(0),
    }


def write(folder, name: str, state: dict, metadata: dict | None = None) -> MergeInput:
    path = folder / name
    save_file(state, str(path), metadata=metadata)
    return MergeInput(CheckpointInfo(path, name, False), sha256_of_path(path))


@pytest.fixture
def models(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    return {
        "a": write(folder, "a.safetensors", {**tensors(0), "only.in.a": torch.ones(3)}),
        "b": write(folder, "b.safetensors", {**tensors(1), "only.in.b": torch.ones(3)}),
        "c": write(folder, "c.safetensors", tensors(2)),
        "b_copy": write(folder, "b_copy.safetensors", tensors(1)),
    }


def merge(tmp_path, inputs, **fields):
    recipe = MergeRecipe(*(item.info.name for item in inputs), **fields)
    result = merge_checkpoints(recipe, inputs, tmp_path / "out")
    return result, load_file(str(result.path))


def test_multiplier_zero_gives_a_and_one_gives_b_exactly(tmp_path, models):
    _, at_zero = merge(tmp_path, [models["a"], models["b"]], multiplier=0.0, custom_name="m0")
    _, at_one = merge(tmp_path, [models["a"], models["b"]], multiplier=1.0, custom_name="m1")
    a, b = load_file(str(models["a"].info.path)), load_file(str(models["b"].info.path))
    assert set(at_zero) == set(a) == set(at_one)  # keys only in A kept, keys only in B dropped
    for key in a:
        assert torch.equal(at_zero[key], a[key]) and at_zero[key].dtype == a[key].dtype
        expected = a[key] if key in ("only.in.a", POSITION_IDS) else b[key]
        assert torch.equal(at_one[key], expected), key


def test_weighted_sum_values_and_default_name(tmp_path, models):
    result, merged = merge(tmp_path, [models["a"], models["b"]], multiplier=0.25)
    assert result.path.name == "0.75(a) + 0.25(b).safetensors"
    a, b = load_file(str(models["a"].info.path)), load_file(str(models["b"].info.path))
    assert torch.allclose(merged[UNET_KEY], a[UNET_KEY] * 0.75 + b[UNET_KEY] * 0.25)
    assert not torch.equal(merged[UNET_KEY], a[UNET_KEY])
    assert torch.equal(merged[POSITION_IDS], a[POSITION_IDS])


def test_add_difference_with_b_equal_to_c_gives_a(tmp_path, models):
    result, merged = merge(tmp_path, [models["a"], models["b"], models["b_copy"]], interp="Add difference",
                           multiplier=0.7)  # fmt: skip
    assert result.path.name == "a + 0.7(b - b_copy).safetensors"
    a = load_file(str(models["a"].info.path))
    assert all(torch.equal(merged[key], a[key]) for key in a)
    _, real = merge(tmp_path, [models["a"], models["b"], models["c"]], interp="Add difference", multiplier=0.5)
    b, c = load_file(str(models["b"].info.path)), load_file(str(models["c"].info.path))
    assert torch.allclose(real[UNET_KEY], a[UNET_KEY] + (b[UNET_KEY] - c[UNET_KEY]) * 0.5)


def test_discard_regex_and_fp16(tmp_path, models):
    _, merged = merge(tmp_path, [models["a"], models["b"]], discard_weights=r"^first_stage_model\.", save_as_half=True)
    assert VAE_KEY not in merged and UNET_KEY in merged
    assert merged[UNET_KEY].dtype == torch.float16 and merged[POSITION_IDS].dtype == torch.int64
    with pytest.raises(ValueError, match="not a valid regular expression"):
        MergeRecipe("a", "b", discard_weights="(")


def test_no_interpolation_bakes_in_a_vae(tmp_path, models):
    vae_path = tmp_path / "vae.safetensors"
    vae_weight = torch.full((4, 3, 3, 3), 0.5)
    save_file({"encoder.conv_in.weight": vae_weight, "loss.logvar": torch.zeros(())}, str(vae_path))

    class Vae:  # a listed VAE as engine.vaes resolves it
        name, path = "vae.safetensors", vae_path

    recipe = MergeRecipe("a", interp="No interpolation", custom_name="baked")
    result = merge_checkpoints(recipe, [models["a"]], tmp_path / "out", Vae())
    merged = load_file(str(result.path))
    assert torch.equal(merged[VAE_KEY], vae_weight) and "loss.logvar" not in merged
    assert torch.equal(merged[UNET_KEY], load_file(str(models["a"].info.path))[UNET_KEY])
    recipe_entry = json.loads(safe_open(str(result.path), "pt").metadata()["sd_merge_recipe"])
    assert recipe_entry["bake_in_vae"] == "vae.safetensors"


def test_a_vae_made_for_another_latent_space_is_refused(tmp_path, models):
    vae_path = tmp_path / "xl_vae.safetensors"
    save_file({"encoder.conv_in.weight": torch.zeros(4, 3, 3, 3)}, str(vae_path),
              metadata={"modelspec.architecture": "stable-diffusion-xl-v1-base/vae"})  # fmt: skip

    class Vae:
        name, path = "xl_vae.safetensors", vae_path

    recipe = MergeRecipe("a", interp="No interpolation", custom_name="never")
    with pytest.raises(MergeError, match=r"VAE xl_vae.safetensors cannot be baked into A \(a.safetensors\) \(SD 1.x\)"):
        merge_checkpoints(recipe, [models["a"]], tmp_path / "out", Vae())
    assert not (tmp_path / "out" / "never.safetensors").exists()


def test_metadata_records_recipe_hashes_and_the_merge_of_merges(tmp_path, models):
    first, _ = merge(tmp_path, [models["a"], models["b"]], custom_name="ab")
    first_input = MergeInput(CheckpointInfo(first.path, first.name, False), sha256_of_path(first.path))
    second, _ = merge(tmp_path, [first_input, models["c"]], custom_name="abc", multiplier=0.5)
    with safe_open(str(second.path), "pt") as handle:
        metadata = handle.metadata()
    assert metadata["format"] == "pt"
    recipe = json.loads(metadata["sd_merge_recipe"])
    assert recipe["primary_model_hash"] == first_input.sha256 and recipe["secondary_model_hash"] == models["c"].sha256
    assert recipe["interp_method"] == "Weighted sum" and recipe["multiplier"] == 0.5
    assert recipe["tertiary_model_hash"] is None
    merged_models = json.loads(metadata["sd_merge_models"])
    assert set(merged_models) == {first_input.sha256, models["a"].sha256, models["b"].sha256, models["c"].sha256}
    assert merged_models[first_input.sha256]["sd_merge_recipe"]["custom_name"] == "ab"
    expected_a = {"name": "a.safetensors", "legacy_hash": legacy_hash(models["a"].info.path), "sd_merge_recipe": None}
    assert merged_models[models["a"].sha256] == expected_a
    quiet, _ = merge(tmp_path, [models["a"], models["b"]], custom_name="quiet", save_metadata=False)
    assert safe_open(str(quiet.path), "pt").metadata() == {"format": "pt"}


def test_family_mismatch_is_refused_naming_both_and_nothing_is_written(tmp_path, models):
    xl = write(tmp_path / "in", "xl.safetensors", tensors(3), {EMBEDDED_CONFIG_KEY: json.dumps({"family": "sdxl"})})
    with pytest.raises(MergeError, match=r"A \(a.safetensors\) \(SD 1.x\) with B \(xl.safetensors\) \(SDXL\)"):
        merge(tmp_path, [models["a"], xl])
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_shape_mismatch_is_refused_naming_the_tensor_and_both_files(tmp_path, models):
    odd = write(tmp_path / "in", "odd.safetensors", {**tensors(4), UNET_KEY: torch.zeros(8, 9)})
    reason = rf"{UNET_KEY}: A \(a.safetensors\) has shape \[8, 8\], B \(odd.safetensors\) \[8, 9\]"
    with pytest.raises(MergeError, match=reason):
        merge(tmp_path, [models["a"], odd])
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_inpainting_a_takes_b_into_its_first_four_channels(tmp_path, models):
    inpaint = write(tmp_path / "in", "inp.safetensors", tensors(5, in_channels=9))
    result, merged = merge(tmp_path, [inpaint, models["b"]], multiplier=1.0, custom_name="mine")
    assert result.path.name == "mine.inpainting.safetensors"
    a, b = load_file(str(inpaint.info.path)), load_file(str(models["b"].info.path))
    assert torch.equal(merged[UNET_IN_KEY][:, :4], b[UNET_IN_KEY])
    assert torch.equal(merged[UNET_IN_KEY][:, 4:], a[UNET_IN_KEY][:, 4:])
    with pytest.raises(MergeError, match="A must be the inpainting model"):
        merge(tmp_path, [models["b"], inpaint])


@pytest.mark.parametrize("custom", ["../evil", "sub/x", ".hidden", "a\\b"])
def test_a_path_as_custom_name_is_refused(custom):
    with pytest.raises(ValueError, match="plain file name"):
        MergeRecipe("a", "b", custom_name=custom)


def test_copy_config_carries_the_yaml_and_embedded_config(tmp_path, models):
    config = json.dumps({"family": "sd1", "unet": {"sample_size": 8}})
    b = write(tmp_path / "in", "cfg.safetensors", tensors(6), {EMBEDDED_CONFIG_KEY: config})
    (tmp_path / "in" / "cfg.yaml").write_text("model: b\n")
    result, _ = merge(tmp_path, [models["a"], b], custom_name="withcfg")
    assert (tmp_path / "out" / "withcfg.yaml").read_text() == "model: b\n"
    assert safe_open(str(result.path), "pt").metadata()[EMBEDDED_CONFIG_KEY] == config
    merge(tmp_path, [models["a"], b], custom_name="nocfg", copy_config_from="Don't")
    assert not (tmp_path / "out" / "nocfg.yaml").exists()


def test_a_pickled_input_merges_like_its_safetensors_twin(tmp_path, models):
    path = tmp_path / "in" / "b.ckpt"
    torch.save({"state_dict": load_file(str(models["b"].info.path))}, path)
    pickled = MergeInput(CheckpointInfo(path, "b.ckpt", False), sha256_of_path(path))
    _, from_pickle = merge(tmp_path, [models["a"], pickled], custom_name="p")
    _, from_safetensors = merge(tmp_path, [models["a"], models["b"]], custom_name="s")
    assert all(torch.equal(from_pickle[key], from_safetensors[key]) for key in from_safetensors)




def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path, models):
    marker = tmp_path / "pwned"
    path = tmp_path / "in" / "evil.ckpt"
    path.write_bytes(pickle.dumps({"state_dict": TouchOnUnpickle(marker)}))
    evil = MergeInput(CheckpointInfo(path, "evil.ckpt", False), sha256_of_path(path))
    with pytest.raises(MergeError, match=r"B \(evil.ckpt\): evil.ckpt: refused"):
        merge(tmp_path, [models["a"], evil])
    assert not marker.exists()


def test_a_diffusers_folder_is_refused(tmp_path, models):
    folder = tmp_path / "in" / "folder"
    folder.mkdir()
    with pytest.raises(MergeError, match="diffusers folder"):
        merge(tmp_path, [models["a"], MergeInput(CheckpointInfo(folder, "folder", True), "0" * 64)])


def test_streamed_file_equals_a_normal_save(tmp_path):
    generator = torch.Generator().manual_seed(0)
    state = {
        "f32": torch.randn(3, 5, generator=generator),
        "f16": torch.randn(7, generator=generator).half(),
        "bf16": torch.randn(2, 2, generator=generator).bfloat16(),
        "i64": torch.arange(5),
        "flag": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 4),
    }
    save_file(state, str(tmp_path / "normal.safetensors"), metadata={"k": "v"})
    specs = [TensorSpec(name, value.dtype, tuple(value.shape)) for name, value in state.items()]
    with StreamingSafetensorsWriter(tmp_path / "streamed.safetensors", specs, {"k": "v"}) as writer:
        for name, value in state.items():
            writer.write(name, value)
    normal = load_file(str(tmp_path / "normal.safetensors"))
    streamed = load_file(str(tmp_path / "streamed.safetensors"))
    assert set(normal) == set(streamed)
    assert all(torch.equal(normal[k], streamed[k]) and normal[k].dtype == streamed[k].dtype for k in normal)
    assert safe_open(str(tmp_path / "streamed.safetensors"), "pt").metadata() == {"k": "v"}


def test_streamed_writer_leaves_nothing_when_a_tensor_is_missing(tmp_path):
    specs = [TensorSpec("x", torch.float32, (2,)), TensorSpec("y", torch.float32, (2,))]
    with pytest.raises(ValueError, match="never written"):
        with StreamingSafetensorsWriter(tmp_path / "out.safetensors", specs, {}) as writer:
            writer.write("x", torch.zeros(2))
    with pytest.raises(ValueError, match="expected y"):
        with StreamingSafetensorsWriter(tmp_path / "out.safetensors", specs, {}) as writer:
            writer.write("x", torch.zeros(2))
            writer.write("y", torch.zeros(3))
    assert list(tmp_path.iterdir()) == []
