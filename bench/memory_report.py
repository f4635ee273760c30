"""docs/MEMORY.md and its two plots from bench/memory.py's results (one or more runs' JSON)."""

from pathlib import Path

from bench.memory_plan import ProbeConfig
from bench.memory_plot import bar_chart, line_chart

GIB = 2**30
SEED_PAPER_SIZE = 1408  # the seed paper's best optimised fork, on an 8 GB GPU
IMAGE_STEPS = 20  # a picture = this many steps + one decode, for the speed comparison
MAX_SIZE_PNG, STEP_TIME_PNG = "memory_max_size.png", "memory_step_time.png"

CAP_CHOICE = """\
On the CPU the cap is an rlimit set in the probe's own process before torch is imported.
`RLIMIT_AS` counts the whole virtual address space: the shared libraries torch maps (file-backed,
mostly never read), every thread's stack and glibc's 64 MiB per-thread malloc arenas, reserved but
untouched. `RLIMIT_DATA` (Linux >= 4.7) counts only private writable mappings: the heap and the
anonymous mmaps that hold tensors, the memory a picture's size actually drives. Measured with the
tiny model on this machine (VmHWM = peak RSS, VmPeak = peak virtual size, peak VmData sampled every
10 ms): {measurement} So RLIMIT_DATA is the cap here (`--cap-kind data`, the default): it tracks peak
RSS within a few percent, where RLIMIT_AS would charge every probe a fixed ~0.7 GiB or more of
address space nobody uses. On CUDA the cap is `torch.cuda.set_per_process_memory_fraction`."""
CAP_MEASUREMENT = (
    "the tiny model at 384x384 with plain attention peaks at 554 MiB RSS, 621 MiB VmData and 1238 MiB "
    "VmPeak. Under RLIMIT_DATA it fails at 554, 582 and 609 MiB and completes at 693 MiB: the cap it needs "
    "is its peak VmData, RSS + 67 MiB. Under RLIMIT_AS it fails at 1114 MiB and completes at 1238 MiB: "
    "it needs VmPeak, RSS + 684 MiB. SD 1.5 (random weights, fp32, 64x64) peaks at 4.58 GiB RSS, "
    "4.76 GiB VmData, 5.35 GiB VmPeak: again RLIMIT_DATA sits 0.18 GiB above RSS, RLIMIT_AS 0.77 GiB."
)

FINDINGS = """\
Measured on this machine while the bench was built (2026-11-30, random weights, 2 threads):
- FP8 weight upcasts every Linear/Conv weight at every call: an SD 1.5 UNet call costs ~12 CPU-s
  more with it (64x64: 12.4 CPU-s against 2.0), whatever the size; on a CPU it saves memory, not time.
- FP8 weight's per-call casts fragment glibc's heap: SDXL with FP8 weight (UNet and text encoders)
  holds 3.47 GiB of weights but peaked at 6.74 GiB RSS after three 64x64 steps with glibc's default
  allocator, and at 4.22 GiB with `M_MMAP_THRESHOLD` at 1 MiB (`--mmap-threshold-mib 1`, the same
  as `MALLOC_MMAP_THRESHOLD_=1048576`). SD 1.5 without FP8: 4.39 -> 4.61 GiB, no growth to speak of.
  The engine now sets that threshold itself when it stores weights in FP8 (modules/models/fp8.py).
- "VAE tiling: Automatic" compared its estimate with the RAM the system had free and did not see a
  per-process limit, so under a cap it decoded untiled and ran out; it now also counts the process's
  rlimits and cgroup (modules/memory/process_memory.py). SDXL's VAE config asks for 1024 px tiles,
  which made a 1024x1024 decode one tile; tiles are now at most 512 px.
- SD 1.5 at 2048x2048 with the defaults: the step with both CFG rows in one UNet call ran out of
  memory under 8 GiB (peak VmData at the cap after 167 s); the engine now runs the rows one a call
  when the batched call runs out (modules/sampling/row_batching.py), and the same probe completes
  at 7.30 GiB peak RSS ("ok (rows split)": its step time includes the failed batched attempt).
- On the tiny model FP8 weight saves ~10 MB and its casts cost more than that: `sdp+fp8` completed
  less than `sdp` under 0.75 GiB. The search checks every size it infers, so this shows, not hides."""

