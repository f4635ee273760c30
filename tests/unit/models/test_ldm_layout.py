"""The diffusers -> original layout renaming.

SD 1.5's names are checked on the real architecture built on the meta device (no memory, no
weights) from the carried configs. Every family's writer is checked against diffusers' own
single-file loader: a tiny random model written in the original layout loads back into
exactly the tensors it was written from.
"""

import json
import shutil

import pytest
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from safetensors import safe_open

from modules.models import ldm_layout
from modules.models.ldm_layout import unet_to_ldm, vae_to_ldm
from modules.models.loading import EMBEDDED_CONFIG_KEY, SD1_CONFIG_DIR
from tests.fixtures.tiny_families import (
    FAMILIES,
    build_tiny_family,
    config_dir,
    save_tiny_family,
    save_tiny_family_folder,
)


def _meta_state(cls, part):
    config = json.loads((SD1_CONFIG_DIR / part / "config.json").read_text())
    with torch.device("meta"):
        module = cls.from_config(config)
    return module.state_dict(), config


def test_sd15_unet_names_match_the_original_layout():
    state, config = _meta_state(UNet2DConditionModel, "unet")
    names = set(unet_to_ldm(state, config))
    assert len(names) == len(state) == 686
    prefix = "model.diffusion_model."
    for key in (
        "input_blocks.0.0.weight",
        "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight",
        "input_blocks.3.0.op.weight",
        "input_blocks.4.0.skip_connection.weight",
        "input_blocks.11.0.out_layers.3.weight",
        "middle_block.0.emb_layers.1.weight",
        "middle_block.1.proj_in.weight",
        "middle_block.2.in_layers.0.weight",
        "output_blocks.2.1.conv.weight",
        "output_blocks.5.2.conv.weight",
        "output_blocks.8.2.conv.weight",
        "output_blocks.11.1.proj_out.weight",
        "time_embed.2.bias",
        "out.2.weight",
    ):
        assert prefix + key in names, key


def test_sd15_vae_names_and_attention_shapes_match_the_original_layout():
    state, config = _meta_state(AutoencoderKL, "vae")
    converted = vae_to_ldm(state, config)
    assert len(converted) == len(state)
    prefix = "first_stage_model."
    assert converted[prefix + "encoder.mid.attn_1.q.weight"].shape == (512, 512, 1, 1)
    for key in (
        "encoder.down.0.block.0.conv1.weight",
        "encoder.down.1.block.0.nin_shortcut.weight",
        "encoder.down.2.downsample.conv.weight",
        "encoder.mid.block_2.norm2.weight",
        "encoder.norm_out.weight",
        "decoder.up.3.block.2.conv2.weight",
        "decoder.up.3.upsample.conv.weight",
        "decoder.up.0.block.0.nin_shortcut.weight",
        "decoder.mid.attn_1.proj_out.bias",
        "quant_conv.weight",
        "post_quant_conv.weight",
    ):
        assert prefix + key in converted, key


# --- every family: tiny modules -> original layout -> diffusers' own loader -> the same tensors ---

PIPELINES = {
    "sd1": "StableDiffusionPipeline",
    "sd2": "StableDiffusionPipeline",
    "sdxl": "StableDiffusionXLPipeline",
    "sdxl_refiner": "StableDiffusionXLImg2ImgPipeline",
    "sd1_inpaint": "StableDiffusionInpaintPipeline",
    "sdxl_inpaint": "StableDiffusionXLInpaintPipeline",
    "ip2p": "StableDiffusionInstructPix2PixPipeline",
}
MODULE_PARTS = ("unet", "vae", "text_encoder", "text_encoder_2")


def _embedded(path):
    with safe_open(str(path), framework="pt") as handle:
        return json.loads(handle.metadata()[EMBEDDED_CONFIG_KEY])


def _config_folder(path, family, v_prediction, target):
    """The carried folder of the family with the file's own (tiny) module configs in it."""
    shutil.copytree(config_dir(family, v_prediction), target)
    for part, config in _embedded(path).items():
        if part in MODULE_PARTS:
            (target / part / "config.json").write_text(json.dumps(config))
    return target


@pytest.mark.parametrize(("family", "v_prediction"), [(f, False) for f in FAMILIES] + [("sd2", True)])
def test_diffusers_single_file_loader_gives_back_the_written_tensors(tmp_path, family, v_prediction):
    import diffusers

    path = save_tiny_family(family, tmp_path / "tiny.safetensors", seed=3, v_prediction=v_prediction)
    parts = build_tiny_family(family, seed=3, v_prediction=v_prediction)
    pipeline_class = getattr(diffusers, PIPELINES[family])
    extra = {} if family.startswith("sdxl") else {"safety_checker": None, "requires_safety_checker": False}
    pipe = pipeline_class.from_single_file(
        str(path),
        config=str(_config_folder(path, family, v_prediction, tmp_path / "config")),
        local_files_only=True,
        **extra,
    )
    for part in MODULE_PARTS:
        mine, loaded = parts[part], getattr(pipe, part, None)
        if mine is None:
            assert loaded is None, part
            continue
        expected, got = mine.state_dict(), loaded.state_dict()
        assert set(got) == set(expected), part
        assert all(torch.equal(got[key], expected[key]) for key in expected), part
    prediction = "v_prediction" if v_prediction else "epsilon"
    assert pipe.scheduler.config.prediction_type == prediction


