"""The seed paper's memory experiment on our engine: for each configuration (attention backend x VAE
tiling x FP8 weight; the offload modes on a GPU), the largest square picture whose one denoising step
(the CFG call: batch 2, 77-token context) plus VAE decode completes under a hard memory cap, and the
seconds per step against size. Every probe is a fresh child process (bench/memory_child.py) under
the cap; the results go to a JSON file and docs/MEMORY.md with two PNG plots.

    venv/bin/python bench/memory.py --tiny --cap-gib 1 --min 64 --max 512          # a minute
    venv/bin/python bench/memory.py --cap-gib 8 --configs sdp+autotile --sizes 2048  # SD 1.5, one probe
    venv/bin/python bench/memory.py --sdxl --cap-gib 8 --configs sdp+autotile+fp8 --sizes 1024
    venv/bin/python bench/memory.py --from-json a.json b.json --out docs/MEMORY.md  # re-render only

Architectures (random weights, carried configs): --full-size / --arch sd15 (default: SD 1.5),
--sdxl, --tiny (the tests' tiny SD model: for trying the script). --dry-run prints the plan and the
estimated wall time and stops; the estimate is printed before every real run too.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import memory_plan as plan  # noqa: E402
from bench.memory_report import write_report  # noqa: E402

CHILD = Path(__file__).with_name("memory_child.py")
OPTIONAL_MODULES = {"fp8": "modules.models.fp8", "tome": "modules.sampling.token_merging"}
DEFAULT_BOUNDS = {"tiny": (64, 1024), "sd15": (256, 3072), "sdxl": (512, 2048)}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arch = parser.add_mutually_exclusive_group()
    arch.add_argument("--arch", choices=plan.ARCHES, default="sd15")
    arch.add_argument("--full-size", dest="arch", action="store_const", const="sd15", help="SD 1.5 (default)")
    arch.add_argument("--tiny", dest="arch", action="store_const", const="tiny", help="the tests' tiny SD model")
    arch.add_argument("--sdxl", dest="arch", action="store_const", const="sdxl", help="SDXL's architecture")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--cap-gib", type=float, default=8.0, help="memory cap per probe (0: none)")
    parser.add_argument("--cap-kind", choices=("data", "as"), default="data", help="CPU rlimit: RLIMIT_DATA or _AS")
    parser.add_argument("--configs", help="comma-separated, e.g. sdp,sdp+tile,split+fp8 (default: the matrix)")
    parser.add_argument("--sizes", help="probe these sizes (ascending, stop at the first failure) instead of a search")
    parser.add_argument("--min", type=int, help="search lower bound (px)")
    parser.add_argument("--max", type=int, help="search upper bound (px)")
    parser.add_argument("--step", type=int, default=plan.SIZE_STEP, help="search grid (multiple of 64)")
    parser.add_argument(
        "--mmap-threshold-mib",
        type=float,
        default=0,
        help="glibc M_MMAP_THRESHOLD in the probes (0: glibc's default); 1 cuts FP8 weight's heap fragmentation",
    )
    parser.add_argument("--steps-timing", help="also time every configuration at these sizes")
    parser.add_argument("--no-infer", action="store_true", help="do not bound searches by dominated configurations")
    parser.add_argument("--warmup", choices=("auto", "small", "same", "none"), default="auto")
    parser.add_argument("--probe-timeout", type=float, default=None, help="seconds; a probe over it counts as failed")
    parser.add_argument("--out", default=str(ROOT / "docs" / "MEMORY.md"))
    parser.add_argument("--results-json", help="write the raw results here")
    parser.add_argument("--from-json", nargs="+", help="re-render --out from these results files; runs nothing")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and its estimated time only")
    args = parser.parse_args(argv)
    try:
        args.config_list = plan.parse_configs(args.configs, args.device)
        args.size_list = plan.parse_sizes(args.sizes)
        args.timing_list = plan.parse_sizes(args.steps_timing)
        low, high = DEFAULT_BOUNDS[args.arch]
        args.candidates = plan.candidate_sizes(args.min or low, args.max or high, args.step)
    except ValueError as error:
        parser.error(str(error))
    return args


def missing_features(config: plan.ProbeConfig) -> str:
    """Why this configuration cannot run yet ("" when it can): a module another helper writes."""
    import importlib.util

    for feature, module in OPTIONAL_MODULES.items():
        wanted = config.fp8 if feature == "fp8" else bool(config.tome)
        if wanted and importlib.util.find_spec(module) is None:
            return f"not available yet ({module} is missing)"
    return ""


class Runner:
    """Spawns one child per probe and keeps every probe's record."""

    def __init__(self, args: argparse.Namespace, log=print, on_probe=None):
        self.args, self.log, self.on_probe = args, log, on_probe
        self.probes: list[dict] = []
        self.cap_bytes = int(args.cap_gib * 2**30)

    def warmup(self) -> str:
        if self.args.warmup != "auto":
            return self.args.warmup
        return "same" if self.args.arch == "tiny" else "small"

    def probe(self, config: plan.ProbeConfig, size: int, purpose: str) -> plan.Outcome:
        spec = {
            "arch": self.args.arch,
            "config": config.name,
            "size": size,
            "device": self.args.device,
            "cap_bytes": self.cap_bytes,
            "cap_kind": self.args.cap_kind,
            "warmup": self.warmup(),
            "mmap_threshold": int(self.args.mmap_threshold_mib * 2**20),
        }
        record = {**spec, "purpose": purpose}
        with tempfile.TemporaryDirectory(prefix="memory-probe-") as folder:
            result_path = Path(folder) / "result.json"
            start = time.perf_counter()
            try:
                done = subprocess.run(
                    [sys.executable, str(CHILD), json.dumps(spec), str(result_path)],
                    capture_output=True,
                    text=True,
                    timeout=self.args.probe_timeout,
                    cwd=ROOT,
                )
                returncode, stderr = done.returncode, done.stderr
            except subprocess.TimeoutExpired:
                returncode, stderr = None, f"over --probe-timeout {self.args.probe_timeout} s"
            record["wall_s"] = time.perf_counter() - start
            if result_path.is_file():
                record.update(json.loads(result_path.read_text()))
            else:  # killed (the kernel, an abort in C++ code) or timed out before writing its result
                reason = "timed out" if returncode is None else f"exit status {returncode}"
                record.update(ok=False, status="oom", phase="", message=f"{reason}: {stderr.strip()[-300:]}")
        self.probes.append(record)
        self.log(_describe(record))
        if self.on_probe is not None:
            self.on_probe()
        return plan.Outcome(record["ok"], record["status"], record.get("phase", ""), record.get("message", ""))


