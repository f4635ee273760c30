"""The published checkpoints' key lists (tests/fixtures/real_layouts.py) are right.

They are rebuilt from the carried configs on the meta device, so these checks hold the
carried configs and our writers to the published architectures: diffusers' own detector
names each list's model type, diffusers' own converters turn each list back into exactly
the modules the configs describe, and the counts and shapes are the published ones.
"""

import json

import pytest
import torch
from diffusers.loaders.single_file_utils import (
    convert_ldm_clip_checkpoint,
    convert_ldm_unet_checkpoint,
    convert_ldm_vae_checkpoint,
    convert_open_clip_checkpoint,
    infer_diffusers_model_type,
)

from modules.models import ldm_layout
from tests.fixtures.real_layouts import (
    CONFIGS_DIR,
    DDPM_BUFFERS,
    REAL_LAYOUTS,
    meta_parts,
    real_keys_and_shapes,
    real_layout,
)

DIFFUSERS_TYPES = {
    "sd15": "v1",
    "sd15_inpaint": "inpainting",
    "sd21_512": "v2",
    "sd21_768_v": "v2",
    "sdxl_base": "xl_base",
    "sdxl_refiner": "xl_refiner",
    "sdxl_inpaint": "xl_inpaint",
    "ip2p": "instruct-pix2pix",
}


@pytest.fixture(scope="module")
def layouts():
    """real_layout, each built once for this module (building SDXL's takes a second)."""
    built = {}

    def get(name):
        if name not in built:
            built[name] = real_layout(name)
        return built[name]

    return get


def _shapes(state: dict) -> dict[str, tuple]:
    return {key.removeprefix("text_model."): tuple(t.shape) for key, t in state.items() if "position_ids" not in key}


@pytest.mark.parametrize("name", list(REAL_LAYOUTS))
def test_diffusers_names_the_model_type_of_each_published_layout(name, layouts):
    assert infer_diffusers_model_type(layouts(name)) == DIFFUSERS_TYPES[name]


@pytest.mark.parametrize("name", list(REAL_LAYOUTS))
def test_diffusers_converters_rebuild_the_modules_from_each_published_layout(name, layouts):
    family, folder = REAL_LAYOUTS[name]
    checkpoint = layouts(name)
    parts = meta_parts(folder)
    unet = convert_ldm_unet_checkpoint(checkpoint, dict(parts["unet"].config))
    assert _shapes(unet) == _shapes(parts["unet"].state_dict())
    vae = convert_ldm_vae_checkpoint(checkpoint, dict(parts["vae"].config))
    assert _shapes(vae) == _shapes(parts["vae"].state_dict())
    for part, layout, prefix in ldm_layout.text_layout(family):
        module = parts[part]
        if layout == "clip":
            text = convert_ldm_clip_checkpoint({k: v for k, v in checkpoint.items() if k.startswith(prefix)})
        else:
            text = convert_open_clip_checkpoint(module, checkpoint, prefix=prefix)
        assert _shapes(text) == _shapes(module.state_dict()), part


def test_component_counts_are_those_of_the_published_files(layouts):
    def count(state, prefix):
        return sum(key.startswith(prefix) for key in state)

    sd15 = layouts("sd15")
    assert count(sd15, "model.diffusion_model.") == 686
    assert count(sd15, "first_stage_model.") == 248
    assert count(sd15, "cond_stage_model.transformer.") == 197
    assert len(sd15) - len(DDPM_BUFFERS) == 1131  # UNet + VAE + text encoder, no EMA

    sd21 = layouts("sd21_768_v")
    assert count(sd21, "model.diffusion_model.") == 686
    assert count(sd21, "cond_stage_model.model.") == 24 * 12 + 6  # 24 OpenCLIP layers and 6 loose tensors

    sdxl = layouts("sdxl_base")
    assert len(sdxl) == 2515
    assert count(sdxl, "model.diffusion_model.") == 1680
    assert count(sdxl, "conditioner.embedders.0.transformer.") == 197
    assert count(sdxl, "conditioner.embedders.1.model.") == 32 * 12 + 6

    refiner = layouts("sdxl_refiner")
    assert count(refiner, "conditioner.embedders.0.model.") == 32 * 12 + 6
    assert not any(key.startswith("conditioner.embedders.1.") for key in refiner)


