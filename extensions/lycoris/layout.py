"""Which layer of the loaded model each key of a network file belongs to.

Two key layouts are in use:
- kohya / LyCORIS: `lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight`,
  `lora_te_text_model_encoder_layers_0_self_attn_q_proj.alpha` (`lora_te1_`/`lora_te2_` for SDXL):
  the module path with dots turned into underscores, then `.` and the parameter.
- diffusers / peft: `unet.down_blocks.0.attentions.0.proj_in.lora_A.weight`,
  `text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_B.weight`, and the older
  `...attn1.processor.to_q_lora.down.weight` / `...to_q.lora.down.weight` forms.

UNet layers also go by their original (LDM / SGM) module names, which kohya's SDXL trainer
writes (`lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q`, `lora_unet_middle_block_1_...`,
`lora_unet_label_emb_0_0`), as do some older SD 1.x trainers; the engine's layout module
(modules/models/ldm_layout.py) gives each diffusers module its original name.

Underscored names are not turned back into module paths by guessing where the dots were:
every module of the model is listed once (`named_modules()`) under each name a file may use
for it, and keys are looked up in that table.
"""

from dataclasses import dataclass

import torch

KOHYA_PREFIXES = {"unet": ("lora_unet_",), "te": ("lora_te_", "lora_te1_"), "te2": ("lora_te2_",)}
DOTTED_PREFIXES = {"unet": ("unet.",), "te": ("text_encoder.",), "te2": ("text_encoder_2.",)}

# Parameter names of the LyCORIS family, as they follow the module name in kohya-layout keys.
PARAMS = (
    "lora_up.weight",
    "lora_down.weight",
    "lora_mid.weight",
    "alpha",
    "dora_scale",
    "hada_w1_a",
    "hada_w1_b",
    "hada_w2_a",
    "hada_w2_b",
    "hada_t1",
    "hada_t2",
    "lokr_w1",
    "lokr_w1_a",
    "lokr_w1_b",
    "lokr_w2",
    "lokr_w2_a",
    "lokr_w2_b",
    "lokr_t2",
    "weight",
    "on_input",
    "diff",
    "diff_b",
    "w_norm",
    "b_norm",
)
# Dotted-layout endings -> the same parameter names. `.weight` alone is left out: in a dotted
# key it would be ambiguous with the model's own weights.
DOTTED_SUFFIXES = (
    (".lora_A.weight", "lora_down.weight"),
    (".lora_B.weight", "lora_up.weight"),
    (".lora.down.weight", "lora_down.weight"),
    (".lora.up.weight", "lora_up.weight"),
    (".lora_linear_layer.down.weight", "lora_down.weight"),
    (".lora_linear_layer.up.weight", "lora_up.weight"),
    ("_lora.down.weight", "lora_down.weight"),  # attention-processor form: ...processor.to_q_lora.down.weight
    ("_lora.up.weight", "lora_up.weight"),
    *((f".{name}", name) for name in PARAMS if name != "weight"),
)


@dataclass(frozen=True, eq=False)
class Layer:
    component: str  # "unet", "te" or "te2"
    name: str  # module path inside the component, e.g. "down_blocks.0.attentions.0.proj_in"
    module: torch.nn.Module


class LayerIndex:
    """Every weighted module of the model's components, under each name a network file may use."""

    def __init__(self, components: dict[str, torch.nn.Module]):
        self._by_key: dict[str, Layer] = {}
        self.components = frozenset(components)
        for component, root in components.items():
            original_names = _original_names(root) if component == "unet" else {}
            for name, module in root.named_modules():
                if not isinstance(getattr(module, "weight", None), torch.Tensor):
                    continue
                layer = Layer(component, name, module)
                aliases = _aliases(component, name)
                if name in original_names:
                    aliases += (original_names[name],)
                for alias in aliases:
                    for prefix in KOHYA_PREFIXES[component]:
                        self._by_key.setdefault(prefix + alias.replace(".", "_"), layer)
                    for prefix in DOTTED_PREFIXES[component]:
                        self._by_key.setdefault(prefix + alias, layer)

    def get(self, module_key: str) -> Layer | None:
        return self._by_key.get(module_key)

    def absent_component(self, module_key: str) -> str | None:
        """The component a key is written for when this model lacks it (the SDXL refiner has no
        first text encoder, so `lora_te1_...` layers have nowhere to go), else None."""
        for component, prefixes in (*KOHYA_PREFIXES.items(), *DOTTED_PREFIXES.items()):
            if component not in self.components and module_key.startswith(prefixes):
                return component
        return None


def _original_names(unet: torch.nn.Module) -> dict[str, str]:
    """{diffusers module path: original LDM / SGM module path}; {} for a UNet without a diffusers config."""
    config = getattr(unet, "config", None)
    if config is None or "layers_per_block" not in config or "up_block_types" not in config:
        return {}
    from modules.models.ldm_layout import unet_module_ldm_names

    return unet_module_ldm_names(unet)


def _aliases(component: str, name: str) -> tuple[str, ...]:
    # transformers 5 dropped the `text_model.` level from CLIPTextModel; files trained before
    # (nearly all) still carry it, files trained after do not. Offer both spellings.
    if not component.startswith("te"):
        return (name,)
    if name.startswith("text_model."):
        return (name, name.removeprefix("text_model."))
    return (name, "text_model." + name)


def split_key(key: str) -> tuple[str, str] | None:
    """(module key, parameter name) for a network-weight key; None when the key's layout is not
    recognised. Kohya keys split at the first dot even for parameters we do not know (OFT ...),
    so the layer is still found and reported as an unsupported format, not silently dropped."""
    if key.startswith("lora_"):  # kohya: module names hold no dots, so the first dot splits
        module_key, found, param = key.partition(".")
        return (module_key, param) if found else None
    for suffix, param in DOTTED_SUFFIXES:
        if key.endswith(suffix):
            return _processor_to_module(key[: -len(suffix)]), param
    return None


def _processor_to_module(module_key: str) -> str:
    # Old diffusers attention processors keep their LoRA beside the layer they change:
    # attn1.processor.to_q_lora -> attn1.to_q, attn1.processor.to_out_lora -> attn1.to_out.0
    head, found, tail = module_key.rpartition(".processor.")
    if not found:
        return module_key
    return f"{head}.{tail}.0" if tail == "to_out" else f"{head}.{tail}"


@dataclass
class Grouping:
    matched: list  # [(Layer, {param: tensor}), ...] in file order
    unmatched: list[str]  # module keys that name no layer of this model
    unrecognized: list[str]  # keys in no layout we know
    absent: dict[str, list[str]]  # component the model lacks -> module keys written for it


def group_by_layer(tensors: dict[str, torch.Tensor], index: LayerIndex) -> Grouping:
    groups: dict[str, dict[str, torch.Tensor]] = {}
    grouping = Grouping([], [], [], {})
    for key, tensor in tensors.items():
        split = split_key(key)
        if split is None:
            grouping.unrecognized.append(key)
        else:
            groups.setdefault(split[0], {})[split[1]] = tensor
    for module_key, params in groups.items():
        layer = index.get(module_key)
        absent = index.absent_component(module_key) if layer is None else None
        if absent is not None:
            grouping.absent.setdefault(absent, []).append(module_key)
        elif layer is None:
            grouping.unmatched.append(module_key)
        else:
            grouping.matched.append((layer, params))
    return grouping