def _describe(record: dict) -> str:
    head = f"  {record['config']:<24} {record['size']:>5}px "
    if record["ok"]:
        peak = record.get("peak_vram") or record.get("peak_rss", 0)
        return (
            head
            + f"ok    step {record['step_s']:.2f} s, decode {record['decode_s']:.2f} s, peak {peak / 2**30:.2f} GiB "
            f"({record['wall_s']:.0f} s)"
        )
    where = record.get("phase") or "?"
    return head + f"{record['status']:<5} in {where} ({record['wall_s']:.0f} s): {record.get('message', '')[:80]}"


def run_experiment(args: argparse.Namespace, log=print) -> dict:
    """Search (or probe the given sizes) every configuration; the results so far are written to
    --results-json after every probe, so a long run stopped half-way keeps what it measured."""
    searches: list[dict] = []
    results = {"meta": describe_run(args), "probes": [], "searches": searches}

    def save():
        if args.results_json:
            Path(args.results_json).write_text(json.dumps(results, indent=1))

    runner = Runner(args, log, on_probe=save)
    results["probes"] = runner.probes
    evidence = plan.Evidence()
    for config in args.config_list:
        missing = missing_features(config)
        if missing:
            log(f"{config.name}: {missing}")
            searches.append(
                {"config": config.name, "max_size": None, "note": missing, "probed": {}, "mmap_threshold": 0}
            )
            continue
        log(f"{config.name}:")

        def probe(size, config=config, purpose="search"):
            outcome = runner.probe(config, size, purpose)
            if outcome.status in ("ok", "oom"):
                evidence.record(config, size, outcome.ok)
            return outcome

        if args.size_list:
            result = _probe_sizes(args.size_list, probe)
        else:
            known = {} if args.no_infer else evidence.inferred(config)
            result = plan.search_max_size(args.candidates, probe, known)
        searches.append(
            {
                "config": config.name,
                "max_size": result.max_size,
                "note": result.note,
                "probed": {str(size): ok for size, ok in sorted(result.probed.items())},
                "explicit_sizes": bool(args.size_list),
                "mmap_threshold": int(args.mmap_threshold_mib * 2**20),
            }
        )
        for size in args.timing_list:
            done = any(p["config"] == config.name and p["size"] == size and p["ok"] for p in runner.probes)
            too_big = result.max_size is not None and size > result.max_size and size in result.probed
            if not done and not too_big:
                probe(size, purpose="timing")
        save()
    return results


