"""The memory cap: a generation that would need more than it is refused before it is queued.

`estimate(...)` gives a generation's peak bytes from what prepare() knows: the model's UNet and VAE
configs (dicts, read from the loaded model or the checkpoint's header / carried config: no torch),
the sizes, the batch, the CFG rows and the attention backend. `check(prepared, engine)` compares
it with the cap and raises MemoryCapExceeded (a ValueError: the API answers 422) saying how much
it needs and what to change.

The model of the peak (fp32 on this CPU; calibrated on FACTS.md's SD 1.5 figures):
  resident weights + runtime + max(UNet pass, hires UNet pass, VAE decode), where
  UNet pass = ACTIVATION_MAPS feature maps of the first level (rows x channels x tokens) plus the
  largest attention score matrices the backend materialises (plain: rows x heads x tokens^2,
  twice: scores and probabilities; split: half the heads of one row at a time; sub-quadratic: a
  query chunk against all keys; SDPA / xformers: none), and the VAE decode is vae_tiling's
  measured estimate (one tile's when tiling applies) plus its mid-block attention for plain/split.
"""

import json
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

from modules.attention import PLAIN, SPLIT, SUB_QUAD, AttentionBackend, backend_for

GIB = 1 << 30
# First-level feature maps alive at the UNet's peak (skip connections, resnet temporaries, the
# transformer's feed-forward). From FACTS.md: SD 1.5, SDPA, CFG rows 2, fp32: peak RSS 4.1 GiB at
# 512^2 and 5.1 GiB at 1024^2; 3 x 4096 more tokens cost 1.0 GiB = 32 maps of 2 x 320 x 4096 x 4 B.
ACTIVATION_MAPS = 32
RUNTIME_BYTES = int(0.4 * GIB)  # torch and the process itself, beyond the weights
PROBS_AND_SCORES = 2  # plain attention holds the scores and their softmax at once
TEXT_TOKENS = 77
DEFAULT_VAE_TILE = 512  # diffusers' tile in pixels when the VAE config does not say


class MemoryCapExceeded(ValueError):
    """A request that would need more memory than the cap allows: refused before it is queued."""


@dataclass(frozen=True)
class Estimate:
    total_bytes: int
    weights_bytes: int
    unet_bytes: int  # the largest UNet pass's activations (first pass or hires pass)
    decode_bytes: int
    tiled_decode: bool
    backend: str
    # The least it can run in: a batched UNet call that runs out of memory goes again one row at a
    # time (modules/sampling/row_batching.py), so the UNet pass can shrink to one row's activations.
    least_bytes: int = 0
    least_unet_bytes: int = 0

    def describe(self) -> str:
        return (f"weights {_gib(self.weights_bytes)}, UNet {_gib(self.least_unet_bytes)} one row a call, VAE decode "
                f"{_gib(self.decode_bytes)}{' (tiled)' if self.tiled_decode else ''}")  # fmt: skip


@dataclass(frozen=True)
class Shape:
    """One generation's sizes: output pixels, pictures per batch, the UNet rows per picture."""

    width: int
    height: int
    batch_size: int = 1
    cfg_rows: int = 2
    hires: tuple[int, int] | None = None  # the hires pass's size, None without one


