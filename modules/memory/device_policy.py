"""The one place that decides device and dtype (offload modes arrive with --medvram/--lowvram)."""

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DevicePolicy:
    device: torch.device
    dtype: torch.dtype

    @classmethod
    def from_flags(cls, flags) -> "DevicePolicy":
        use_cpu = {name.lower() for name in (flags.use_cpu or [])}
        if flags.threads:
            torch.set_num_threads(flags.threads)
        if "all" in use_cpu or not torch.cuda.is_available():
            return cls.cpu()
        index = int(flags.device_id) if flags.device_id is not None else torch.cuda.current_device()
        dtype = torch.float32 if flags.no_half else torch.float16
        return cls(device=torch.device("cuda", index), dtype=dtype)

    @classmethod
    def cpu(cls) -> "DevicePolicy":
        # fp32 on CPU: without hardware bf16/fp16 the half types are many times slower.
        return cls(device=torch.device("cpu"), dtype=torch.float32)


def prepare_compute_thread() -> None:
    """Per-thread CPU settings for a thread about to run models (the flag lives in each
    thread's FPU state): flush subnormal floats, which are ~15x slower on CPUs."""
    torch.set_flush_denormal(True)
