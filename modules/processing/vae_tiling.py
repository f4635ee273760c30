"""Whether a VAE decode / encode runs tiled, and running it that way. Tiling costs a little
quality (tile seams are blended) and time, so by default ("Automatic") it is used only when the
whole picture's decode would not fit in the memory that is free now. Tiling is done per call
(diffusers' `tiled_decode` / `_tiled_encode`), never switched on on the shared VAE."""

import contextlib

import torch

from modules.memory.placement import compute_device
from modules.memory.process_memory import process_room_bytes

TILING_MODES = ("Automatic", "Always", "Never")
# Peak decode memory ~ batch x 128 channels x H x W x 4 bytes (fp32) x DECODE_PEAK_FACTOR, H x W
# the output picture's size: the biggest activations of an SD VAE decoder are its last up block's
# 128-channel maps at full resolution, several alive at once. Measured on this CPU (2026-11-30),
# an SD 1.x-layout AutoencoderKL (128/256/512/512, random weights), one picture, fp32, peak RSS
# (ru_maxrss) less the RSS before the decode: 256 px 280 MB (factor 8.75), 384 px 544 MB (7.55),
# 512 px 963 MB (7.53). 8.0 covers the large sizes that matter, where the factor settles at ~7.5.
DECODE_PEAK_FACTOR = 8.0
DECODER_CHANNELS = 128
CPU_MARGIN_BYTES = 1 << 30
# diffusers tiles at the VAE config's sample_size: 512 px for SD, but 1024 px for SDXL's VAE, which
# makes a 1024x1024 SDXL decode one tile (no saving at all; bench/memory.py ran out of memory there).
TILE_PIXELS = 512  # leave 1 GiB of RAM to the rest of the process and the system


def decode_estimate_bytes(latents: torch.Tensor, vae_scale: int = 8, element_size: int = 4) -> int:
    """Bytes a whole (untiled) decode of `latents` is expected to need at its peak."""
    batch, _, height, width = latents.shape
    pixels = height * vae_scale * width * vae_scale
    return int(batch * DECODER_CHANNELS * pixels * element_size * DECODE_PEAK_FACTOR)


def free_memory_bytes(device: torch.device) -> int:
    """The memory a decode on `device` may use now: free CUDA memory, or available RAM less a margin
    and never more than this process may still allocate (a memory limit set on it: ulimit, cgroup)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        import psutil

        available = psutil.virtual_memory().available
    except ImportError:
        available = _meminfo_available()
    return max(0, min(int(available) - CPU_MARGIN_BYTES, process_room_bytes()))


def _meminfo_available() -> int:
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def should_tile(mode: str | None, estimate_bytes: int, budget_bytes: int | None) -> bool:
    """True when the decode should run tiled. `mode` None means "Automatic"; `budget_bytes` None
    means unknown (then Automatic does not tile)."""
    mode = mode or "Automatic"
    if mode not in TILING_MODES:
        raise ValueError(f"vae_tiling: {mode!r} is not one of {list(TILING_MODES)}")
    if mode == "Always":
        return True
    if mode == "Never" or budget_bytes is None:
        return False
    return estimate_bytes > budget_bytes


def _vae_scale(vae) -> int:
    return 2 ** (len(vae.config.block_out_channels) - 1)


def _can_tile(vae) -> bool:
    return callable(getattr(vae, "tiled_decode", None)) and callable(getattr(vae, "_tiled_encode", None))


def decode(vae, latents: torch.Tensor, mode: str | None = None, budget_bytes: int | None = None) -> torch.Tensor:
    """Scaled latents -> pixels in [-1, 1], tiled when `should_tile` says so. `budget_bytes`
    None: the free memory of the VAE's device."""
    z = latents.to(compute_device(vae), vae.dtype) / vae.config.scaling_factor
    if _can_tile(vae):
        estimate = decode_estimate_bytes(z, _vae_scale(vae), z.element_size())
        if budget_bytes is None and (mode or "Automatic") == "Automatic":
            budget_bytes = free_memory_bytes(compute_device(vae))
        if should_tile(mode, estimate, budget_bytes):
            with torch.inference_mode(), _tiles_of_at_most(vae, TILE_PIXELS):
                return vae.tiled_decode(z).sample
    with torch.inference_mode():
        return vae.decode(z).sample


def encode(vae, pixels: torch.Tensor, mode: str | None = None, budget_bytes: int | None = None) -> torch.Tensor:
    """Pixels in [-1, 1] -> scaled latents (the distribution's mean), tiled by the same rule as a
    decode of the resulting latents (the encoder's peak is of the same order)."""
    pixels = pixels.to(compute_device(vae), vae.dtype)
    tiled = False
    if _can_tile(vae):
        scale = _vae_scale(vae)
        batch, _, height, width = pixels.shape
        estimate = decode_estimate_bytes(pixels.new_empty(batch, 1, height // scale, width // scale), scale)
        if budget_bytes is None and (mode or "Automatic") == "Automatic":
            budget_bytes = free_memory_bytes(compute_device(vae))
        tiled = should_tile(mode, estimate, budget_bytes)
    with torch.inference_mode():
        if tiled:
            with _tiles_of_at_most(vae, TILE_PIXELS):
                moments = vae._tiled_encode(pixels)  # noqa: SLF001 - diffusers' per-call tiled encoder
            mean = moments.chunk(2, dim=1)[0]
        else:
            mean = vae.encode(pixels).latent_dist.mean
    return mean * vae.config.scaling_factor


@contextlib.contextmanager
def _tiles_of_at_most(vae, pixels: int):
    """diffusers' tile size for this one call, never larger than `pixels` (the latent tile follows);
    the VAE's own sizes are put back after."""
    sample, latent = getattr(vae, "tile_sample_min_size", None), getattr(vae, "tile_latent_min_size", None)
    if sample is None or latent is None or sample <= pixels:
        yield
        return
    vae.tile_sample_min_size, vae.tile_latent_min_size = pixels, pixels // _vae_scale(vae)
    try:
        yield
    finally:
        vae.tile_sample_min_size, vae.tile_latent_min_size = sample, latent
