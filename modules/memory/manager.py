"""MemoryManager: one per engine (`engine.memory`). It owns the device policy (where each part
computes, in which dtype, under which offload mode) and the ledger of everything loaded, answers
"which device does this run on" and "make room for this", and installs the offload mode on each
loaded checkpoint.

Importing this module does not import torch (the page starts before any model loads): the policy
is built on first use, and what it decided is logged then, once."""

import gc
import logging
import os
import threading
from contextlib import nullcontext

from modules.memory.ledger import RAM_CACHE, RESIDENT, Ledger

log = logging.getLogger(__name__)
GIB = 1024**3


class MemoryManager:
    def __init__(self, flags, policy_factory=None):
        """`policy_factory`: () -> DevicePolicy (default: DevicePolicy.from_flags(flags))."""
        self._flags = flags
        self._policy_factory = policy_factory
        self._policy = None
        self._lock = threading.Lock()
        self._ledger = Ledger()

    # --- the policy -----------------------------------------------------------------------
    def policy(self):
        """The DevicePolicy, made (and its notes logged) on first use."""
        with self._lock:
            if self._policy is None:
                from modules.memory.device_policy import DevicePolicy

                factory = self._policy_factory or (lambda: DevicePolicy.from_flags(self._flags))
                self._policy = factory()
                for note in self._policy.notes:
                    log.warning("%s", note)
                log.info("memory: %s on %s", self._policy.mode_name, self._policy.device)
            return self._policy

    def execution_device(self, component: str = "unet"):
        """Where `component` computes ("unet", "vae", "text_encoder", "taesd", "upscaler", or an
        A1111 --use-cpu name): the policy's device, or the CPU for one --use-cpu names."""
        return self.policy().execution_device(component)

    def mode_for(self, model) -> str:
        family = getattr(getattr(model, "family", None), "name", "") or ""
        return self.policy().mode_for(family)

    def autocast(self):
        """torch.autocast around model calls as --precision says (nothing on a CPU)."""
        policy = self.policy()
        if policy.autocast_dtype is None:
            return nullcontext()
        import torch

        return torch.autocast(policy.device.type, dtype=policy.autocast_dtype)

    def describe(self) -> dict:
        """The policy for GET /sdapi/v1/memory: mode name, device, dtypes."""
        return self.policy().describe()

    # --- loaded checkpoints ---------------------------------------------------------------
    def prepare(self, model, onload=None, offload=None, mode: str | None = None) -> str:
        """Put a freshly loaded (or RAM-cache returning) checkpoint where the policy wants it: parts
        --use-cpu names on the CPU in float32, the VAE in its dtype, the offload mode installed.
        `onload` / `offload` / `mode` override the policy (a test installs the real hooks on a CPU).
        Returns the mode installed."""
        import torch

        from modules.memory.offload import apply_offload, remove_offload
        from modules.memory.placement import stamp

        policy = self.policy()
        remove_offload(model)  # a group-offloaded UNet refuses to move
        family = getattr(getattr(model, "family", None), "name", "") or ""
        mode = mode or policy.mode_for(family)
        for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
            module = getattr(model, name, None)
            if module is None:
                continue
            device, dtype = policy.storage_device(name, family), policy.dtype_for(name)
            if offload is not None or onload is not None:
                device = offload or device
            setattr(model, name, _placed(module, device, dtype))
        onload = onload or policy.execution_device("unet")
        on_cpu = frozenset(name for name in ("unet", "vae", "text_encoder", "text_encoder_2") if policy.on_cpu(name))
        installed = apply_offload(model, mode, onload, offload, skip=on_cpu)
        model.execution_device = onload
        for name in ("unet", "vae", "text_encoder", "text_encoder_2"):  # where each part's inputs go
            stamp(getattr(model, name, None), torch.device("cpu") if name in on_cpu else onload)
        return installed

    def release_offload(self, model) -> None:
        """Hooks off, e.g. before the model goes to the RAM cache (a group-offloaded module refuses `.to`)."""
        if self._policy is None:
            return
        from modules.memory.offload import remove_offload

        remove_offload(model)

    # --- the ledger -----------------------------------------------------------------------
    def register(self, key: str, owner: str, kind: str, parts: dict, *, state: str = RESIDENT, free=None,
                 execution_device=None) -> None:  # fmt: skip
        """Record what `owner` holds (see Ledger.register). ModelManager calls this on every load,
        RAM-cache move and unload; TAESD, upscalers, ONNX sessions and training state may too."""
        where = execution_device if execution_device is not None else (self._policy.device if self._policy else "")
        self._ledger.register(key, owner, kind, parts, state=state, free=free, execution_device=str(where))

    def register_source(self, key: str, owner: str, kind: str, parts) -> None:
        self._ledger.register_source(key, owner, kind, parts)

    def release(self, key: str) -> None:
        self._ledger.release(key)

    def ledger(self) -> list[dict]:
        """One plain dict per loaded part: owner, kind, component, bytes, device, execution_device, state."""
        return self._ledger.rows()

    def resident_bytes(self, device: str | None = None) -> int:
        """The ledger's total (on `device` only, e.g. "cuda:0", when given)."""
        return self._ledger.total_bytes(device)

    def budget_bytes(self) -> int:
        """The memory cap: --memory-budget GIB, else the device's total memory (the GPU's, or this
        machine's RAM)."""
        budget = getattr(self._flags, "memory_budget", None)
        if budget:
            return int(float(budget) * GIB)
        device = self.policy().device
        if device.type == "cuda":
            import torch

            return int(torch.cuda.mem_get_info(device)[1])
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")

    def available_bytes(self, device=None) -> int:
        """What can still be allocated on the device: the budget less what the ledger holds there,
        and never more than the system says is free."""
        device = device or self.policy().device
        within_budget = self.budget_bytes() - self.resident_bytes(str(device))
        return max(0, min(within_budget, _free_bytes(device)))

    def make_room(self, nbytes: int, device=None) -> bool:
        """Free what can go until `nbytes` fit on the device (RAM-cached checkpoints first, then
        other freeable entries, such as checkpoints loaded beside the current one). Whether they fit."""
        device = device or self.policy().device
        if self.available_bytes(device) >= nbytes:
            return True
        for entry in self._freeable(str(device)):
            log.info("memory: freeing %s (%s) to make room for %.2f GiB", entry.owner, entry.state, nbytes / GIB)
            entry.free()
            self._ledger.release(entry.key)
            _collect(device)
            if self.available_bytes(device) >= nbytes:
                return True
        return False

    def _freeable(self, device: str) -> list:
        entries = [entry for entry in self._ledger.entries() if entry.free is not None]
        on_device = [entry for entry in entries if any(row["device"] == device for row in entry.rows())]
        return sorted(on_device, key=lambda entry: entry.state != RAM_CACHE)


def _placed(module, device, dtype):
    """The module on `device`, in `dtype` where it is in a plain float type (weights stored in 8 bits
    by the FP8 weight option keep their storage type)."""
    import torch

    first = next(module.parameters(), None)
    if first is None:
        return module
    stored = {parameter.dtype for parameter in module.parameters()}
    plain = {torch.float16, torch.bfloat16, torch.float32}
    cast = stored <= plain and stored != {dtype}  # FP8 weight storage (any 8-bit part) is left as it is
    if first.device == device and not cast:
        return module
    moved = module.to(device=device, dtype=dtype) if cast else module.to(device)
    return moved if moved is not None else module


def _free_bytes(device) -> int:
    if device.type == "cuda":
        import torch

        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _collect(device) -> None:
    gc.collect()
    if device.type == "cuda":
        import torch

        torch.cuda.empty_cache()