HOW_TO_READ = """\
Each probe is a fresh process that builds the architecture with random weights (the carried
diffusers configs: same layers, same memory and time as a real checkpoint), runs one CFG denoising
step (the UNet on a batch of 2 latents with a 77-token context) and then decodes the latent,
under the cap. "Largest size" is the largest square size (a multiple of 64) whose step and decode
both completed; the search is a binary search over the multiples of 64 between the bounds (a size
that fails means every larger one fails), and a configuration that can only need less memory than
another (more VAE tiling, FP8 weight) starts from that one's result, which is then confirmed by a
probe of its own. Seconds per step are one timed UNet call after a warm-up call; a picture of
{steps} steps costs about {steps} x step + decode. Peak RSS is the process's whole peak, weights
included. Names: attention backend (sdp = --opt-sdp-attention, the default; sdp-no-mem, sub-quad,
split, plain = --disable-opt-split-attention), then `tile` (VAE tiling Always), `autotile` (tiling
Automatic: the engine's own choice), no tiling word = Never, `fp8` (the UNet's Linear/Conv
weights in float8, computed in fp32 layer by layer), `fp8all` (the text encoders' too: A1111's FP8
weight, and our engine's), `medvram`/`lowvram` (offload, CUDA only), `tome0.5` (token
merging ratio 0.5), `taesd` (VAE type for decode: TAESD)."""


def write_report(results: list[dict], out: Path) -> None:
    out = Path(out)
    images = out.parent / "images"
    images.mkdir(parents=True, exist_ok=True)
    probes = [probe for run in results for probe in run["probes"]]
    searches = [{**search, "arch": run["meta"]["arch"]} for run in results for search in run["searches"]]
    bars = max_size_rows(searches, probes)
    # A run without a cap (a timing pair) found no largest size: it stays in the tables, not the bars.
    capped = [row for row in bars if row["cap"]] or bars
    bar_chart(
        [(_label(row["arch"], row["config"], row.get("mmap_threshold")), row["max_size"] or 0) for row in capped],
        images / MAX_SIZE_PNG,
        title="Largest square size completing one step + decode under the cap",
        x_label="largest size (px, square)",
        y_label="configuration",
        marker=(SEED_PAPER_SIZE, "seed paper best fork (8 GB GPU)"),
    )
    line_chart(
        step_time_series(probes),
        images / STEP_TIME_PNG,
        title="Seconds per denoising step (CFG pair) against size",
        x_label="size (px, square)",
        y_label="seconds per step",
    )
    out.write_text(render_markdown(results, bars, probes, f"images/{MAX_SIZE_PNG}", f"images/{STEP_TIME_PNG}"))


def max_size_rows(searches: list[dict], probes: list[dict]) -> list[dict]:
    rows = []
    for search in searches:
        config = ProbeConfig.parse(search["config"])
        best = _probe_at(probes, search["arch"], search["config"], search.get("max_size"), search.get("mmap_threshold"))
        rows.append(
            {
                **search,
                "attention": config.attention,
                "tiling": config.tiling,
                "fp8": {"": "no", "unet": "UNet", "all": "UNet + text"}[config.fp8],
                "offload": config.offload or "none",
                "peak_gib": (best.get("peak_vram") or best.get("peak_rss", 0)) / GIB if best else None,
                "step_s": best.get("step_s") if best else None,
                "tried": len(search.get("probed", {})),
                "cap": _cap_of(search, probes),
            }
        )
    return rows


def _cap_of(search: dict, probes: list[dict]) -> int:
    """The cap the search's probes ran under (0: none; runs merged with --from-json may differ)."""
    sizes = {str(size) for size in search.get("probed", {})}
    key = (search["arch"], search["config"])
    caps = (p.get("cap_bytes") or 0 for p in probes if (p["arch"], p["config"]) == key and str(p["size"]) in sizes)
    return next(caps, 0)


def _probe_at(probes, arch, config, size, mmap_threshold=None):
    matches = [
        p
        for p in probes
        if (p["arch"], p["config"], p["size"]) == (arch, config, size)
        and p["ok"]
        and (p.get("mmap_threshold") or 0) == (mmap_threshold or 0)
    ]
    return matches[-1] if matches else None


def _label(arch: str, config: str, mmap_threshold=None) -> str:
    """A row's name: the architecture and configuration, and the malloc setting when not glibc's."""
    return f"{arch} {config}".strip() + (f" (mmap {mmap_threshold / 2**20:g} MiB)" if mmap_threshold else "")