def test_published_parameter_counts_of_the_carried_configs():
    def params(module):
        return sum(p.numel() for p in module.parameters())

    sd1, sd2, sdxl, refiner = (meta_parts(f) for f in ("sd1", "sd2_v", "sdxl", "sdxl_refiner"))
    assert params(sd1["unet"]) == 859_520_964
    assert params(sd1["vae"]) == params(sdxl["vae"]) == 83_653_863
    assert params(sd1["text_encoder"]) == params(sdxl["text_encoder"]) == 123_060_480
    assert params(sd2["unet"]) == 865_910_724
    assert params(sd2["text_encoder"]) == 340_387_840  # ViT-H without its last layer
    assert params(sdxl["unet"]) == 2_567_463_684
    assert params(sdxl["text_encoder_2"]) == params(refiner["text_encoder_2"]) == 694_659_840


@pytest.mark.parametrize(
    ("name", "key", "shape"),
    [
        ("sd15", "model.diffusion_model.input_blocks.1.1.proj_in.weight", [320, 320, 1, 1]),
        ("sd15", "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", [320, 768]),
        ("sd15", "cond_stage_model.transformer.text_model.embeddings.position_ids", [1, 77]),
        ("sd15", "alphas_cumprod", [1000]),
        ("sd15_inpaint", "model.diffusion_model.input_blocks.0.0.weight", [320, 9, 3, 3]),
        ("ip2p", "model.diffusion_model.input_blocks.0.0.weight", [320, 8, 3, 3]),
        ("sd21_768_v", "model.diffusion_model.input_blocks.1.1.proj_in.weight", [320, 320]),
        ("sd21_768_v", "model.diffusion_model.input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight", [320, 1024]),
        ("sd21_512", "cond_stage_model.model.transformer.resblocks.23.attn.in_proj_weight", [3072, 1024]),
        ("sd21_512", "cond_stage_model.model.transformer.resblocks.0.mlp.c_fc.weight", [4096, 1024]),
        ("sd21_512", "cond_stage_model.model.positional_embedding", [77, 1024]),
        ("sd21_512", "cond_stage_model.model.text_projection", [1024, 1024]),
        ("sd21_512", "cond_stage_model.model.logit_scale", []),
        ("sdxl_base", "model.diffusion_model.label_emb.0.0.weight", [1280, 2816]),
        ("sdxl_base", "model.diffusion_model.label_emb.0.2.weight", [1280, 1280]),
        ("sdxl_base", "model.diffusion_model.input_blocks.4.1.transformer_blocks.1.attn1.to_q.weight", [640, 640]),
        ("sdxl_base", "model.diffusion_model.input_blocks.8.1.transformer_blocks.9.attn2.to_k.weight", [1280, 2048]),
        ("sdxl_base", "model.diffusion_model.middle_block.1.transformer_blocks.9.ff.net.2.weight", [1280, 5120]),
        ("sdxl_base", "model.diffusion_model.output_blocks.2.2.conv.weight", [1280, 1280, 3, 3]),
        ("sdxl_base", "model.diffusion_model.output_blocks.5.2.conv.weight", [640, 640, 3, 3]),
        (
            "sdxl_base",
            "conditioner.embedders.0.transformer.text_model.encoder.layers.11.mlp.fc2.weight",
            [768, 3072],
        ),
        ("sdxl_base", "conditioner.embedders.1.model.transformer.resblocks.31.attn.in_proj_weight", [3840, 1280]),
        ("sdxl_base", "conditioner.embedders.1.model.text_projection", [1280, 1280]),
        ("sdxl_base", "first_stage_model.decoder.mid.attn_1.q.weight", [512, 512, 1, 1]),
        ("sdxl_inpaint", "model.diffusion_model.input_blocks.0.0.weight", [320, 9, 3, 3]),
        ("sdxl_refiner", "model.diffusion_model.label_emb.0.0.weight", [1536, 2560]),
        ("sdxl_refiner", "model.diffusion_model.input_blocks.4.1.transformer_blocks.3.attn2.to_k.weight", [768, 1280]),
        ("sdxl_refiner", "model.diffusion_model.input_blocks.7.0.skip_connection.weight", [1536, 768, 1, 1]),
        ("sdxl_refiner", "conditioner.embedders.0.model.transformer.resblocks.31.ln_2.bias", [1280]),
    ],
)
def test_well_known_names_and_shapes(name, key, shape, layouts):
    tensor = layouts(name).get(key)
    assert tensor is not None and list(tensor.shape) == shape


