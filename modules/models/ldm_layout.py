"""Rename diffusers-layout weights to the original (LDM / SGM) single-file layout of each family.

A1111 and most tools trade checkpoints as one original-layout file; we write that layout
when we save a model (test fixtures, merges) so the same loader reads ours and theirs.
Loading goes the other way through diffusers' own converter, which is the proof that these
names are right: converting back gives the very tensors we started from.
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
OPEN_CLIP_PREFIX = "cond_stage_model.model."
SDXL_CLIP_L_PREFIX = "conditioner.embedders.0.transformer."
SDXL_OPEN_CLIP_PREFIX = "conditioner.embedders.1.model."
REFINER_OPEN_CLIP_PREFIX = "conditioner.embedders.0.model."

# Where each family's text encoders live in its original file: (part, layout, prefix).
# "clip" is the Hugging Face CLIP layout kept as is (SD 1.x, SDXL's CLIP-L); "open_clip" is
# OpenCLIP's own layout (SD 2.x ViT-H, SDXL's bigG).
_SD1_TEXT = (("text_encoder", "clip", TEXT_ENCODER_PREFIX),)
_SDXL_TEXT = (("text_encoder", "clip", SDXL_CLIP_L_PREFIX), ("text_encoder_2", "open_clip", SDXL_OPEN_CLIP_PREFIX))
TEXT_LAYOUTS = {
    "sd1": _SD1_TEXT,
    "sd1_inpaint": _SD1_TEXT,
    "ip2p": _SD1_TEXT,
    "sd2": (("text_encoder", "open_clip", OPEN_CLIP_PREFIX),),
    "sdxl": _SDXL_TEXT,
    "sdxl_inpaint": _SDXL_TEXT,
    "sdxl_refiner": (("text_encoder_2", "open_clip", REFINER_OPEN_CLIP_PREFIX),),
}

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
        # SDXL's size / crop / aesthetic-score embedding (diffusers' addition_embed_type "text_time")
        "add_embedding.linear_1": "label_emb.0.0",
        "add_embedding.linear_2": "label_emb.0.2",
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


def unet_module_ldm_names(unet) -> dict[str, str]:
    """{diffusers module path: original (LDM / SGM) module path} for every module of a loaded
    diffusers UNet that holds a weight, e.g. "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q"
    -> "input_blocks.4.1.transformer_blocks.0.attn1.to_q" (SDXL). Networks trained on the original
    model (kohya's SDXL LoRAs) name layers this way. Built with the same renaming as unet_to_ldm."""
    config = dict(unet.config)
    names = {}
    for name, module in unet.named_modules():
        weight = getattr(module, "weight", None)
        if not name or not isinstance(weight, torch.Tensor):
            continue
        try:
            (renamed,) = unet_to_ldm({name + ".weight": weight}, config)
        except KeyError:  # a module the original layout has no name for
            continue
        names[name] = renamed.removeprefix(UNET_PREFIX).removesuffix(".weight")
    return names


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


def text_encoder_to_ldm(state: dict[str, torch.Tensor], prefix: str = TEXT_ENCODER_PREFIX) -> dict[str, torch.Tensor]:
    """A Hugging Face CLIP text encoder in its own layout (SD 1.x, SDXL's CLIP-L) under `prefix`."""
    out = {}
    for key, tensor in state.items():
        if not key.startswith("text_model.") and key != "text_projection.weight":
            key = "text_model." + key  # transformers 5 drops this prefix when saving
        out[prefix + key] = tensor
    return out


_OPEN_CLIP_LAYER_PARTS = {
    "self_attn.out_proj": "attn.out_proj",
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
}
_OPEN_CLIP_FIXED = {
    "embeddings.token_embedding.weight": "token_embedding.weight",
    "embeddings.position_embedding.weight": "positional_embedding",
    "final_layer_norm.weight": "ln_final.weight",
    "final_layer_norm.bias": "ln_final.bias",
}


def open_clip_to_ldm(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """A CLIP text encoder in OpenCLIP's layout (SD 2.x's ViT-H, SDXL's bigG) under `prefix`:
    one in_proj matrix per layer (q, k, v stacked) and text_projection stored transposed."""
    state = {key.removeprefix("text_model."): tensor for key, tensor in state.items()}
    out = {}
    attention = {}  # layer -> {"q_proj.weight": tensor, ...}, stacked once all three are seen
    for key, tensor in state.items():
        if key in _OPEN_CLIP_FIXED:
            out[prefix + _OPEN_CLIP_FIXED[key]] = tensor
        elif key == "text_projection.weight":
            out[prefix + "text_projection"] = tensor.T.contiguous()  # OpenCLIP computes x @ projection
        elif key == "embeddings.position_ids":
            continue  # a buffer of 0..76, not a weight
        elif m := re.match(r"encoder\.layers\.(\d+)\.self_attn\.([qkv]_proj\.(?:weight|bias))$", key):
            attention.setdefault(int(m[1]), {})[m[2]] = tensor
        elif m := re.match(r"encoder\.layers\.(\d+)\.(.+)\.(weight|bias)$", key):
            part = _OPEN_CLIP_LAYER_PARTS.get(m[2])
            if part is None:
                raise KeyError(f"unexpected text encoder weight name: {key}")
            out[f"{prefix}transformer.resblocks.{m[1]}.{part}.{m[3]}"] = tensor
        else:
            raise KeyError(f"unexpected text encoder weight name: {key}")
    for layer, parts in attention.items():
        block = f"{prefix}transformer.resblocks.{layer}.attn."
        for kind in ("weight", "bias"):
            out[block + f"in_proj_{kind}"] = torch.cat([parts[f"{p}_proj.{kind}"] for p in "qkv"])
    return out


def text_encoders_to_ldm(family: str, parts: dict) -> dict[str, torch.Tensor]:
    """The text encoder weights of `family` in its original file's layout."""
    out = {}
    for part, layout, prefix in text_layout(family):
        module = parts.get(part)
        if module is None:
            raise ValueError(f"a {family} checkpoint needs its {part}")
        state = module.state_dict()
        out.update(text_encoder_to_ldm(state, prefix) if layout == "clip" else open_clip_to_ldm(state, prefix))
    return out


def text_layout(family: str) -> tuple:
    try:
        return TEXT_LAYOUTS[family]
    except KeyError:
        raise LookupError(f"unknown model family {family!r} (known: {', '.join(TEXT_LAYOUTS)})") from None


def family_to_ldm(parts: dict, family: str) -> dict[str, torch.Tensor]:
    """One original-layout state dict from a family's loaded diffusers/transformers modules
    (parts: "unet", "vae", "text_encoder", "text_encoder_2"; other entries are ignored)."""
    state = {}
    state.update(unet_to_ldm(parts["unet"].state_dict(), dict(parts["unet"].config)))
    state.update(vae_to_ldm(parts["vae"].state_dict(), dict(parts["vae"].config)))
    state.update(text_encoders_to_ldm(family, parts))
    return {k: v.detach().contiguous() for k, v in state.items()}


def pipeline_to_ldm(unet, vae, text_encoder) -> dict[str, torch.Tensor]:
    """One original-layout SD 1.x state dict from loaded diffusers/transformers modules."""
    return family_to_ldm({"unet": unet, "vae": vae, "text_encoder": text_encoder}, "sd1")


def embedded_configs(parts: dict, family: str) -> dict:
    """The diffusers configs a file of `family` carries in its metadata (EMBEDDED_CONFIG_KEY)."""
    configs = {"family": family, "unet": dict(parts["unet"].config), "vae": dict(parts["vae"].config)}
    for part, _, _ in text_layout(family):
        configs[part] = parts[part].config.to_dict()
    scheduler = parts.get("scheduler")
    if scheduler is not None:  # a dict, or a scheduler object; tells v-prediction models apart
        configs["scheduler"] = dict(scheduler if isinstance(scheduler, dict) else scheduler.config)
    # diffusers keeps a list built from a set here: its order changes per run and breaks
    # byte-identical re-exports, and loading does not need it.
    return {
        name: {k: v for k, v in cfg.items() if k != "_use_default_values"} if isinstance(cfg, dict) else cfg
        for name, cfg in configs.items()
    }


def save_family_file(parts: dict, path, family: str, dtype=None) -> None:
    """One original-layout .safetensors of `family` with its diffusers configs embedded in the
    metadata, so the loader rebuilds models of any size from the file alone. Written atomically."""
    state = family_to_ldm(parts, family)
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    metadata = {EMBEDDED_CONFIG_KEY: json.dumps(embedded_configs(parts, family), default=str)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(state, os.fspath(tmp), metadata=metadata)
    os.replace(tmp, path)


def save_single_file(unet, vae, text_encoder, path, dtype=None) -> None:
    """An SD 1.x original-layout .safetensors (see save_family_file)."""
    save_family_file({"unet": unet, "vae": vae, "text_encoder": text_encoder}, path, "sd1", dtype=dtype)
