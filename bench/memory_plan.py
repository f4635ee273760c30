"""What bench/memory.py runs: the configurations (by name), the search for the largest size that
fits, and a rough estimate of a run's wall time. Pure Python: nothing here imports torch, so the
plan, the search and the estimate are cheap to test."""

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

ATTENTIONS = ("sdp", "sdp-no-mem", "sub-quad", "split", "plain")
# The modules.attention flag that selects each backend (backend_for reads these attribute names).
ATTENTION_FLAGS = {
    "sdp": "opt_sdp_attention",
    "sdp-no-mem": "opt_sdp_no_mem_attention",
    "sub-quad": "opt_sub_quad_attention",
    "split": "opt_split_attention",
    "plain": "disable_opt_split_attention",
}
TILING_TOKENS = {"tile": "Always", "autotile": "Automatic"}  # no token: "Never"
FP8_SCOPES = {"fp8": "unet", "fp8all": "all"}
FP8_TOKENS = {scope: token for token, scope in FP8_SCOPES.items()}
FP8_RANK = ("", "unet", "all")
OFFLOADS = ("medvram", "lowvram")
ARCHES = ("tiny", "sd15", "sdxl")
SIZE_STEP = 64
LARGEST_FITS = "the largest size searched fits"


@dataclass(frozen=True)
class ProbeConfig:
    """One configuration of the engine, named like "sdp+tile+fp8" (attention first, then modifiers
    in any order: tile | autotile, fp8 | fp8all, medvram | lowvram, tome<ratio>, taesd). `fp8` is our
    engine's FP8 weight (the UNet's Linear/Conv weights); `fp8all` also the text encoders', as
    A1111's FP8 weight does (everything but the VAE)."""

    attention: str = "sdp"
    tiling: str = "Never"  # vae_tiling.decode mode: Never / Always / Automatic
    fp8: str = ""  # "", "unet" (fp8), "all" (fp8all)
    offload: str = ""  # "", "medvram", "lowvram" (CUDA only)
    tome: float = 0.0
    taesd: bool = False

    @property
    def name(self) -> str:
        parts = [self.attention]
        parts += [token for token, mode in TILING_TOKENS.items() if mode == self.tiling]
        parts += [FP8_TOKENS[self.fp8]] if self.fp8 else []
        parts += [self.offload] if self.offload else []
        parts += [f"tome{self.tome:g}"] if self.tome else []
        parts += ["taesd"] if self.taesd else []
        return "+".join(parts)

    @classmethod
    def parse(cls, name: str) -> "ProbeConfig":
        attention, *modifiers = [part.strip() for part in name.strip().split("+")]
        if attention not in ATTENTIONS:
            raise ValueError(f"configuration {name!r}: attention {attention!r} is not one of {list(ATTENTIONS)}")
        config = cls(attention=attention)
        for token in modifiers:
            if token in TILING_TOKENS:
                config = replace(config, tiling=TILING_TOKENS[token])
            elif token in FP8_SCOPES:
                config = replace(config, fp8=FP8_SCOPES[token])
            elif token in OFFLOADS:
                config = replace(config, offload=token)
            elif token == "taesd":
                config = replace(config, taesd=True)
            elif token.startswith("tome"):
                config = replace(config, tome=_ratio(name, token[4:]))
            else:
                raise ValueError(
                    f"configuration {name!r}: unknown part {token!r} "
                    "(known: tile, autotile, fp8, fp8all, medvram, lowvram, tome<ratio>, taesd)"
                )
        return config

    def dominates(self, other: "ProbeConfig") -> bool:
        """True when this configuration needs at most `other`'s memory at any size: the same except
        for more VAE tiling (Never < Automatic < Always) and/or FP8 weight where `other` has none. A
        size `other` completes, this one completes; a size this one fails, `other` fails."""
        same_rest = replace(self, tiling="Never", fp8="") == replace(other, tiling="Never", fp8="")
        tiling_rank = ("Never", "Automatic", "Always")
        return (
            same_rest
            and tiling_rank.index(self.tiling) >= tiling_rank.index(other.tiling)
            and FP8_RANK.index(self.fp8) >= FP8_RANK.index(other.fp8)
        )