@pytest.mark.parametrize("family", FAMILIES)
def test_embedded_configs_name_the_family_and_its_parts(tmp_path, family):
    path = save_tiny_family(family, tmp_path / "tiny.safetensors")
    configs = _embedded(path)
    assert configs["family"] == family
    expected = {"unet", "vae", "scheduler"}
    expected |= {"text_encoder_2"} if family.startswith("sdxl") else set()
    expected |= set() if family == "sdxl_refiner" else {"text_encoder"}
    assert set(configs) - {"family"} == expected
    channels = {"sd1_inpaint": 9, "sdxl_inpaint": 9, "ip2p": 8}.get(family, 4)
    assert configs["unet"]["in_channels"] == channels
    with safe_open(str(path), framework="pt") as handle:
        assert handle.get_slice("model.diffusion_model.input_blocks.0.0.weight").get_shape()[1] == channels


def test_sdxl_text_encoders_sit_where_the_original_layout_puts_them(tmp_path):
    parts = build_tiny_family("sdxl")
    state = ldm_layout.family_to_ldm(parts, "sdxl")
    big_g = parts["text_encoder_2"].state_dict()
    prefix = "conditioner.embedders.1.model."
    hidden = big_g["text_model.embeddings.position_embedding.weight"].shape[1]
    stacked = state[prefix + "transformer.resblocks.1.attn.in_proj_weight"]
    assert stacked.shape == (3 * hidden, hidden)
    assert torch.equal(stacked[hidden : 2 * hidden], big_g["text_model.encoder.layers.1.self_attn.k_proj.weight"])
    assert torch.equal(state[prefix + "text_projection"], big_g["text_projection.weight"].T)
    assert "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight" in state
    unet = parts["unet"].state_dict()
    assert torch.equal(state["model.diffusion_model.label_emb.0.2.weight"], unet["add_embedding.linear_2.weight"])
    # two transformer layers at the attention level, as SDXL has 2 and 10 there
    assert "model.diffusion_model.input_blocks.3.1.transformer_blocks.1.attn2.to_k.weight" in state
    assert not any(key.startswith("cond_stage_model.") for key in state)


def test_refiner_keeps_only_its_big_g_encoder_under_embedder_0(tmp_path):
    state = ldm_layout.family_to_ldm(build_tiny_family("sdxl_refiner"), "sdxl_refiner")
    assert "conditioner.embedders.0.model.text_projection" in state
    assert not any(
        key.startswith(("conditioner.embedders.1.", "conditioner.embedders.0.transformer.")) for key in state
    )


def test_save_family_file_casts_floats_and_refuses_what_it_cannot_write(tmp_path):
    path = save_tiny_family("sd2", tmp_path / "half.safetensors", dtype=torch.float16)
    with safe_open(str(path), framework="pt") as handle:
        assert handle.get_tensor("cond_stage_model.model.ln_final.weight").dtype == torch.float16
    parts = build_tiny_family("sdxl")
    with pytest.raises(LookupError, match="unknown model family"):
        ldm_layout.save_family_file(parts, tmp_path / "x.safetensors", "sd3")
    with pytest.raises(ValueError, match="text_encoder_2"):
        ldm_layout.save_family_file({**parts, "text_encoder_2": None}, tmp_path / "x.safetensors", "sdxl")
    assert not list(tmp_path.glob("x.safetensors*")) and not list(tmp_path.glob(".x.safetensors*"))


def test_save_single_file_still_writes_sd1(tmp_path):
    parts = build_tiny_family("sd1")
    ldm_layout.save_single_file(parts["unet"], parts["vae"], parts["text_encoder"], tmp_path / "a.safetensors")
    ldm_layout.save_family_file(parts, tmp_path / "b.safetensors", "sd1")
    assert _embedded(tmp_path / "a.safetensors")["family"] == "sd1"
    with (
        safe_open(str(tmp_path / "a.safetensors"), framework="pt") as a,
        safe_open(str(tmp_path / "b.safetensors"), framework="pt") as b,
    ):
        assert set(a.keys()) == set(b.keys())
        assert all(torch.equal(a.get_tensor(k), b.get_tensor(k)) for k in a.keys())


@pytest.mark.parametrize("family", ["sd2", "sdxl", "sdxl_refiner", "ip2p"])
def test_tiny_family_folders_load_with_diffusers(tmp_path, family):
    import diffusers

    folder = save_tiny_family_folder(family, tmp_path / "tiny", seed=5)
    parts = build_tiny_family(family, seed=5)
    pipe = getattr(diffusers, PIPELINES[family]).from_pretrained(folder, local_files_only=True)
    for part in MODULE_PARTS:
        if parts[part] is None:
            assert getattr(pipe, part, None) is None, part
            continue
        expected, got = parts[part].state_dict(), getattr(pipe, part).state_dict()
        assert all(torch.equal(got[key], expected[key]) for key in expected), part
