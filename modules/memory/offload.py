"""Installing and removing the offload modes on a loaded checkpoint's parts.

medvram: each whole part (text encoders, UNet, VAE) is moved to the onload device when it runs
and the part used before it goes back (accelerate's CPU offload hooks; VAE encode/decode trigger
them too, diffusers wraps those). One part is on the device at a time, whatever order a job uses
them in (img2img encodes first, hires fix runs the UNet again after a decode).
lowvram: the UNet block by block (diffusers' group offloading, one block per group); text encoders
and VAE as under medvram, and the UNet's first block sends them back.

The onload device is a parameter, so a test can install the real hooks with onload = offload =
CPU and compare pictures with and without them."""

import torch
from accelerate.hooks import CpuOffload, add_hook_to_module, remove_hook_from_module

from modules.memory.device_policy import LOWVRAM, MEDVRAM, NORMAL

WHOLE_PARTS = ("text_encoder", "text_encoder_2", "unet", "vae")
_MARK = "_sdstudio_offload"  # the mode installed on a part
_UNET_PRE_HOOK = "_sdstudio_offload_pre_hook"  # lowvram: the handle of the UNet's send-back hook


class OneAtATime(CpuOffload):
    """accelerate's CPU offload hook (the part comes to the onload device when it runs, and stays
    there), which first sends every other whole part of the model back to RAM."""

    def __init__(self, onload: torch.device, parts: dict):
        super().__init__(execution_device=onload)
        self._parts = parts  # shared by the model's hooks: part name -> module

    def pre_forward(self, module, *args, **kwargs):
        send_back(self._parts, keep=module)
        return super().pre_forward(module, *args, **kwargs)


def send_back(parts: dict, keep=None) -> None:
    """Every part but `keep` back to RAM (those already there are left alone)."""
    for module in parts.values():
        if module is not keep and next(module.parameters()).device.type != "cpu":
            module.to("cpu")


def apply_offload(model, mode: str, onload: torch.device, offload: torch.device | None = None,
                  skip: frozenset = frozenset()) -> str:  # fmt: skip
    """Install `mode` (normal / medvram / lowvram) on the model's parts; what was installed before
    is removed first. The parts the model lacks (a refiner has one text encoder) and those in
    `skip` (--use-cpu sends them to the CPU for good) are left alone."""
    offload = offload or torch.device("cpu")
    remove_offload(model)
    if mode == NORMAL:
        return NORMAL
    if mode not in (MEDVRAM, LOWVRAM):
        raise ValueError(f"offload mode {mode!r}: expected normal, medvram or lowvram")
    if offload.type != "cpu":
        raise ValueError(f"offload device {offload}: parts rest in RAM (cpu) between uses")
    whole = [name for name in WHOLE_PARTS if getattr(model, name, None) is not None and name not in skip]
    lowvram_unet = mode == LOWVRAM and "unet" in whole
    if lowvram_unet:
        whole.remove("unet")
    parts: dict = {}
    for name in whole:
        module = getattr(model, name).to(offload)
        parts[name] = module
        add_hook_to_module(module, OneAtATime(onload, parts), append=True)
        setattr(model, name, module)
        setattr(module, _MARK, mode)
    if lowvram_unet:
        unet = model.unet
        unet.enable_group_offload(onload_device=onload, offload_device=offload, offload_type="block_level",
                                  num_blocks_per_group=1)  # fmt: skip
        # The UNet's blocks come and go by themselves; the text encoder / VAE used before it leave first.
        handle = unet.register_forward_pre_hook(lambda module, args: send_back(parts))
        setattr(unet, _UNET_PRE_HOOK, handle)
        setattr(unet, _MARK, mode)
    model.execution_device = onload
    return mode


def remove_offload(model) -> None:
    """Take every offload hook off the model's parts; their weights stay where they are (in RAM)."""
    for name in WHOLE_PARTS:
        module = getattr(model, name, None)
        if module is None or getattr(module, _MARK, None) is None:
            continue
        remove_hook_from_module(module, recurse=True)
        handle = getattr(module, _UNET_PRE_HOOK, None)
        if handle is not None:  # lowvram's UNet: diffusers' group offloading and our send-back hook
            from diffusers.hooks.group_offloading import _GROUP_OFFLOADING

            module._diffusers_hook.remove_hook(_GROUP_OFFLOADING, recurse=True)
            handle.remove()
            delattr(module, _UNET_PRE_HOOK)
        delattr(module, _MARK)


def offload_mode_of(model) -> str:
    """The mode installed on the model now (normal when none)."""
    for name in WHOLE_PARTS:
        module = getattr(model, name, None)
        mode = getattr(module, _MARK, None) if module is not None else None
        if mode is not None:
            return mode
    return NORMAL
