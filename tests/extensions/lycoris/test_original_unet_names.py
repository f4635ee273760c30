"""The original (LDM / SGM) name of each UNet layer, as kohya's SDXL trainer writes it, names the very
tensor that layer holds in the original-layout checkpoint file, for every family's UNet."""

import pytest
import torch

from modules.models.ldm_layout import UNET_PREFIX, unet_module_ldm_names, unet_to_ldm
from tests.extensions.lycoris.family_loras import SDXL_UNET_LAYERS
from tests.fixtures.tiny_families import build_tiny_family


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl", "sdxl_refiner", "sdxl_inpaint"])
def test_every_weighted_layer_has_its_original_name(family):
    unet = build_tiny_family(family)["unet"]
    names = unet_module_ldm_names(unet)
    original = unet_to_ldm(unet.state_dict(), dict(unet.config))
    weighted = {
        name for name, module in unet.named_modules() if isinstance(getattr(module, "weight", None), torch.Tensor)
    }
    assert set(names) == weighted
    assert len(set(names.values())) == len(names)  # no two layers share a name
    for name, ldm_name in names.items():
        # the same storage: the file keeps this very layer's tensor under that name
        assert original[UNET_PREFIX + ldm_name + ".weight"].data_ptr() == unet.get_submodule(name).weight.data_ptr()


def test_sdxl_names_as_kohya_writes_them():
    names = unet_module_ldm_names(build_tiny_family("sdxl")["unet"])
    for ldm_name, diffusers_name in SDXL_UNET_LAYERS:
        assert names[diffusers_name] == ldm_name


# Keys of published kohya SDXL LoRA / LoCon files -> the diffusers layer of the full-size SDXL UNet.
KOHYA_SDXL_KEYS = (
    ("lora_unet_input_blocks_0_0", "conv_in"),
    ("lora_unet_time_embed_0", "time_embedding.linear_1"),
    ("lora_unet_label_emb_0_0", "add_embedding.linear_1"),
    ("lora_unet_input_blocks_3_0_op", "down_blocks.0.downsamplers.0.conv"),
    (
        "lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q",
        "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q",
    ),
    ("lora_unet_input_blocks_5_0_emb_layers_1", "down_blocks.1.resnets.1.time_emb_proj"),
    (
        "lora_unet_input_blocks_7_1_transformer_blocks_9_ff_net_2",
        "down_blocks.2.attentions.0.transformer_blocks.9.ff.net.2",
    ),
    (
        "lora_unet_middle_block_1_transformer_blocks_9_attn2_to_v",
        "mid_block.attentions.0.transformer_blocks.9.attn2.to_v",
    ),
    ("lora_unet_middle_block_2_in_layers_2", "mid_block.resnets.1.conv1"),
    (
        "lora_unet_output_blocks_0_1_transformer_blocks_0_attn1_to_out_0",
        "up_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0",
    ),
    ("lora_unet_output_blocks_2_2_conv", "up_blocks.0.upsamplers.0.conv"),
    ("lora_unet_output_blocks_5_1_proj_out", "up_blocks.1.attentions.2.proj_out"),
    ("lora_unet_output_blocks_8_0_skip_connection", "up_blocks.2.resnets.2.conv_shortcut"),
    ("lora_unet_out_2", "conv_out"),
)


def test_full_size_sdxl_kohya_keys_find_their_layers():
    """On the published SDXL architecture (built on the meta device: no memory), as the extension
    looks layers up; diffusers-named keys keep working beside them."""
    from tests.extensions.lycoris_support import ext_module
    from tests.fixtures.real_layouts import meta_parts

    parts = meta_parts("sdxl")
    index = ext_module("layout").LayerIndex({"unet": parts["unet"], "te": parts["text_encoder"]})
    for key, diffusers_name in KOHYA_SDXL_KEYS:
        layer = index.get(key)
        assert layer is not None and layer.name == diffusers_name, key
    assert index.get("lora_unet_down_blocks_1_attentions_0_proj_in").name == "down_blocks.1.attentions.0.proj_in"
    assert index.get("lora_te1_text_model_encoder_layers_11_mlp_fc2").component == "te"
    assert index.absent_component("lora_te2_text_model_encoder_layers_0_mlp_fc1") == "te2"
