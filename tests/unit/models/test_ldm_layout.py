"""The diffusers -> original layout renaming, checked on the real SD 1.5 architecture.

The UNet and VAE are built on the meta device (no memory, no weights), from the SD 1.x
configs the repo carries, so the key names are those of a real SD 1.5 checkpoint.
"""

import json

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel

from modules.models.ldm_layout import unet_to_ldm, vae_to_ldm
from modules.models.loading import SD1_CONFIG_DIR


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