def step_time_series(probes: list[dict]) -> dict[str, list[tuple[float, float]]]:
    series: dict[str, dict[int, float]] = {}
    for probe in probes:
        if probe["ok"]:
            name = _label(probe["arch"], probe["config"], probe.get("mmap_threshold"))
            series.setdefault(name, {})[probe["size"]] = probe["step_s"]
    return {name: sorted(points.items()) for name, points in series.items()}


def speed_pairs(probes: list[dict]) -> list[dict]:
    """Each completed token-merging / TAESD probe against the same configuration without them."""
    pairs = []
    for probe in probes:
        config = ProbeConfig.parse(probe["config"])
        if not probe["ok"] or not (config.tome or config.taesd):
            continue
        base_name = ProbeConfig(config.attention, config.tiling, config.fp8, config.offload).name
        base = _probe_at(probes, probe["arch"], base_name, probe["size"], probe.get("mmap_threshold"))
        if base:
            fast, slow = picture_seconds(probe), picture_seconds(base)
            pairs.append(
                {"arch": probe["arch"], "size": probe["size"], "fast": probe, "base": base, "ratio": fast / slow}
            )
    return pairs


def picture_seconds(probe: dict) -> float:
    return IMAGE_STEPS * probe["step_s"] + probe["decode_s"]


def render_markdown(results, bars, probes, max_png, step_png) -> str:
    lines = ["# Memory and speed: the seed paper's experiment on our engine", ""]
    lines += [
        "Generated by `bench/memory.py` (re-render with `--from-json`). The largest picture each",
        "configuration completes under a hard memory cap, and what a step costs; see the end for how",
        "to read it and how it compares with the seed paper's figure.",
        "",
        *_tiny_warning(results),
        "## What was run",
        "",
    ]
    for run in results:
        meta = run["meta"]
        lines += [
            f"- `{meta['command']}`  ",
            f"  {meta['date']}; {meta['machine']}; torch {meta['torch']}, {meta['threads']} threads; "
            f"architecture **{meta['arch']}** on {meta['device']}; cap {meta['cap_gib']:g} GiB ({meta['cap_kind']}); "
            f"malloc: {meta.get('malloc', 'glibc default')}",
        ]
    lines += ["", "## Largest size under the cap", ""]
    lines += _table(
        [
            "arch",
            "configuration",
            "attention",
            "VAE tiling",
            "FP8",
            "offload",
            "largest size",
            "cap",
            "peak GiB",
            "step s",
            "probes",
            "note",
        ],
        [
            [
                _label(row["arch"], "", row.get("mmap_threshold")),
                f"`{row['config']}`",
                row["attention"],
                row["tiling"],
                row["fp8"],
                row["offload"],
                f"{row['max_size']}x{row['max_size']}" if row["max_size"] else "none",
                f"{row['cap'] / GIB:g} GiB" if row["cap"] else "none",
                _num(row["peak_gib"]),
                _num(row["step_s"]),
                str(row["tried"]),
                row.get("note", ""),
            ]
            for row in bars
        ],
    )
    lines += ["", f"![largest size per configuration]({max_png})", "", "## Seconds per step against size", ""]
    lines += _time_table(probes)
    lines += ["", f"![seconds per step against size]({step_png})", ""]
    pairs = speed_pairs(probes)
    if pairs:
        lines += ["## Token merging and TAESD against the default", ""]
        lines += _table(
            ["arch", "size", "configuration", "step s", "decode s", f"{IMAGE_STEPS}-step picture s", "ratio"],
            [
                row
                for pair in pairs
                for row in (
                    [
                        pair["arch"],
                        str(pair["size"]),
                        f"`{pair['base']['config']}`",
                        _num(pair["base"]["step_s"]),
                        _num(pair["base"]["decode_s"]),
                        _num(picture_seconds(pair["base"])),
                        "1.00",
                    ],
                    [
                        pair["arch"],
                        str(pair["size"]),
                        f"`{pair['fast']['config']}`",
                        _num(pair["fast"]["step_s"]),
                        _num(pair["fast"]["decode_s"]),
                        _num(picture_seconds(pair["fast"])),
                        f"{pair['ratio']:.2f}",
                    ],
                )
            ],
        )
        lines += [""]
    lines += _gpu_section(probes)
    lines += ["## The cap", "", CAP_CHOICE.format(measurement=CAP_MEASUREMENT), ""]
    lines += ["## How to read it", "", HOW_TO_READ.format(steps=IMAGE_STEPS), ""]
    lines += ["## Found while building the bench", "", FINDINGS, ""]
    lines += ["## Against the seed paper", "", *_seed_paper(bars), ""]
    lines += ["## Every probe", ""]
    lines += _table(
        [
            "arch",
            "configuration",
            "size",
            "result",
            "step s",
            "decode s",
            "peak RSS GiB",
            "peak VmData GiB",
            "VmPeak GiB",
            "wall s",
            "load",
        ],
        [
            [
                _label(p["arch"], "", p.get("mmap_threshold")),
                f"`{p['config']}`",
                str(p["size"]),
                _outcome(p),
                _num(p.get("step_s")),
                _num(p.get("decode_s")),
                _num(p.get("peak_rss", 0) / GIB),
                _num(p.get("peak_data", 0) / GIB),
                _num(p.get("peak_vm", 0) / GIB),
                f"{p.get('wall_s', 0):.0f}",
                _num(p.get("load_average")),
            ]
            for p in probes
        ],
    )
    return "\n".join(lines) + "\n"


