"""Turn one network file's tensors into weight patches for the core, layer by layer.

Nothing is merged here: each matched layer becomes a `Patch` whose delta function computes what
the format defines (`layer_delta` on the layer's original float32 weight); the core scales it by
the strength and merges it (modules/models/patcher.py). Whether a layer's tensors fit it is checked
here, on the meta device (shapes only, no arithmetic), so the report is ready before anything is merged.
"""

from dataclasses import dataclass, field

import torch

from modules.models.patcher import Patch

from .algos import UnsupportedFormat, layer_delta
from .layout import PARAMS, LayerIndex, group_by_layer

# Component names of network files -> the model attributes the core patches.
COMPONENTS = {"unet": "unet", "te": "text_encoder", "te2": "text_encoder_2"}
# Parameters read as Python numbers by the format code: they stay real tensors in the shape check.
SCALARS = ("alpha", "on_input")


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


class LayerDelta:
    """The change one layer's tensors make at strength 1, given the layer's original weight."""

    def __init__(self, params: dict[str, torch.Tensor]):
        self.params = {name: tensor.to(torch.float32) for name, tensor in params.items()}

    def __call__(self, original: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        device = original.device
        return layer_delta({name: tensor.to(device) for name, tensor in self.params.items()}, original)

    def check(self, shape: torch.Size) -> None:
        """Raise what the real computation would (UnsupportedFormat, KeyError, RuntimeError) for a
        layer of `shape`, without computing anything."""
        meta = {name: t if name in SCALARS else t.to("meta") for name, t in self.params.items()}
        delta, _ = layer_delta(meta, torch.empty(shape, device="meta"))
        if delta.shape != shape:
            raise RuntimeError(f"delta shaped {tuple(delta.shape)} for a weight shaped {tuple(shape)}")


def network_patches(
    tensors: dict[str, torch.Tensor], index: LayerIndex, strengths: dict[str, float], source: str
) -> tuple[list[Patch], MergeReport]:
    """`strengths`: {"unet": 0.8, "te": 1.0, "te2": 1.0}; a component at 0 gets no patch at all.
    `source` names the file and strengths (the patch id's part that says what the delta is)."""
    grouping = group_by_layer(tensors, index)
    report = MergeReport(unmatched=grouping.unmatched, unrecognized=grouping.unrecognized, absent=grouping.absent)
    patches = []
    for layer, params in grouping.matched:
        strength = strengths.get(layer.component, 0.0)
        if strength == 0 or set(params) <= {"alpha", "dora_scale"}:
            continue
        delta = LayerDelta(params)
        try:
            delta.check(layer.module.weight.shape)
        except UnsupportedFormat:
            report.unsupported.append(layer.name)
            continue
        except (KeyError, RuntimeError, ValueError, IndexError):  # a missing partner tensor, or shapes that do not fit
            report.mismatched.append(layer.name)
            continue
        patches.append(Patch(COMPONENTS[layer.component], layer.name, delta, strength, source))
        report.layers += 1
        report.ignored.update(name for name in params if name not in PARAMS)
        if "diff_b" in params or "b_norm" in params:
            if getattr(layer.module, "bias", None) is None:
                report.ignored.add("bias change (the layer has no bias)")
    return patches, report
