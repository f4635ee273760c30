"""Whether a VAE decode / encode runs tiled, and running it that way. Tiling costs a little
quality (tile seams are blended) and time, so by default ("Automatic") it is used only when the
whole picture's decode would not fit in the memory that is free now. Tiling is done per call
(diffusers' `tiled_decode` / `_tiled_encode`), never switched on on the shared VAE."""

from pathlib import Path

import torch

from modules.memory.placement import compute_device

TILING_MODES = ("Automatic", "Always", "Never")
# Peak decode memory ~ batch x 128 channels x H x W x 4 bytes (fp32) x DECODE_PEAK_FACTOR, H x W
# the output picture's size: the biggest activations of an SD VAE decoder are its last up block's
# 128-channel maps at full resolution, several alive at once. Measured on this CPU (2026-11-30),
# an SD 1.x-layout AutoencoderKL (128/256/512/512, random weights), one picture, fp32, peak RSS
# (ru_maxrss) less the RSS before the decode: 256 px 280 MB (factor 8.75), 384 px 544 MB (7.55),
# 512 px 963 MB (7.53). 8.0 covers the large sizes that matter, where the factor settles at ~7.5.
DECODE_PEAK_FACTOR = 8.0
DECODER_CHANNELS = 128
CPU_MARGIN_BYTES = 1 << 30  # leave 1 GiB of RAM to the rest of the process and the system


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


def process_room_bytes() -> int:
    """What this process may still allocate under its own limits: RLIMIT_DATA / RLIMIT_AS less what
    it uses of each, and the cgroup's memory.max less memory.current (Linux). A process started
    under a cap (a container, `ulimit -d`, bench/memory.py's probes) sees the whole machine's free
    RAM otherwise, decodes untiled and runs out of memory."""
    import resource

    room = []
    for limit, key in ((resource.RLIMIT_DATA, "VmData"), (resource.RLIMIT_AS, "VmSize")):
        soft, _hard = resource.getrlimit(limit)
        if soft != resource.RLIM_INFINITY:
            room.append(soft - _status_bytes(key))
    try:
        top = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if top != "max":
            room.append(int(top) - int(Path("/sys/fs/cgroup/memory.current").read_text()))
    except (OSError, ValueError):
        pass
    return max(0, min(room)) if room else 1 << 62


def _status_bytes(key: str) -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


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
            with torch.inference_mode():
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
            moments = vae._tiled_encode(pixels)  # noqa: SLF001 - diffusers' per-call tiled encoder
            mean = moments.chunk(2, dim=1)[0]
        else:
            mean = vae.encode(pixels).latent_dist.mean
    return mean * vae.config.scaling_factor
