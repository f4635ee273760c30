"""The one place that decides where model parts compute and in which dtype, and which offload mode
(A1111's --medvram / --lowvram / --medvram-sdxl) they run under, from the flags and this machine."""

from dataclasses import dataclass, field

import torch

from modules.memory.precision import Precision, cpu_has_bf16, decide_precision

NORMAL, MEDVRAM, LOWVRAM = "normal", "medvram", "lowvram"

# A1111's --use-cpu names. "sd" is the checkpoint's parts; the rest are the tools named after
# their models (this app has model upscalers under these names; the others may come later).
SD_PARTS = ("unet", "vae", "text_encoder", "text_encoder_2", "taesd")
USE_CPU_NAMES = {
    "sd": SD_PARTS,
    "interrogate": ("interrogate",),
    "gfpgan": ("gfpgan",),
    "codeformer": ("codeformer",),
    "bsrgan": ("bsrgan", "upscaler"),
    "esrgan": ("esrgan", "upscaler"),
    "scunet": ("scunet", "upscaler"),
    "swinir": ("swinir", "upscaler"),
}
PART_NAMES = (*SD_PARTS, "upscaler", "onnx", "training")


@dataclass(frozen=True)
class DevicePolicy:
    device: torch.device
    dtype: torch.dtype  # the UNet's and text encoders': what the loader reads weights as
    vae_dtype: torch.dtype | None = None  # None: `dtype`
    sampling_dtype: torch.dtype = torch.float32
    autocast_dtype: torch.dtype | None = None
    offload: str = NORMAL  # the mode in force on this machine
    offload_sdxl_only: bool = False  # --medvram-sdxl: medvram for SDXL-family models only
    requested: str = ""  # the offload flag given where it has no effect (no GPU in use)
    lowram: bool = False  # --lowram given on a GPU machine (the loader does not act on it yet)
    cpu_parts: frozenset = frozenset()  # --use-cpu names, expanded ("all" kept as itself)
    notes: tuple = field(default=(), compare=False)  # what each flag did or why it did nothing

    def __post_init__(self):
        if self.vae_dtype is None:
            object.__setattr__(self, "vae_dtype", self.dtype)

    @classmethod
    def from_flags(cls, flags) -> "DevicePolicy":
        if getattr(flags, "threads", None):
            torch.set_num_threads(flags.threads)
        accelerator = None
        if torch.cuda.is_available():
            index = int(flags.device_id) if getattr(flags, "device_id", None) is not None else None
            accelerator = torch.device("cuda", torch.cuda.current_device() if index is None else index)
        return decide(flags, accelerator, cpu_bf16=cpu_has_bf16())

    @classmethod
    def cpu(cls) -> "DevicePolicy":
        # fp32 on CPU: without hardware bf16/fp16 the half types are many times slower.
        return cls(device=torch.device("cpu"), dtype=torch.float32)

    # --- questions the engine asks -------------------------------------------------------
    def mode_for(self, family_name: str = "") -> str:
        """The offload mode a model of this family runs under."""
        if self.offload == LOWVRAM:
            return LOWVRAM
        if self.offload == MEDVRAM and (not self.offload_sdxl_only or family_name.startswith("sdxl")):
            return MEDVRAM
        return NORMAL

    @property
    def mode_name(self) -> str:
        if self.requested:
            return f"{NORMAL} ({self.requested} requested; no GPU)"
        if self.offload == MEDVRAM and self.offload_sdxl_only:
            return "medvram-sdxl"
        return self.offload

    def on_cpu(self, part: str) -> bool:
        """Whether --use-cpu sends this part (a part name or an A1111 name) to the CPU."""
        return "all" in self.cpu_parts or part.lower() in self.cpu_parts

    def execution_device(self, part: str = "unet") -> torch.device:
        """Where `part` computes: the policy's device, or the CPU for a part --use-cpu names."""
        return torch.device("cpu") if self.on_cpu(part) else self.device

    def storage_device(self, part: str, family_name: str = "") -> torch.device:
        """Where `part`'s weights rest between uses: the CPU under an offload mode (the hooks bring
        them to the device while used), else where it computes."""
        device = self.execution_device(part)
        if device.type != "cpu" and self.mode_for(family_name) != NORMAL:
            return torch.device("cpu")
        return device

    def dtype_for(self, part: str) -> torch.dtype:
        if self.execution_device(part).type == "cpu":
            return torch.float32
        return self.vae_dtype if part in ("vae", "taesd") else self.dtype

    def describe(self) -> dict:
        return {
            "mode": self.mode_name,
            "device": str(self.device),
            "dtypes": {
                "unet": _name(self.dtype),
                "text_encoder": _name(self.dtype),
                "vae": _name(self.vae_dtype),
                "sampling": _name(self.sampling_dtype),
                "autocast": _name(self.autocast_dtype) if self.autocast_dtype else None,
            },  # fmt: skip
            "lowram": self.lowram,
            "use_cpu": sorted(self.cpu_parts),
        }