def _ratio(name: str, text: str) -> float:
    try:
        ratio = float(text)
    except ValueError:
        raise ValueError(f"configuration {name!r}: token merging ratio {text!r} is not a number") from None
    if not 0 < ratio < 1:
        raise ValueError(f"configuration {name!r}: token merging ratio must be between 0 and 1, got {ratio}")
    return ratio


def default_configs(device: str = "cpu") -> list[ProbeConfig]:
    """The experiment's matrix: attention x VAE tiling x FP8 weight, and on CUDA the offload modes.
    Ordered base first, so what a base configuration completes bounds the ones that dominate it."""
    matrix = [
        ProbeConfig(attention=attention, tiling=tiling, fp8=fp8)
        for fp8 in ("", "unet")
        for tiling in ("Never", "Always")
        for attention in ATTENTIONS
    ]
    if device == "cuda":
        matrix += [ProbeConfig(offload="medvram"), ProbeConfig(offload="lowvram")]
    return matrix


def parse_configs(text: str | None, device: str = "cpu") -> list[ProbeConfig]:
    if not text:
        return default_configs(device)
    configs = [ProbeConfig.parse(name) for name in text.split(",") if name.strip()]
    if not configs:
        raise ValueError("--configs names no configuration")
    if device != "cuda" and any(config.offload for config in configs):
        raise ValueError("--medvram / --lowvram configurations move weights between GPU and CPU: use --device cuda")
    return configs


def parse_sizes(text: str | None) -> list[int]:
    """ "512,1024" or "512 1024" -> sorted sizes, each a positive multiple of 64."""
    if not text:
        return []
    sizes = []
    for part in text.replace(",", " ").split():
        try:
            size = int(part)
        except ValueError:
            raise ValueError(f"size {part!r} is not a whole number") from None
        if size <= 0 or size % SIZE_STEP:
            raise ValueError(f"size {size} is not a positive multiple of {SIZE_STEP}")
        sizes.append(size)
    return sorted(set(sizes))


def candidate_sizes(low: int, high: int, step: int = SIZE_STEP) -> list[int]:
    if step <= 0 or step % SIZE_STEP:
        raise ValueError(f"--step must be a positive multiple of {SIZE_STEP}, got {step}")
    first = math.ceil(low / step) * step
    sizes = list(range(max(first, step), high + 1, step))
    if not sizes:
        raise ValueError(f"no multiple of {step} between --min {low} and --max {high}")
    return sizes


@dataclass
class Outcome:
    """What one probe said: completed, ran out of memory (in `phase`), or failed otherwise."""

    ok: bool
    status: str = "ok"  # ok | oom | error | unavailable
    phase: str = ""  # build | step | decode: where it failed
    message: str = ""


@dataclass
class SearchResult:
    max_size: int | None
    probed: dict[int, bool] = field(default_factory=dict)
    note: str = ""


class Evidence:
    """Pass/fail sizes per configuration, from probes, shared across the search so dominance saves
    probes: a pass of B is a pass of every A that dominates B, a fail of A a fail of B."""

    def __init__(self):
        self.seen: dict[ProbeConfig, dict[int, bool]] = {}

    def record(self, config: ProbeConfig, size: int, ok: bool) -> None:
        self.seen.setdefault(config, {})[size] = ok

    def inferred(self, config: ProbeConfig) -> dict[int, bool]:
        known: dict[int, bool] = {}
        for other, sizes in self.seen.items():
            if other == config:
                continue
            for size, ok in sizes.items():
                if ok and config.dominates(other):
                    known[size] = True
                elif not ok and other.dominates(config):
                    known.setdefault(size, False)
        return known