def _tiny_warning(results: list[dict]) -> list[str]:
    if any(run["meta"]["arch"] != "tiny" for run in results):
        return []
    return [
        "**These are the tiny test model's figures: they show the bench working, not the experiment.**",
        "Its times are tenths of a second and shift with whatever else runs on the machine (the `load`",
        "column below). The SD 1.5 / SDXL runs replace them: see the commands in bench/memory.py.",
        "",
    ]


def _time_table(probes: list[dict]) -> list[str]:
    series = step_time_series(probes)
    if not series:
        return ["No probe completed."]
    sizes = sorted({size for points in series.values() for size, _ in points})
    rows = []
    for name, points in series.items():
        by_size = dict(points)
        rows.append([f"`{name}`"] + [_num(by_size.get(size)) for size in sizes])
    return _table(["configuration (seconds per step)"] + [f"{size}px" for size in sizes], rows)


def _gpu_section(probes: list[dict]) -> list[str]:
    gpu = [p for p in probes if p["ok"] and p.get("peak_vram") is not None]
    if not gpu:
        return []
    plain = {p["size"]: p["step_s"] for p in gpu if p["config"] == "sdp"}
    rows = [
        [
            f"`{p['config']}`",
            str(p["size"]),
            _num(p["peak_vram"] / GIB),
            _num(1 / p["step_s"]),
            _num(plain[p["size"]] / p["step_s"]) if p["size"] in plain else "-",
        ]
        for p in gpu
    ]
    header = ["configuration", "size", "peak VRAM GiB", "it/s", "speed vs sdp (plain diffusers' default)"]
    return ["## GPU: peak VRAM and it/s per mode", "", *_table(header, rows), ""]


def _seed_paper(bars: list[dict]) -> list[str]:
    done = [row for row in bars if row["max_size"]]
    if not done:
        return ["No configuration completed a probe, so there is nothing to compare yet."]
    best = max(done, key=lambda row: row["max_size"])
    default = next((row for row in done if row["config"] in ("sdp+autotile", "sdp")), None)
    text = [
        f"The seed paper's figure has the best optimised fork reaching {SEED_PAPER_SIZE}x{SEED_PAPER_SIZE} "
        "on an 8 GB GPU. Here the best configuration measured is "
        f"`{best['config']}` ({best['arch']}) at {best['max_size']}x{best['max_size']}"
        + (f", the default (`{default['config']}`) at {default['max_size']}x{default['max_size']}." if default else ".")
    ]
    text += [
        "",
        "The two are not the same measure: a GPU's 8 GB holds weights in fp16 and activations only, while",
        "the CPU cap here holds fp32 weights (twice the bytes), the Python process and its libraries as",
        "well. Sizes below the seed paper's on the tiny model mean nothing: only the sd15 / sdxl rows compare.",
    ]
    return text


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _num(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 100 else f"{value:.0f}"


def _outcome(probe: dict) -> str:
    if not probe["ok"]:
        return f"{probe['status']} in {probe.get('phase') or '?'}"
    return "ok (rows split)" if probe.get("rows_split") else "ok"  # batched rows did not fit: one a call
