"""Which dtypes the model parts are stored and computed in, from A1111's precision flags
(--no-half, --no-half-vae, --upcast-sampling, --precision) and the device they run on.

On a CPU everything stays float32: without hardware support the half types are many times slower
there (bf16 ~50x on the build machine), so no flag turns them on and autocast never picks bf16."""

from dataclasses import dataclass

import torch

PRECISION_CHOICES = ("full", "half", "autocast")


@dataclass(frozen=True)
class Precision:
    unet: torch.dtype
    vae: torch.dtype
    text_encoder: torch.dtype
    sampling: torch.dtype  # the latents between UNet calls (fp32 with --upcast-sampling)
    autocast: torch.dtype | None  # torch.autocast's dtype around model calls; None: no autocast
    notes: tuple[str, ...] = ()  # what each given flag did, or why it did nothing here

    def describe(self) -> dict[str, str | None]:
        return {
            "unet": _name(self.unet),
            "vae": _name(self.vae),
            "text_encoder": _name(self.text_encoder),
            "sampling": _name(self.sampling),
            "autocast": _name(self.autocast) if self.autocast is not None else None,
        }


def decide_precision(flags, device_type: str, cpu_bf16: bool = False) -> Precision:
    """The dtypes for a device of `device_type` ("cpu", "cuda", ...). Pure: logging the notes is the
    caller's job. `cpu_bf16`: whether this CPU has bf16 arithmetic (only said in a note; fp32 anyway)."""
    no_half = bool(getattr(flags, "no_half", False))
    no_half_vae = bool(getattr(flags, "no_half_vae", False))
    upcast = bool(getattr(flags, "upcast_sampling", False))
    precision = getattr(flags, "precision", None)  # None: not given, A1111's default (autocast)
    if device_type == "cpu":
        return _cpu_precision(no_half, no_half_vae, upcast, precision, cpu_bf16)
    notes = []
    half = torch.float16
    unet = torch.float32 if no_half else half
    vae = torch.float32 if no_half or no_half_vae else half
    if no_half:
        notes.append("--no-half: the UNet, text encoder and VAE are kept in float32")
    if no_half_vae:
        notes.append("--no-half-vae: the VAE is kept in float32" if not no_half else "--no-half-vae: (with --no-half)")
    sampling = torch.float32
    if precision == "half" and not upcast and unet == half:
        sampling = half
    if upcast:
        notes.append(
            "--upcast-sampling: no effect with --no-half (already float32)"
            if no_half
            else "--upcast-sampling: latents stay float32 between float16 UNet calls"
        )
    autocast = half if unet == half and precision in (None, "autocast") else None
    if precision == "full":
        notes.append("--precision full: no autocast; weights stay float16 unless --no-half")
    elif precision == "half":
        notes.append("--precision half: float16 compute without autocast")
    elif precision == "autocast":
        notes.append(
            "--precision autocast: float16 autocast around model calls"
            if autocast is not None
            else "--precision autocast: no effect with --no-half (float32 weights)"
        )
    return Precision(unet=unet, vae=vae, text_encoder=unet, sampling=sampling, autocast=autocast, notes=tuple(notes))


def _cpu_precision(no_half: bool, no_half_vae: bool, upcast: bool, precision, cpu_bf16: bool) -> Precision:
    why = (
        "this CPU has bf16 instructions, but float32 is what the engine is measured and tested in"
        if cpu_bf16
        else "this CPU has no bf16/fp16 arithmetic, so half types would be many times slower"
    )
    given = [flag for flag, on in (("--no-half", no_half), ("--no-half-vae", no_half_vae),
                                   ("--upcast-sampling", upcast)) if on]  # fmt: skip
    if precision is not None:
        given.append(f"--precision {precision}")
    notes = tuple(f"{flag}: no effect on the CPU, where everything is float32 already ({why})" for flag in given)
    fp32 = torch.float32
    return Precision(unet=fp32, vae=fp32, text_encoder=fp32, sampling=fp32, autocast=None, notes=notes)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX); False where torch cannot say."""
    checks = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    try:
        return any(bool(check()) for check in checks if check is not None)
    except RuntimeError:
        return False


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