def _probe_sizes(sizes: list[int], probe) -> plan.SearchResult:
    """Explicit sizes, ascending, stopping at the first that does not complete."""
    result = plan.SearchResult(None)
    for size in sizes:
        outcome = probe(size)
        if outcome.status in ("error", "unavailable"):
            result.note = f"{outcome.status}: {outcome.message}"
            break
        result.probed[size] = outcome.ok
        if not outcome.ok:
            break
        result.max_size = size
    return result


def describe_run(args: argparse.Namespace) -> dict:
    import torch

    return {
        "command": " ".join(["venv/bin/python", os.path.relpath(Path(sys.argv[0]).resolve(), ROOT), *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_description(args.device),
        "arch": args.arch,
        "device": args.device,
        "cap_gib": args.cap_gib,
        "cap_kind": args.cap_kind if args.device == "cpu" else "per-process memory fraction",
        "malloc": f"mmap threshold {args.mmap_threshold_mib:g} MiB" if args.mmap_threshold_mib else "glibc default",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def machine_description(device: str) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    text = f"{cpu}, {os.cpu_count()} cores, {ram:.0f} GiB RAM, Linux {platform.release()}"
    if device == "cuda":
        import torch

        props = torch.cuda.get_device_properties(0)
        text += f"; GPU {props.name}, {props.total_memory / 2**30:.0f} GiB"
    return text


def estimate_seconds(args: argparse.Namespace) -> float:
    """Rough wall time of the whole run (memory_plan.COST), printed before it starts."""
    total = 0.0
    cap = args.cap_gib or float("inf")
    for config in args.config_list:
        if missing_features(config):
            continue

        def fits(size, config=config):
            return plan.guess_peak_gib(args.arch, config, size) <= cap

        if args.size_list:
            sizes = [s for s in args.size_list if fits(s)]
            sizes += [s for s in args.size_list if not fits(s)][:1]
            total += sum(plan.probe_seconds(args.arch, config, s, fits(s)) for s in sizes)
        else:
            total += plan.estimate_search_seconds(args.arch, config, args.candidates, fits)
        total += sum(plan.probe_seconds(args.arch, config, s) for s in args.timing_list if fits(s))
    return total


def main(argv=None) -> None:
    args = parse_args(argv)
    out = Path(args.out)
    if args.from_json:
        results = [json.loads(Path(path).read_text()) for path in args.from_json]
        write_report(results, out)
        print(f"wrote {out}")
        return
    seconds = estimate_seconds(args)
    names = ", ".join(config.name for config in args.config_list)
    what = f"sizes {args.size_list}" if args.size_list else f"search {args.candidates[0]}..{args.candidates[-1]}"
    print(f"{args.arch} on {args.device}, cap {args.cap_gib:g} GiB; {len(args.config_list)} configurations ({names})")
    print(f"{what}; timing sizes {args.timing_list or 'none'}")
    print(f"estimated wall time: about {seconds / 60:.1f} min (rough: memory_plan.COST, this 2-core CPU)")
    if args.dry_run:
        return
    results = run_experiment(args)
    if args.results_json:
        Path(args.results_json).write_text(json.dumps(results, indent=1))
        print(f"wrote {args.results_json}")
    write_report([results], out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
