"""Apply one network file's tensors to a model at given strengths, layer by layer."""

from dataclasses import dataclass, field

import torch

from .algos import UnsupportedFormat, layer_delta
from .layout import PARAMS, LayerIndex, group_by_layer
from .patcher import WeightPatcher


@dataclass
class MergeReport:
    layers: int = 0  # layers changed
    unmatched: list[str] = field(default_factory=list)  # module keys naming no layer of this model
    unsupported: list[str] = field(default_factory=list)  # layers in a format we cannot apply
    mismatched: list[str] = field(default_factory=list)  # layers whose shapes do not fit the model
    unrecognized: list[str] = field(default_factory=list)  # keys in no known layout
    ignored: set[str] = field(default_factory=set)  # unknown parameters beside a known format
    # component this model does not have ("te" on the SDXL refiner) -> module keys skipped for it
    absent: dict[str, list[str]] = field(default_factory=dict)


def merge_network(
    tensors: dict[str, torch.Tensor], index: LayerIndex, strengths: dict[str, float], patcher: WeightPatcher
) -> MergeReport:
    """`strengths`: {"unet": 0.8, "te": 1.0, "te2": 1.0}; a component at 0 is not touched at all."""
    grouping = group_by_layer(tensors, index)
    report = MergeReport(unmatched=grouping.unmatched, unrecognized=grouping.unrecognized, absent=grouping.absent)
    for layer, params in grouping.matched:
        strength = strengths.get(layer.component, 0.0)
        if strength == 0 or set(params) <= {"alpha", "dora_scale"}:
            continue
        device = layer.module.weight.device
        original = patcher.original_weight(layer.module).to(device, torch.float32)
        converted = {name: tensor.to(device, torch.float32) for name, tensor in params.items()}
        try:
            delta_weight, delta_bias = layer_delta(converted, original)
        except UnsupportedFormat:
            report.unsupported.append(layer.name)
            continue
        except (KeyError, RuntimeError):  # a missing partner tensor, or shapes that do not fit this layer
            report.mismatched.append(layer.name)
            continue
        patcher.add(layer.module, delta_weight * strength, None if delta_bias is None else delta_bias * strength)
        report.layers += 1
        report.ignored.update(name for name in params if name not in PARAMS)
        if delta_bias is not None and getattr(layer.module, "bias", None) is None:
            report.ignored.add("bias change (the layer has no bias)")
    return report