def decide(flags, accelerator: torch.device | None, cpu_bf16: bool = False) -> DevicePolicy:
    """The policy for these flags on a machine whose accelerator is `accelerator` (None: CPU only).
    Pure: the notes say what to log, once, and the caller logs them."""
    cpu_parts, notes = _cpu_parts(getattr(flags, "use_cpu", None) or [])
    device = accelerator if accelerator is not None and "all" not in cpu_parts else torch.device("cpu")
    if accelerator is None and cpu_parts:
        notes.append("--use-cpu: no effect on this machine, where everything runs on the CPU already")
    precision: Precision = decide_precision(flags, device.type, cpu_bf16)
    notes.extend(precision.notes)
    requested = _offload_flag(flags)
    offload, sdxl_only, lowram = NORMAL, False, bool(getattr(flags, "lowram", False))
    if device.type == "cpu":
        why = "there is no GPU" if accelerator is None else "--use-cpu all runs everything on the CPU"
        if requested:
            notes.append(f"--{requested}: no effect on this machine: {why}; the weights are already in RAM, "
                         "so there is no device memory to save")  # fmt: skip
        if lowram:
            notes.append(f"--lowram: no effect on this machine: {why}; weights are read into RAM anyway")
        lowram = False
    elif requested:
        offload = LOWVRAM if requested == LOWVRAM else MEDVRAM
        sdxl_only = requested == "medvram-sdxl"
        notes.append(_OFFLOAD_NOTES[requested])
        requested = ""
    if lowram:
        # The loader does not read to the device directly yet: say so rather than claim it.
        notes.append("--lowram: accepted; checkpoints are still read into RAM before they go to the GPU")
    return DevicePolicy(
        device=device,
        dtype=precision.unet,
        vae_dtype=precision.vae,
        sampling_dtype=precision.sampling,
        autocast_dtype=precision.autocast,
        offload=offload,
        offload_sdxl_only=sdxl_only,
        requested=requested,
        lowram=lowram,
        cpu_parts=cpu_parts,
        notes=tuple(notes),
    )


_OFFLOAD_NOTES = {
    LOWVRAM: "--lowvram: the UNet runs block by block from RAM; text encoder and VAE come to the GPU only while used",
    MEDVRAM: "--medvram: text encoder, UNet and VAE come to the GPU one at a time, only while used",
    "medvram-sdxl": "--medvram-sdxl: SDXL models run as with --medvram; other models stay on the GPU",
}


def _offload_flag(flags) -> str:
    for attribute, name in (("lowvram", LOWVRAM), ("medvram", MEDVRAM), ("medvram_sdxl", "medvram-sdxl")):
        if getattr(flags, attribute, False):
            return name
    return ""


def _cpu_parts(names) -> tuple[frozenset, list[str]]:
    parts, notes, unknown = set(), [], []
    for raw in names:
        name = str(raw).strip().lower()
        if not name:
            continue
        if name == "all" or name in PART_NAMES:
            parts.add(name)
        elif name in USE_CPU_NAMES:
            parts.add(name)
            parts.update(USE_CPU_NAMES[name])
        else:
            parts.add(name)  # kept: an extension may ask for its own name
            unknown.append(name)
    if unknown:
        known = ", ".join(("all", *USE_CPU_NAMES))
        notes.append(f"--use-cpu {' '.join(unknown)}: not a part this app knows (known: {known}); accepted "
                     "for extensions that ask by that name")  # fmt: skip
    return frozenset(parts), notes


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def prepare_compute_thread() -> None:
    """Per-thread CPU settings for a thread about to run models (the flag lives in each
    thread's FPU state): flush subnormal floats, which are ~15x slower on CPUs."""
    torch.set_flush_denormal(True)
