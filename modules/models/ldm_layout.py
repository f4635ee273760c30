"""Rename diffusers-layout weights to the original (LDM) single-file layout of SD 1.x.

A1111 and most tools trade checkpoints as one original-layout file; we write that layout
when we save a model (test fixtures, merges) so the same loader reads ours and theirs.
Loading goes the other way through diffusers' own converter.
"""

import json
import os
import re
from pathlib import Path

import torch
from safetensors.torch import save_file

from modules.models.loading import EMBEDDED_CONFIG_KEY

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_ENCODER_PREFIX = "cond_stage_model.transformer."

_UNET_RESNET_PARTS = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_VAE_ATTENTION_PARTS = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}


def unet_to_ldm(state: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    per_level = config["layers_per_block"]
    up_has_attention = ["CrossAttn" in kind for kind in config["up_block_types"]]
    fixed = {
        "time_embedding.linear_1": "time_embed.0",
        "time_embedding.linear_2": "time_embed.2",
        "conv_in": "input_blocks.0.0",
        "conv_norm_out": "out.0",
        "conv_out": "out.2",
    }
    out = {}
    for key, tensor in state.items():
        out[UNET_PREFIX + _unet_key(key, per_level, up_has_attention, fixed)] = tensor
    return out


def _unet_key(key: str, per_level: int, up_has_attention: list[bool], fixed: dict[str, str]) -> str:
    for old, new in fixed.items():
        if key.startswith(old + "."):
            return new + key[len(old) :]
    if m := re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        level, kind, index, rest = int(m[1]), m[2], int(m[3]), m[4]
        block = 1 + level * (per_level + 1) + index
        return f"input_blocks.{block}.{0 if kind == 'resnets' else 1}.{_resnet_part(rest, kind)}"
    if m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key):
        return f"input_blocks.{(int(m[1]) + 1) * (per_level + 1)}.0.op.{m[2]}"
    if m := re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        level, kind, index, rest = int(m[1]), m[2], int(m[3]), m[4]
        block = level * (per_level + 1) + index
        return f"output_blocks.{block}.{0 if kind == 'resnets' else 1}.{_resnet_part(rest, kind)}"
    if m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.(.*)", key):
        level = int(m[1])
        slot = 2 if up_has_attention[level] else 1
        return f"output_blocks.{level * (per_level + 1) + per_level}.{slot}.{m[2]}"
    if m := re.match(r"mid_block\.attentions\.0\.(.*)", key):
        return f"middle_block.1.{m[1]}"
    if m := re.match(r"mid_block\.resnets\.(\d+)\.(.*)", key):
        return f"middle_block.{2 * int(m[1])}.{_resnet_part(m[2], 'resnets')}"
    raise KeyError(f"unexpected UNet weight name: {key}")


def _resnet_part(rest: str, kind: str) -> str:
    if kind != "resnets":
        return rest
    head, _, tail = rest.partition(".")
    return f"{_UNET_RESNET_PARTS.get(head, head)}.{tail}"


def vae_to_ldm(state: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    levels = len(config["block_out_channels"])
    out = {}
    for key, tensor in state.items():
        new_key = _vae_key(key, levels)
        if re.search(r"mid\.attn_1\.(q|k|v|proj_out)\.weight$", new_key) and tensor.ndim == 2:
            tensor = tensor[:, :, None, None]  # LDM's VAE attention uses 1x1 convs
        out[VAE_PREFIX + new_key] = tensor
    return out


def _vae_key(key: str, levels: int) -> str:
    key = key.replace("conv_norm_out.", "norm_out.")
    if m := re.match(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.*)", key):
        return f"{m[1]}.mid.block_{int(m[2]) + 1}.{_vae_resnet_part(m[3])}"
    if m := re.match(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.*)", key):
        head, sep, tail = m[2].rpartition(".")
        return f"{m[1]}.mid.attn_1.{_VAE_ATTENTION_PARTS.get(head, head)}{sep}{tail}"
    if m := re.match(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", key):
        return f"encoder.down.{m[1]}.block.{m[2]}.{_vae_resnet_part(m[3])}"
    if m := re.match(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key):
        return f"encoder.down.{m[1]}.downsample.conv.{m[2]}"
    if m := re.match(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", key):
        return f"decoder.up.{levels - 1 - int(m[1])}.block.{m[2]}.{_vae_resnet_part(m[3])}"
    if m := re.match(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", key):
        return f"decoder.up.{levels - 1 - int(m[1])}.upsample.conv.{m[2]}"
    return key


def _vae_resnet_part(rest: str) -> str:
    return rest.replace("conv_shortcut.", "nin_shortcut.")


def text_encoder_to_ldm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, tensor in state.items():
        if not key.startswith("text_model."):
            key = "text_model." + key  # transformers 5 drops this prefix when saving
        out[TEXT_ENCODER_PREFIX + key] = tensor
    return out


def pipeline_to_ldm(unet, vae, text_encoder) -> dict[str, torch.Tensor]:
    """One original-layout state dict from loaded diffusers/transformers modules."""
    state = {}
    state.update(unet_to_ldm(unet.state_dict(), dict(unet.config)))
    state.update(vae_to_ldm(vae.state_dict(), dict(vae.config)))
    state.update(text_encoder_to_ldm(text_encoder.state_dict()))
    return {k: v.detach().contiguous() for k, v in state.items()}


def save_single_file(unet, vae, text_encoder, path, dtype=None) -> None:
    """One original-layout .safetensors with the diffusers configs embedded in its metadata,
    so the loader rebuilds models of any size from the file alone. Written atomically."""

    state = pipeline_to_ldm(unet, vae, text_encoder)
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    configs = {"unet": dict(unet.config), "vae": dict(vae.config), "text_encoder": text_encoder.config.to_dict()}
    # diffusers keeps a list built from a set here: its order changes per run and breaks
    # byte-identical re-exports, and loading does not need it.
    configs = {part: {k: v for k, v in cfg.items() if k != "_use_default_values"} for part, cfg in configs.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(state, os.fspath(tmp), metadata={EMBEDDED_CONFIG_KEY: json.dumps(configs, default=str)})
    os.replace(tmp, path)
