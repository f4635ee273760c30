"""LoRA files for the tiny models of each family, written key by key in a trainer's layout, and the
same changes merged by hand into copies of the modules, to compare pictures against.

The layer names are written out here from the architectures (not derived by the code under test):
kohya's SDXL trainer names UNet layers by the original SGM model's modules, its SD 1.x / 2.x
trainer by diffusers' names; text encoders are `text_model.encoder.layers.N....` in both.
"""

import copy
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file

# (original SGM name, diffusers name) of layers of the tiny SDXL UNet (tests/fixtures/tiny_families.py:
# two levels, one layer per block, the second level with two transformer blocks).
SDXL_UNET_LAYERS = (
    ("time_embed.2", "time_embedding.linear_2"),
    ("label_emb.0.0", "add_embedding.linear_1"),  # size / crop micro-conditioning
    ("input_blocks.1.0.in_layers.2", "down_blocks.0.resnets.0.conv1"),
    ("input_blocks.2.0.op", "down_blocks.0.downsamplers.0.conv"),
    ("input_blocks.3.1.proj_in", "down_blocks.1.attentions.0.proj_in"),
    ("input_blocks.3.1.transformer_blocks.1.attn1.to_q", "down_blocks.1.attentions.0.transformer_blocks.1.attn1.to_q"),
    ("input_blocks.3.1.transformer_blocks.0.attn2.to_k", "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k"),
    (
        "input_blocks.3.1.transformer_blocks.0.attn1.to_out.0",
        "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_out.0",
    ),
    (
        "input_blocks.3.1.transformer_blocks.0.ff.net.0.proj",
        "down_blocks.1.attentions.0.transformer_blocks.0.ff.net.0.proj",
    ),
    ("middle_block.1.transformer_blocks.0.attn1.to_v", "mid_block.attentions.0.transformer_blocks.0.attn1.to_v"),
    ("middle_block.2.emb_layers.1", "mid_block.resnets.1.time_emb_proj"),
    ("output_blocks.0.1.transformer_blocks.1.attn2.to_v", "up_blocks.0.attentions.0.transformer_blocks.1.attn2.to_v"),
    ("output_blocks.1.2.conv", "up_blocks.0.upsamplers.0.conv"),
    ("output_blocks.2.0.skip_connection", "up_blocks.1.resnets.0.conv_shortcut"),
    ("out.2", "conv_out"),
)
# Diffusers names of layers of the tiny SD 1.x / 2.x UNet (kohya's SD 1/2 layout uses them).
SD_UNET_LAYERS = (
    "down_blocks.1.attentions.0.proj_in",
    "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q",
    "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k",
    "down_blocks.0.resnets.0.conv1",
    "mid_block.attentions.0.transformer_blocks.0.attn2.to_v",
    "up_blocks.0.attentions.1.transformer_blocks.0.ff.net.2",
    "conv_in",
)
TEXT_LAYERS = (
    "text_model.encoder.layers.0.self_attn.q_proj",
    "text_model.encoder.layers.0.self_attn.v_proj",
    "text_model.encoder.layers.1.mlp.fc1",
    "text_model.encoder.layers.1.self_attn.out_proj",
)


@dataclass(frozen=True)
class Change:
    """One layer's LoRA: weight change = up @ down * alpha / rank."""

    component: str  # "unet", "text_encoder", "text_encoder_2"
    module: str  # diffusers / transformers module path
    file_name: str  # the module's name in the file (before underscoring, for kohya)
    down: torch.Tensor
    up: torch.Tensor
    alpha: float

    def delta(self, shape) -> torch.Tensor:
        rank = self.down.shape[0]
        return (self.up.flatten(1) @ self.down.flatten(1)).reshape(shape) * (self.alpha / rank)


def submodule(root: torch.nn.Module, path: str) -> torch.nn.Module:
    """A text encoder's layer with or without the `text_model.` level (transformers 5 dropped it from
    CLIPTextModel but not from CLIPTextModelWithProjection)."""
    for candidate in (path, path.removeprefix("text_model."), "text_model." + path):
        try:
            return root.get_submodule(candidate)
        except AttributeError:
            continue
    raise AttributeError(path)


def random_changes(parts: dict, layers: dict[str, tuple], seed: int) -> list[Change]:
    """`layers`: component -> ((file name, module path), ...). Random ranks 1..3 and alphas."""
    generator = torch.Generator().manual_seed(seed)
    changes = []
    for component, names in layers.items():
        for file_name, module_path in names:
            weight = submodule(parts[component], module_path).weight
            rank = int(torch.randint(1, 4, (1,), generator=generator))
            if weight.dim() == 4:  # conv: down holds the kernel, up is 1x1 (kohya's LoCon form)
                down_shape, up_shape = (rank, weight.shape[1], *weight.shape[2:]), (weight.shape[0], rank, 1, 1)
            else:
                down_shape, up_shape = (rank, weight.shape[1]), (weight.shape[0], rank)
            # Large enough to change a picture visibly, relative to the layer's own weights.
            scale = float(weight.detach().abs().mean()) * 4 / math.sqrt(rank)
            down = torch.randn(down_shape, generator=generator) * math.sqrt(scale)
            up = torch.randn(up_shape, generator=generator) * math.sqrt(scale)
            alpha = float(torch.randint(1, 5, (1,), generator=generator))
            changes.append(Change(component, module_path, file_name, down, up, alpha))
    return changes


KOHYA_PREFIX = {
    "sdxl": {"unet": "lora_unet_", "text_encoder": "lora_te1_", "text_encoder_2": "lora_te2_"},
    "sd": {"unet": "lora_unet_", "text_encoder": "lora_te_"},
}


def write_kohya(path: Path, changes: list[Change], prefixes: dict[str, str]) -> Path:
    tensors = {}
    for change in changes:
        key = prefixes[change.component] + change.file_name.replace(".", "_")
        tensors[f"{key}.lora_down.weight"] = change.down.contiguous()
        tensors[f"{key}.lora_up.weight"] = change.up.contiguous()
        tensors[f"{key}.alpha"] = torch.tensor(change.alpha)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"ss_network_module": "networks.lora"})
    return path


def write_peft(path: Path, changes: list[Change]) -> Path:
    """The same changes in diffusers' / peft's layout: `unet.<diffusers name>.lora_A.weight`, no alpha
    (its scale folded into lora_B)."""
    tensors = {}
    for change in changes:
        key = f"{change.component}.{change.module}"
        tensors[f"{key}.lora_A.weight"] = change.down.contiguous()
        tensors[f"{key}.lora_B.weight"] = (change.up * (change.alpha / change.down.shape[0])).contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path


@torch.no_grad()
def merged_copies(model, changes: list[Change], strengths: dict[str, float]) -> dict:
    """Copies of the model's unet and text encoders with the changes added by hand at
    `strengths` (component -> strength). The patches a job left merged in the model (they stay
    until a job asks for another set) are taken out first: the hand merge starts from the
    untouched weights."""
    model.patcher.restore()
    copies = {}
    for name in ("unet", "text_encoder", "text_encoder_2"):
        module = getattr(model, name, None)
        copies[name] = copy.deepcopy(module) if module is not None else None
    for change in changes:
        layer = submodule(copies[change.component], change.module)
        layer.weight += change.delta(layer.weight.shape).to(layer.weight.dtype) * strengths[change.component]
    return copies
