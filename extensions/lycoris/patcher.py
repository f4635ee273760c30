"""Change layer weights in place and put them back bit for bit.

Before a layer is first touched its weight (and bias) is copied to the CPU; restoring copies
those tensors back, so the model ends exactly as it was, whatever rounding the merge did.
"""

import torch


class WeightPatcher:
    def __init__(self):
        self._originals: dict[torch.nn.Module, tuple[torch.Tensor, torch.Tensor | None]] = {}

    def __len__(self) -> int:
        return len(self._originals)

    def original_weight(self, module: torch.nn.Module) -> torch.Tensor:
        """The weight before any network changed it (the network math is defined on that)."""
        saved = self._originals.get(module)
        return saved[0] if saved is not None else module.weight.detach()

    @torch.no_grad()
    def add(self, module: torch.nn.Module, delta_weight: torch.Tensor, delta_bias: torch.Tensor | None = None) -> None:
        """weight += delta_weight (and bias += delta_bias where the layer has a bias), computed
        in float32 and stored in the weight's own dtype and device."""
        weight = module.weight
        if weight.device.type == "meta":
            raise RuntimeError("the layer's weights are offloaded (meta device) and cannot be changed in place")
        bias = module.bias if isinstance(getattr(module, "bias", None), torch.Tensor) else None
        if module not in self._originals:
            self._originals[module] = (
                weight.detach().to("cpu", copy=True),
                bias.detach().to("cpu", copy=True) if bias is not None else None,
            )
        weight.data.copy_((weight.data.float() + delta_weight.to(weight.device).reshape(weight.shape)).to(weight.dtype))
        if delta_bias is not None and bias is not None:
            bias.data.copy_((bias.data.float() + delta_bias.to(bias.device).reshape(bias.shape)).to(bias.dtype))

    @torch.no_grad()
    def restore(self) -> None:
        for module, (weight, bias) in self._originals.items():
            module.weight.data.copy_(weight)
            if bias is not None:
                module.bias.data.copy_(bias)
        self._originals.clear()