def test_keys_and_shapes_are_those_of_the_layout(layouts):
    keys, shapes = real_keys_and_shapes("sd15_inpaint")
    assert keys == set(layouts("sd15_inpaint")) == set(shapes)
    assert shapes["model.diffusion_model.input_blocks.0.0.weight"] == [320, 9, 3, 3]


def test_layouts_are_built_without_memory(layouts):
    assert all(tensor.device == torch.device("meta") for tensor in layouts("sdxl_base").values())


CARRIED = ("sd1", "sd2", "sd2_v", "sdxl", "sdxl_refiner", "sd1_inpaint", "sdxl_inpaint", "ip2p")
OPEN_CLIP_TOKENIZERS = {("sd2", "tokenizer"), ("sd2_v", "tokenizer")} | {
    (folder, "tokenizer_2") for folder in ("sdxl", "sdxl_refiner", "sdxl_inpaint")
}


@pytest.mark.parametrize("folder", CARRIED)
def test_carried_folder_holds_every_part_its_pipeline_needs(folder):
    import diffusers
    from transformers import CLIPTokenizer

    root = CONFIGS_DIR / folder
    index = json.loads((root / "model_index.json").read_text(encoding="utf-8"))
    pipeline_class = getattr(diffusers, index["_class_name"])
    expected, _ = pipeline_class._get_signature_keys(pipeline_class)
    missing = set(expected) - set(pipeline_class._optional_components) - set(index)
    assert not missing, missing
    for part, (_library, class_name) in ((k, v) for k, v in index.items() if isinstance(v, list)):
        if class_name is None:
            assert not (root / part).exists(), part
        elif part == "scheduler":
            scheduler = getattr(diffusers, class_name).from_pretrained(root, subfolder="scheduler")
            assert scheduler.config.num_train_timesteps == 1000
        elif part.startswith("tokenizer"):
            tokenizer = CLIPTokenizer.from_pretrained(root / part)
            assert len(tokenizer) == 49408
            assert tokenizer.pad_token == ("!" if (folder, part) in OPEN_CLIP_TOKENIZERS else "<|endoftext|>")
            # the same BPE for both: OpenAI's ids
            assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
        else:
            assert (root / part / "config.json").is_file(), part


def test_v_prediction_and_upcast_are_those_of_sd21_768():
    def load(folder, part, name):
        return json.loads((CONFIGS_DIR / folder / part / name).read_text(encoding="utf-8"))

    assert load("sd2_v", "scheduler", "scheduler_config.json")["prediction_type"] == "v_prediction"
    assert load("sd2", "scheduler", "scheduler_config.json")["prediction_type"] == "epsilon"
    assert load("sd2_v", "unet", "config.json")["upcast_attention"] is True
    assert load("sd2_v", "unet", "config.json")["sample_size"] * 8 == 768
    assert load("sdxl", "vae", "config.json")["scaling_factor"] == 0.13025
    refiner = json.loads((CONFIGS_DIR / "sdxl_refiner" / "model_index.json").read_text(encoding="utf-8"))
    assert refiner["requires_aesthetics_score"] is True and refiner["text_encoder"] == [None, None]
    sdxl = json.loads((CONFIGS_DIR / "sdxl" / "model_index.json").read_text(encoding="utf-8"))
    assert sdxl["force_zeros_for_empty_prompt"] is True