def search_max_size(
    candidates: list[int], probe: Callable[[int], Outcome], known: dict[int, bool] | None = None
) -> SearchResult:
    """The largest of `candidates` (ascending) that `probe` completes, by binary search, assuming a
    size that fails means every larger one fails. `known` (inferred, not probed) narrows the start;
    an answer that rests only on inference is probed once before it is believed."""
    probed: dict[int, bool] = {}
    known = dict(known or {})
    lo, hi = _bounds(candidates, known)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        outcome = probe(candidates[mid])
        if outcome.status in ("error", "unavailable"):
            return SearchResult(None, probed, f"{outcome.status}: {outcome.message}")
        probed[candidates[mid]] = outcome.ok
        if not outcome.ok and outcome.phase == "build":
            return SearchResult(None, probed, f"the weights alone do not fit: {outcome.message}")
        lo, hi = (mid, hi) if outcome.ok else (lo, mid)
    if lo >= 0 and candidates[lo] not in probed:
        outcome = probe(candidates[lo])
        if outcome.status in ("error", "unavailable"):
            return SearchResult(None, probed, f"{outcome.status}: {outcome.message}")
        probed[candidates[lo]] = outcome.ok
        if not outcome.ok:  # the inference was wrong for this configuration: search on its own probes
            again = search_max_size(candidates[:lo], probe, {s: ok for s, ok in probed.items() if s < candidates[lo]})
            again.probed = {**probed, **again.probed}
            kept = "" if again.note == LARGEST_FITS else again.note  # a larger size did fail: not the top
            again.note = (kept + "; " if kept else "") + "inferred bound did not hold"
            return again
    if lo < 0:
        return SearchResult(None, probed, f"nothing from {candidates[0]} up fits")
    note = LARGEST_FITS if lo == len(candidates) - 1 else ""
    return SearchResult(candidates[lo], probed, note)


def _bounds(candidates: list[int], known: dict[int, bool]) -> tuple[int, int]:
    """Index of the largest known pass (-1) and the smallest known fail (len), ignoring
    inferences that contradict each other."""
    passes = [i for i, size in enumerate(candidates) if known.get(size) is True]
    fails = [i for i, size in enumerate(candidates) if known.get(size) is False]
    lo, hi = (max(passes) if passes else -1), (min(fails) if fails else len(candidates))
    return (lo, hi) if lo < hi else (-1, len(candidates))


# --- the estimate ------------------------------------------------------------------------------
# Seconds on the 2-core build machine (FACTS.md "Speed and memory on this CPU"): an SD 1.5 CFG step
# at p = (size/512)^2 costs ~13p + 3p^2 s with SDPA (16 s at 512, ~100 s at 1024); the VAE decode
# ~21.8p + 1.2p^2 s untiled (23 s at 512, 106 s at 1024), ~38.5p s tiled (154 s at 1024). SDXL's
# UNet at 1024 is ~12 TFLOP for the CFG pair (~130 s). Startup = imports + building random weights.
# Rough on purpose: it tells a 5-minute run from a 5-hour one.
COST = {
    "tiny": {"startup": 12.0, "step": (2.0, 0.1), "decode": (2.5, 0.0), "tiled": 24.0},
    "sd15": {"startup": 25.0, "step": (13.0, 3.0), "decode": (21.8, 1.2), "tiled": 38.5},
    "sdxl": {"startup": 70.0, "step": (28.0, 1.5), "decode": (21.8, 1.2), "tiled": 38.5},
}
# FP8 weight upcasts every Linear/Conv weight at every call: ~12 CPU-s per SD 1.5 UNet call measured
# (2026-11-30), whatever the size; SDXL's UNet has 3x the weights.
FP8_CAST_SECONDS = {"tiny": 0.0, "sd15": 6.0, "sdxl": 18.0}
ATTENTION_SLOWDOWN = {"sdp": 1.0, "sdp-no-mem": 1.0, "sub-quad": 1.2, "split": 1.3, "plain": 1.3}


