"""Weight patches the core owns: networks (LoRA, LyCORIS ...) describe changes, the core merges them.

A network hands over `Patch`es (which layer, a function of the layer's original weight giving the
change, a strength, where it came from); the job's patches form a `PatchSet` whose id is a hash of
what they are. Each loaded model has one `ModelPatcher` that keeps the original weights of every
layer it changed: applying a set first puts back what the last set changed, and applying the set
already applied does nothing at all (an X/Y/Z grid of 25 cells with one LoRA merges once).

Under FP8 weight storage the change is computed in float32 on the upcast original and the merged
weight is stored back in the layer's storage dtype (A1111's way); with "Cache FP16 weight for LoRA"
the original it starts from is a full-precision copy taken before the weights went to FP8.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

COMPONENTS = ("unet", "text_encoder", "text_encoder_2")

# original weight (float32, the layer's device) -> (delta weight, delta bias or None), at strength 1
DeltaFunction = Callable[[Any], "tuple[Any, Any | None]"]


@dataclass(frozen=True)
class Patch:
    component: str  # "unet", "text_encoder" or "text_encoder_2"
    module: str  # module path inside the component, e.g. "down_blocks.0.attentions.0.proj_in"
    delta: DeltaFunction = field(compare=False, repr=False)
    strength: float = 1.0
    # What the delta is, so equal ids mean equal deltas: e.g. "lora:<file hash>:unet=0.8,te=1".
    source: str = ""

    def __post_init__(self):
        if self.component not in COMPONENTS:
            raise ValueError(f"patch component must be one of {COMPONENTS}, not {self.component!r}")
        if not self.source:
            raise ValueError(f"patch for {self.component}.{self.module} needs a source id (what the delta is)")

    @property
    def key(self) -> tuple[str, str]:
        return self.component, self.module

    def identity(self) -> str:
        return f"{self.source}|{self.component}|{self.module}|{float(self.strength)!r}"


class PatchSet:
    """The patches of one job for one model. Order does not matter: patches are kept sorted by
    identity, so the id and the merged weights are the same whichever network activated first."""

    def __init__(self, patches: Iterable[Patch] = ()):
        kept = [patch for patch in patches if patch.strength != 0]
        self.patches: tuple[Patch, ...] = tuple(sorted(kept, key=Patch.identity))
        digest = hashlib.sha256()
        for patch in self.patches:
            digest.update(patch.identity().encode())
            digest.update(b"\n")
        self.id = digest.hexdigest() if self.patches else ""

    def __len__(self) -> int:
        return len(self.patches)

    def __bool__(self) -> bool:
        return bool(self.patches)

    def by_layer(self) -> dict[tuple[str, str], list[Patch]]:
        layers: dict[tuple[str, str], list[Patch]] = {}
        for patch in self.patches:
            layers.setdefault(patch.key, []).append(patch)
        return layers


class PatchCollector:
    """Where networks put their patches during activation (`p.patches`); the core reads it after."""

    def __init__(self):
        self._patches: list[Patch] = []

    def add(self, patches: Patch | Iterable[Patch]) -> None:
        items = [patches] if isinstance(patches, Patch) else list(patches)
        for patch in items:
            if not isinstance(patch, Patch):
                raise TypeError(f"p.patches.add() takes Patch objects, not {type(patch).__name__}")
        self._patches.extend(items)

    def __len__(self) -> int:
        return len(self._patches)

    def patch_set(self) -> PatchSet:
        return PatchSet(self._patches)


class ModelPatcher:
    """One per loaded model: merges a PatchSet into the weights and restores the exact originals."""

    def __init__(self, model):
        self.model = model
        self.applied_id = ""
        self.merges = 0  # how many times a set was actually merged (an unchanged set is not)
        # (component, module path) -> (weight, bias or None) as they were, on the CPU, bit for bit
        self._originals: dict[tuple[str, str], tuple[Any, Any]] = {}
        # (component, module path) -> full-precision weight taken before FP8 storage (cache_fp16_weight)
        self._full_precision: dict[tuple[str, str], Any] = {}

    @property
    def patched_layers(self) -> int:
        return len(self._originals)

    def apply(self, patch_set: PatchSet) -> bool:
        """Make the model's weights the originals plus `patch_set`. False (and nothing touched)
        when that set is the one applied now. If a delta fails, the model is left restored and the
        error raised."""
        if patch_set.id == self.applied_id:
            return False
        self.restore()
        if not patch_set:
            return True
        try:
            for (component, path), patches in patch_set.by_layer().items():
                self._merge_layer(component, path, patches)
        except Exception:
            self.restore()
            raise
        self.applied_id = patch_set.id
        self.merges += 1
        return True

    def restore(self) -> None:
        """Put back the exact original bytes of every layer a set changed."""
        import torch

        with torch.no_grad():
            for (component, path), (weight, bias) in self._originals.items():
                module = self._module(component, path)
                module.weight.data.copy_(weight)
                if bias is not None:
                    module.bias.data.copy_(bias)
        self._originals.clear()
        self.applied_id = ""

    def original_weight(self, component: str, path: str):
        """The layer's weight before any patch (float32, on the layer's device): the full-precision
        copy when FP8 storage kept one, else the stored original, else the weight as it is."""
        import torch

        module = self._module(component, path)
        device = module.weight.device
        if (component, path) in self._full_precision:
            return self._full_precision[(component, path)].to(device, torch.float32)
        saved = self._originals.get((component, path))
        weight = saved[0] if saved is not None else module.weight.detach()
        return weight.to(device, torch.float32)

    def keep_full_precision(self, component: str, dtype) -> int:
        """Copy every weighted layer of `component` at `dtype` to the CPU (before its weights go to
        FP8) so patches start from it; bytes kept. Nothing is patched at that moment (call restore())."""
        import torch

        root = getattr(self.model, component)
        kept = 0
        for name, module in root.named_modules():
            weight = getattr(module, "weight", None)
            if isinstance(weight, torch.Tensor) and weight.dim() >= 2:
                copy = weight.detach().to("cpu", dtype, copy=True)
                self._full_precision[(component, name)] = copy
                kept += copy.numel() * copy.element_size()
        return kept

    def drop_full_precision(self) -> None:
        self._full_precision.clear()

    @property
    def keeps_full_precision(self) -> bool:
        return bool(self._full_precision)

    # --- the work ----------------------------------------------------------------------------------
    def _module(self, component: str, path: str):
        root = getattr(self.model, component, None)
        if root is None:
            raise LookupError(f"this model has no {component}")
        try:
            return root.get_submodule(path)
        except AttributeError as error:
            raise LookupError(f"{component} has no layer {path!r}") from error

    def _merge_layer(self, component: str, path: str, patches: list[Patch]) -> None:
        import torch

        module = self._module(component, path)
        weight = module.weight
        if weight.device.type == "meta":
            raise RuntimeError(f"{component}.{path}: the weights are not resident (meta device)")
        bias = module.bias if isinstance(getattr(module, "bias", None), torch.Tensor) else None
        with torch.no_grad():
            original = self.original_weight(component, path)
            total_weight = torch.zeros_like(original)
            total_bias = None
            for patch in patches:
                delta_weight, delta_bias = patch.delta(original)
                total_weight += delta_weight.to(original.device, torch.float32).reshape(original.shape) * patch.strength
                if delta_bias is not None and bias is not None:
                    scaled = delta_bias.to(bias.device, torch.float32).reshape(bias.shape) * patch.strength
                    total_bias = scaled if total_bias is None else total_bias + scaled
            saved_bias = bias.detach().to("cpu", copy=True) if bias is not None else None
            self._originals.setdefault((component, path), (weight.detach().to("cpu", copy=True), saved_bias))
            # One rounding into the stored dtype (fp16 / fp8), from float32.
            weight.data.copy_((original + total_weight).to(weight.dtype))
            if total_bias is not None:
                bias.data.copy_((bias.data.float() + total_bias).to(bias.dtype))
