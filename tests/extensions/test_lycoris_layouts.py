"""The same LoRA in the diffusers/peft key layouts (and kohya with the transformers-4 text
encoder names) merges to the same weights as the kohya file the package wrote."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from modules.plugins.types import ExtraNetworkCall
from tests.extensions.lycoris_support import context, ext_module, fresh_parts, loaded_model, write_lycoris_file

KOHYA_PARAM = {"lora_down.weight": "down", "lora_up.weight": "up", "alpha": "alpha"}


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("layouts") / "models"
    kohya_file = root / "Lora" / "kohya.safetensors"
    kohya_file.parent.mkdir(parents=True)
    write_lycoris_file(kohya_file, "lora", dim=4, alpha=3, conv_dim=4, conv_alpha=1.5)
    layers = _layers_by_kohya_name(load_file(str(kohya_file)))
    for name, keys in LAYOUTS.items():
        tensors = {key: tensor.contiguous() for key, tensor in keys(layers).items()}
        save_file(tensors, str(root / "Lora" / f"{name}.safetensors"))
    return root


def _layers_by_kohya_name(tensors):
    """{kohya module name: (dotted diffusers name, {"down", "up", "alpha"})}, the dotted name found
    from the model's own module list (text encoder spelled with `text_model.`, as real files are)."""
    unet, text_encoder = fresh_parts()
    dotted = {"lora_unet_" + name.replace(".", "_"): "unet." + name for name, _ in unet.named_modules()}
    for name, _ in text_encoder.named_modules():
        dotted["lora_te_" + name.replace(".", "_")] = "text_encoder.text_model." + name
    layers = {}
    for key, tensor in tensors.items():
        module, _, param = key.partition(".")
        layers.setdefault(module, (dotted[module], {}))[1][KOHYA_PARAM[param]] = tensor
    return layers


def _folded_up(parts):
    # diffusers/peft files carry no alpha: the alpha/rank scale is folded into the up matrix.
    return parts["up"] * (parts["alpha"].item() / parts["down"].shape[0])


def _peft(layers):
    keys = {}
    for dotted, parts in layers.values():
        keys[f"{dotted}.lora_A.weight"] = parts["down"]
        keys[f"{dotted}.lora_B.weight"] = _folded_up(parts)
    return keys


def _old_diffusers(layers):
    """Attention layers as attention-processor LoRA, other UNet layers as `.lora.down`, text encoder
    as `.lora_linear_layer.down` (the pre-peft diffusers forms)."""
    keys = {}
    for dotted, parts in layers.values():
        head, _, last = dotted.rpartition(".")
        if last in ("to_q", "to_k", "to_v") or dotted.endswith("to_out.0"):
            name = "to_out" if dotted.endswith("to_out.0") else last
            base = (head.rpartition(".")[0] if name == "to_out" else head) + f".processor.{name}_lora"
            keys[f"{base}.down.weight"], keys[f"{base}.up.weight"] = parts["down"], _folded_up(parts)
        elif dotted.startswith("text_encoder."):
            keys[f"{dotted}.lora_linear_layer.down.weight"] = parts["down"]
            keys[f"{dotted}.lora_linear_layer.up.weight"] = _folded_up(parts)
        else:
            keys[f"{dotted}.lora.down.weight"], keys[f"{dotted}.lora.up.weight"] = parts["down"], _folded_up(parts)
    return keys


def _kohya_renamed(text_encoder_prefix):
    def keys_for(layers):
        keys = {}
        for module, (_, parts) in layers.items():
            renamed = module.replace("lora_te_", text_encoder_prefix, 1)
            for param, short in KOHYA_PARAM.items():
                keys[f"{renamed}.{param}"] = parts[short]
        return keys

    return keys_for


LAYOUTS = {
    "peft": _peft,
    "old_diffusers": _old_diffusers,
    # kohya keys as trainers on transformers 4 wrote them (nearly every file in the wild) ...
    "kohya_text_model": _kohya_renamed("lora_te_text_model_"),
    # ... and with SDXL-style numbered text-encoder prefixes (te1 = the first text encoder).
    "kohya_te1": _kohya_renamed("lora_te1_text_model_"),
}


def merged(models_dir, name):
    model = loaded_model()
    p = context(model, models_dir)
    ext_module("network").LoraNetworks().activate(p, [ExtraNetworkCall.from_tag("lora", f"{name}:0.8")])
    assert p.warnings == []
    return {**model.unet.state_dict(), **{f"te.{k}": v for k, v in model.text_encoder.state_dict().items()}}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_merges_like_the_kohya_file(models_dir, layout):
    expected, actual = merged(models_dir, "kohya"), merged(models_dir, layout)
    unet, text_encoder = fresh_parts()
    before = {**unet.state_dict(), **{f"te.{k}": v for k, v in text_encoder.state_dict().items()}}
    changed = [key for key in expected if not torch.equal(expected[key], before[key])]
    assert any(key.startswith("te.") for key in changed) and any(not key.startswith("te.") for key in changed)
    worst = max((actual[key] - expected[key]).abs().max().item() for key in expected)
    print(f"{layout}: max |{layout} - kohya| = {worst:.3g} over {len(changed)} changed tensors")
    assert worst <= 1e-6
    assert all(not torch.equal(actual[key], before[key]) for key in changed)