def unet_activation_bytes(unet: dict, width: int, height: int, rows: int, backend: AttentionBackend,
                          element_size: int = 4, vae_scale: int = 8) -> int:  # fmt: skip
    """Peak activations of one UNet call on `rows` latents of width x height pixels."""
    channels = list(unet.get("block_out_channels") or [320])
    tokens0 = (height // vae_scale) * (width // vae_scale)
    maps = ACTIVATION_MAPS * rows * channels[0] * tokens0 * element_size
    return maps + _unet_attention_bytes(unet, tokens0, rows, backend, element_size)


def _unet_attention_bytes(unet: dict, tokens0: int, rows: int, backend: AttentionBackend, element_size: int) -> int:
    """The largest score matrix the backend materialises over the levels that have attention."""
    largest = 0
    kinds = list(unet.get("down_block_types") or [])
    for level, kind in enumerate(kinds):
        if "CrossAttn" not in kind:
            continue
        tokens = tokens0 // (4**level)
        heads = _heads(unet, level, len(kinds))
        largest = max(largest, score_bytes(backend, tokens, tokens, rows, heads, element_size))
    return largest


def score_bytes(backend: AttentionBackend, q_tokens: int, k_tokens: int, rows: int, heads: int,
                element_size: int = 4) -> int:  # fmt: skip
    """Bytes of the attention scores one attention call holds at once under `backend`."""
    if backend.name == PLAIN:
        return PROBS_AND_SCORES * rows * heads * q_tokens * k_tokens * element_size
    if backend.name == SPLIT:  # diffusers' sliced processor: heads // 2 of the (rows x heads) slices at once
        return PROBS_AND_SCORES * max(1, heads // 2) * q_tokens * k_tokens * element_size
    if backend.name == SUB_QUAD:
        q_chunk = min(backend.q_chunk, q_tokens)
        k_chunk = min(backend.kv_chunk or k_tokens, k_tokens)
        return PROBS_AND_SCORES * rows * heads * q_chunk * k_chunk * element_size
    return 0  # SDPA, its no-mem variant and xformers never hold the whole matrix


def _heads(unet: dict, level: int, levels: int) -> int:
    """Attention heads at a level. diffusers' SD configs put the head count in attention_head_dim
    (a historical misnomer) unless num_attention_heads is given."""
    value = unet.get("num_attention_heads") or unet.get("attention_head_dim") or 8
    if isinstance(value, list | tuple):
        return int(value[min(level, len(value) - 1)]) if value else 8
    return int(value)


def decode_bytes(vae: dict, shape: Shape, backend: AttentionBackend, tiled: bool, element_size: int = 4) -> int:
    """The VAE decode's peak: vae_tiling's measured estimate of the whole picture (or of one tile
    and the assembled output when tiled), plus the mid-block attention plain/split materialise."""
    from modules.processing.vae_tiling import DECODE_PEAK_FACTOR, DECODER_CHANNELS

    scale = 2 ** (len(vae.get("block_out_channels") or [0, 0, 0, 0]) - 1)
    width, height = shape.hires or (shape.width, shape.height)
    if tiled:
        tile = int(vae.get("sample_size") or DEFAULT_VAE_TILE)
        tile = tile[0] if isinstance(tile, list | tuple) else tile
        tile_w, tile_h, pictures = min(tile, width), min(tile, height), 1
        assembled = 3 * shape.batch_size * 3 * width * height * element_size  # tiles, rows, the output
    else:
        tile_w, tile_h, pictures, assembled = width, height, shape.batch_size, 0
    peak = int(pictures * DECODER_CHANNELS * tile_w * tile_h * element_size * DECODE_PEAK_FACTOR)
    tokens = (tile_w // scale) * (tile_h // scale)
    attention = score_bytes(backend, tokens, tokens, pictures, 1, element_size)
    return peak + attention + assembled


def estimate(unet: dict, vae: dict, shape: Shape, backend: AttentionBackend, weights_bytes: int,
             cap_bytes: int | None = None, tiling: str = "Automatic", element_size: int = 4) -> Estimate:  # fmt: skip
    """A generation's peak bytes. `tiling` is the "VAE tiling" setting: Automatic tiles the
    decode when the whole one would not fit beside the weights under `cap_bytes`."""
    scale = 2 ** (len(vae.get("block_out_channels") or [0, 0, 0, 0]) - 1)
    rows = shape.batch_size * shape.cfg_rows
    unet_peak = unet_activation_bytes(unet, shape.width, shape.height, rows, backend, element_size, scale)
    if shape.hires:
        hires = unet_activation_bytes(unet, shape.hires[0], shape.hires[1], rows, backend, element_size, scale)
        unet_peak = max(unet_peak, hires)
    fixed = weights_bytes + RUNTIME_BYTES
    whole = decode_bytes(vae, shape, backend, tiled=False, element_size=element_size)
    tiled = tiling == "Always" or (tiling == "Automatic" and cap_bytes is not None and fixed + whole > cap_bytes)
    decode = decode_bytes(vae, shape, backend, tiled=True, element_size=element_size) if tiled else whole
    total = fixed + max(unet_peak, decode)
    sizes = [(shape.width, shape.height), *([shape.hires] if shape.hires else [])]
    least_unet = max(unet_activation_bytes(unet, w, h, 1, backend, element_size, scale) for w, h in sizes)
    least = fixed + max(least_unet, decode)
    return Estimate(total, weights_bytes, unet_peak, decode, tiled, backend.name, least, least_unet)


# --- the cap and what is resident ------------------------------------------------------------


def cap_bytes(engine) -> tuple[int, str]:
    """(the memory cap in bytes, where it comes from): --memory-budget (GiB), else the memory
    manager's budget (the GPU's total memory, or this machine's RAM)."""
    if getattr(engine.flags, "memory_budget", None):
        return int(float(engine.flags.memory_budget) * GIB), "--memory-budget"
    return int(engine.memory.budget_bytes()), "the memory manager's budget"


def _cpu_only(engine) -> bool:
    return "all" in {str(name).lower() for name in (getattr(engine.flags, "use_cpu", None) or [])}


def element_size(engine) -> int:
    """Bytes per activation: fp16 on a CUDA machine unless --no-half, fp32 on a CPU."""
    torch = sys.modules.get("torch")
    on_cuda = torch is not None and torch.cuda.is_available() and not _cpu_only(engine)
    return 2 if on_cuda and not getattr(engine.flags, "no_half", False) else 4


def resident_bytes(engine, info) -> int:
    """Weights resident while the job runs: the memory manager's ledger, plus the job's checkpoint
    when it is not loaded yet (from its file)."""
    loaded = engine.models.resident
    target_loaded = info is None or any(model.info == info for model in loaded)
    resident = int(engine.memory.resident_bytes())
    if target_loaded:
        return resident
    limit = int(engine.settings.get("sd_checkpoints_limit") or 1) if _has_setting(engine, "sd_checkpoints_limit") else 1
    # With one checkpoint resident, the loaded one makes room for the job's.
    return checkpoint_bytes(info, element_size(engine)) + (resident if limit > 1 else 0)


def _has_setting(engine, key: str) -> bool:
    try:
        engine.settings.get(key)
    except (KeyError, LookupError, ValueError):
        return False
    return True


def checkpoint_bytes(info, compute_element_size: int = 4) -> int:
    """A checkpoint's weights once loaded in the compute dtype, from its file(s) without loading:
    a .safetensors header's tensor sizes; other files by their size on disk."""
    path = Path(info.path)
    files = sorted(path.rglob("*.safetensors")) if path.is_dir() else [path]
    total = 0
    for file in files:
        if file.suffix.lower() == ".safetensors":
            total += _safetensors_elements(file) * compute_element_size
        else:
            total += file.stat().st_size
    return total


_DTYPE_BYTES = {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "F16": 2, "BF16": 2, "I16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
                "I8": 1, "U8": 1, "BOOL": 1}  # fmt: skip


def _safetensors_elements(path: Path) -> int:
    """The number of tensor elements a .safetensors file holds, from its JSON header."""
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    count = 0
    for name, entry in header.items():
        if name == "__metadata__" or not isinstance(entry, dict):
            continue
        start, stop = entry.get("data_offsets", (0, 0))
        count += (stop - start) // _DTYPE_BYTES.get(entry.get("dtype", "F32"), 4)
    return count


def _gib(size: int) -> str:
    return f"{size / GIB:.1f} GiB"


# --- the check prepare() makes --------------------------------------------------------------


def check(prepared, engine) -> Estimate | None:
    """Refuse (MemoryCapExceeded) a prepared generation whose estimated peak exceeds the cap.
    None when there is nothing to estimate from (no checkpoint: prepare's other checks say so)."""
    info, configs = _job_model(engine, prepared.checkpoint)
    if configs is None:
        return None
    unet, vae = configs
    request, settings = prepared.request, prepared.settings
    shape = generation_shape(request, unet)
    backend = backend_for(engine.flags)
    cap, source = cap_bytes(engine)
    tiling = _setting(settings, "vae_tiling", "Automatic")
    if _setting(settings, "sd_vae_decode_method", "Full") == "TAESD":
        tiling = "Always"  # the small decoder's peak is of a tile's order, never the full VAE's
    need = estimate(unet, vae, shape, backend, resident_bytes(engine, info), cap, tiling, element_size(engine))
    if need.least_bytes > cap:  # the batched rows may not fit, one row a call must
        raise MemoryCapExceeded(refusal_message(need, shape, cap, source))
    return need


def generation_shape(request, unet: dict) -> Shape:
    """The sizes prepare() resolved: width x height (multiples of 8), the hires target, the CFG
    rows per picture (1 at CFG scale 1, 3 for instruct-pix2pix's picture guidance)."""
    from modules.processing.request import output_size

    hires = output_size(request) if request.enable_hr else None
    rows = 1 if float(request.cfg_scale) == 1.0 else 2
    if int(unet.get("in_channels") or 4) == 8:  # instruct-pix2pix: text, picture and neither
        rows = 3
    return Shape(int(request.width), int(request.height), int(request.batch_size), rows, hires)


def refusal_message(need: Estimate, shape: Shape, cap: int, source: str) -> str:
    width, height = shape.hires or (shape.width, shape.height)
    batch = f" (batch of {shape.batch_size})" if shape.batch_size > 1 else ""
    advice = "Use a smaller size or batch"
    if need.backend in (PLAIN, SPLIT, SUB_QUAD):
        advice += ", --opt-sdp-attention or --opt-sub-quad-attention with a smaller --sub-quad-q-chunk-size"
    return (
        f"needs about {_gib(need.least_bytes)} at {width}x{height}{batch} with {_backend_words(need.backend)} "
        f"({need.describe()}); the memory cap is {_gib(cap)} ({source}). {advice}"
    )


def _backend_words(name: str) -> str:
    return {PLAIN: "classic attention", SPLIT: "split attention", SUB_QUAD: "sub-quadratic attention"}.get(
        name, f"{name} attention"
    )


def _setting(settings, key: str, default: str) -> str:
    try:
        return str(settings.get(key) or default)
    except (KeyError, LookupError, ValueError, AttributeError):
        return default


def _job_model(engine, checkpoint):
    """(the CheckpointInfo the job runs on, (UNet config, VAE config)) or (None, None)."""
    models = engine.models
    info = checkpoint or getattr(models, "current_info", None)
    if info is None:
        try:
            info = models.resolve(None)
        except LookupError:
            return None, None
    for model in getattr(models, "resident", []) or []:
        if getattr(model, "info", None) == info:
            return info, (dict(model.unet.config), dict(model.vae.config))
    try:
        return info, _configs_from_files(info)
    except (OSError, ValueError, LookupError, RuntimeError):  # unreadable here: the load will say why
        return info, None


def _configs_from_files(info) -> tuple[dict, dict]:
    """The UNet and VAE configs of a checkpoint not loaded: a diffusers folder's own, a file's
    embedded ones, else its family's carried configs (SD 1.x's for a pickled file)."""
    from modules.models import families
    from modules.models.loading import read_family_layout

    path = Path(info.path)
    if path.is_dir():
        return _json(path / "unet" / "config.json"), _json(path / "vae" / "config.json")
    embedded: dict = {}
    family = families.get("sd1")
    if path.suffix.lower() == ".safetensors":
        layout, text = read_family_layout(path)
        family = families.detect(layout)
        embedded = json.loads(text) if text else {}
    base = family.config_dir
    unet = embedded.get("unet") or _json(base / "unet" / "config.json")
    vae = embedded.get("vae") or _json(base / "vae" / "config.json")
    return unet, vae


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