def step_seconds(arch: str, config: ProbeConfig, size: int) -> float:
    a, b = COST[arch]["step"]
    p = (size / 512) ** 2
    seconds = (a * p + b * p * p) * ATTENTION_SLOWDOWN[config.attention]
    seconds += FP8_CAST_SECONDS[arch] if config.fp8 else 0.0
    return seconds * (1 - 0.8 * config.tome)  # ToMe saves most of the top level's attention share


def decode_seconds(arch: str, config: ProbeConfig, size: int) -> float:
    p = (size / 512) ** 2
    if config.taesd:
        return 0.5 * p
    a, b = COST[arch]["decode"]
    untiled = a * p + b * p * p
    return untiled if config.tiling == "Never" or p <= 1 else COST[arch]["tiled"] * p


def probe_seconds(arch: str, config: ProbeConfig, size: int, ok: bool = True) -> float:
    """A probe that fails is counted as failing halfway through its step."""
    work = (
        step_seconds(arch, config, size) + decode_seconds(arch, config, size)
        if ok
        else 0.5 * step_seconds(arch, config, size)
    )
    return COST[arch]["startup"] + work


def estimate_search_seconds(arch: str, config: ProbeConfig, candidates: list[int], fits: Callable[[int], bool]):
    """The wall time of searching `candidates` if `fits` says which sizes complete (a guess)."""
    total = 0.0

    def probe(size: int) -> Outcome:
        nonlocal total
        ok = fits(size)
        total += probe_seconds(arch, config, size, ok)
        return Outcome(ok)

    search_max_size(candidates, probe)
    return total


def estimate_sizes_seconds(arch: str, configs: Iterable[ProbeConfig], sizes: list[int]) -> float:
    """Every configuration at every size (assuming each completes: the upper end)."""
    return sum(probe_seconds(arch, config, size) for config in configs for size in sizes)


# Peak memory guess (GiB), only to foresee which probes of a search pass for the estimate: resident
# weights (fp32; FP8 stores Linear/Conv weights in a quarter) + runtime + activations (~0.33 GiB per
# 512^2 of picture for SD 1.5 with SDPA, FACTS.md: 4.1 GiB at 512, 5.1 at 1024) + the score matrices
# plain/split attention materialise (batch 2 x heads x tokens^2 x 4 bytes, twice: scores and softmax).
WEIGHTS_GIB = {"tiny": (0.05, 0.05), "sd15": (3.97, 1.4), "sdxl": (12.9, 3.6)}  # (fp32, fp8)
TEXT_ENCODER_GIB = {"tiny": 0.01, "sd15": 0.46, "sdxl": 3.05}  # fp32
TOP_ATTENTION = {"tiny": (16, 1), "sd15": (8, 8), "sdxl": (16, 10)}  # (pixels per token, heads)


def guess_peak_gib(arch: str, config: ProbeConfig, size: int) -> float:
    weights = WEIGHTS_GIB[arch][1 if config.fp8 == "all" else 0]
    if config.fp8 == "unet":  # the text encoders stay in full precision
        weights = WEIGHTS_GIB[arch][1] + TEXT_ENCODER_GIB[arch] * 0.75
    p = (size / 512) ** 2
    step = 0.6 + 0.33 * p
    scale, heads = TOP_ATTENTION[arch]
    tokens = (size // scale) ** 2
    if config.attention in ("plain", "split"):
        step += 2 * 2 * heads * tokens**2 * 4 / 2**30 / (2 if config.attention == "split" else 1)
    decode = 0.0
    if not config.taesd:
        decode_size = min(size, 512) if config.tiling == "Always" else size
        decode = 128 * decode_size**2 * 4 * 8 / 2**30
        if config.attention in ("plain", "split"):  # the VAE's one-head attention at latent size
            decode += 2 * ((decode_size // 8) ** 2) ** 2 * 4 / 2**30
    return weights + max(step, 0.6 + decode)
