"""bench/memory.py: configuration names, the largest-size search, the report (table + PNG plots), and
one tiny end-to-end run in child processes under a real memory cap."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from bench import memory_plan as plan
from bench.memory_report import MAX_SIZE_PNG, STEP_TIME_PNG, write_report

ROOT = Path(__file__).resolve().parents[2]


def threshold_probe(limit: int, calls: list[int]):
    """A probe that completes every size up to `limit` and records what it was asked."""

    def probe(size: int) -> plan.Outcome:
        calls.append(size)
        ok = size <= limit
        return plan.Outcome(ok, "ok" if ok else "oom", "" if ok else "step")

    return probe


@pytest.mark.parametrize(
    "name",
    ["sdp", "sdp+tile", "plain+fp8", "sdp+fp8all", "split+tile+fp8", "sdp+autotile+tome0.5+taesd", "sdp+lowvram"],
)
def test_config_names_round_trip(name):
    assert plan.ProbeConfig.parse(name).name == name


def test_config_parse_reads_each_part():
    config = plan.ProbeConfig.parse("sub-quad+fp8+tile+tome0.25")
    assert (config.attention, config.tiling, config.fp8, config.tome, config.taesd) == (
        "sub-quad",
        "Always",
        "unet",
        0.25,
        False,
    )
    assert config.name == "sub-quad+tile+fp8+tome0.25"  # canonical order


@pytest.mark.parametrize("name", ["flash", "sdp+tiled", "sdp+tome", "sdp+tome1.5", "sdp+tomex"])
def test_bad_config_names_are_refused(name):
    with pytest.raises(ValueError, match="configuration"):
        plan.ProbeConfig.parse(name)


def test_offload_configs_need_cuda():
    with pytest.raises(ValueError, match="--device cuda"):
        plan.parse_configs("sdp+medvram", "cpu")
    assert [c.name for c in plan.parse_configs("sdp+medvram", "cuda")] == ["sdp+medvram"]


def test_default_matrix_is_attention_by_tiling_by_fp8_and_offload_on_cuda():
    cpu = plan.default_configs("cpu")
    assert len(cpu) == 20 and len({c.name for c in cpu}) == 20
    assert cpu[0].name == "sdp" and cpu[-1].name == "plain+tile+fp8"
    assert [c.name for c in plan.default_configs("cuda")[20:]] == ["sdp+medvram", "sdp+lowvram"]


def test_sizes_and_candidates():
    assert plan.parse_sizes("1024, 512 512") == [512, 1024]
    with pytest.raises(ValueError, match="multiple of 64"):
        plan.parse_sizes("500")
    with pytest.raises(ValueError, match="whole number"):
        plan.parse_sizes("big")
    assert plan.candidate_sizes(100, 400) == [128, 192, 256, 320, 384]
    with pytest.raises(ValueError, match="no multiple"):
        plan.candidate_sizes(300, 310)


def test_dominance_is_more_tiling_or_fp8_with_the_rest_equal():
    sdp, tiled, fp8 = (plan.ProbeConfig.parse(n) for n in ("sdp", "sdp+tile+fp8", "sdp+fp8"))
    assert tiled.dominates(sdp) and fp8.dominates(sdp) and tiled.dominates(fp8)
    assert not sdp.dominates(fp8)
    assert plan.ProbeConfig.parse("sdp+fp8all").dominates(fp8) and not fp8.dominates(
        plan.ProbeConfig.parse("sdp+fp8all")
    )
    assert not plan.ProbeConfig.parse("split+tile").dominates(sdp)  # another attention backend


@pytest.mark.parametrize("limit", [64, 640, 1088, 2048, 4096])
def test_search_finds_the_largest_size_in_log_probes(limit):
    candidates = plan.candidate_sizes(64, 4096)
    calls: list[int] = []
    result = plan.search_max_size(candidates, threshold_probe(limit, calls))
    assert result.max_size == limit
    assert len(calls) <= math.ceil(math.log2(len(candidates) + 1))
    assert len(set(calls)) == len(calls)  # never the same size twice


def test_search_when_nothing_fits():
    calls: list[int] = []
    result = plan.search_max_size([512, 576, 640], threshold_probe(0, calls))
    assert result.max_size is None and calls == [576, 512]


def test_search_stops_at_a_build_failure_and_at_errors():
    calls = []

    def build_fails(size):
        calls.append(size)
        return plan.Outcome(False, "oom", "build", "weights")

    result = plan.search_max_size(plan.candidate_sizes(64, 1024), build_fails)
    assert result.max_size is None and len(calls) == 1 and "weights alone" in result.note
    broken = plan.search_max_size([64, 128], lambda size: plan.Outcome(False, "error", "step", "TypeError: x"))
    assert broken.max_size is None and broken.note == "error: TypeError: x"


def test_inferred_bounds_save_probes_and_are_confirmed():
    candidates = plan.candidate_sizes(64, 4096)
    calls: list[int] = []
    plain = plan.search_max_size(candidates, threshold_probe(1408, calls))
    evidence = plan.Evidence()
    for size, ok in plain.probed.items():
        evidence.record(plan.ProbeConfig.parse("sdp"), size, ok)
    known = evidence.inferred(plan.ProbeConfig.parse("sdp+tile"))
    assert known[1408] is True and all(ok for ok in known.values())
    calls.clear()
    tiled = plan.search_max_size(candidates, threshold_probe(2048, calls), known)
    assert tiled.max_size == 2048 and min(calls) > 1408  # nothing at or below the inferred pass
    calls.clear()  # an inference that turns out wrong: the configuration is searched on its own probes
    wrong = plan.search_max_size(candidates, threshold_probe(960, calls), {1408: True})
    assert wrong.max_size == 960 and wrong.note == "inferred bound did not hold"
    calls.clear()  # the same, where the answer is the top of what is left below the failed size
    below = plan.search_max_size([512, 576, 640], threshold_probe(576, calls), {640: True})
    assert below.max_size == 576 and below.note == "inferred bound did not hold" and calls[0] == 640


def test_fails_infer_downwards_only():
    evidence = plan.Evidence()
    evidence.record(plan.ProbeConfig.parse("sdp+tile+fp8"), 3072, False)
    assert evidence.inferred(plan.ProbeConfig.parse("sdp")) == {3072: False}
    assert evidence.inferred(plan.ProbeConfig.parse("plain")) == {}


def test_estimate_grows_with_size_and_memory_guess_ranks_backends():
    sdp, plain = plan.ProbeConfig.parse("sdp"), plan.ProbeConfig.parse("plain")
    assert plan.probe_seconds("sd15", sdp, 2048) > 10 * plan.probe_seconds("sd15", sdp, 512)
    assert 10 < plan.step_seconds("sd15", sdp, 512) < 25  # FACTS.md: ~16 s
    assert plan.guess_peak_gib("sd15", plain, 1024) > 16 > plan.guess_peak_gib("sd15", sdp, 1024)
    fp8 = plan.ProbeConfig.parse("sdp+fp8")
    assert plan.guess_peak_gib("sd15", fp8, 1024) < plan.guess_peak_gib("sd15", sdp, 1024)


def _probe(config, size, ok, step=1.0, decode=0.5, arch="sd15"):
    record = {"arch": arch, "config": config, "size": size, "ok": ok, "status": "ok" if ok else "oom"}
    record.update({"step_s": step, "decode_s": decode, "peak_rss": 3 * 2**30} if ok else {"phase": "step"})
    return {**record, "wall_s": 5.0, "peak_data": 2**30, "peak_vm": 2**31}


def _results():
    probes = [
        _probe("sdp", 512, True, 16.0, 23.0),
        _probe("sdp", 1024, True, 100.0, 106.0),
        _probe("sdp", 2048, False),
        _probe("plain", 512, True, 21.0, 23.0),
        _probe("plain", 768, False),
        _probe("sdp+tome0.5+taesd", 1024, True, 50.0, 2.0),
    ]
    searches = [
        {"config": "sdp", "max_size": 1024, "note": "", "probed": {"512": True, "1024": True, "2048": False}},
        {"config": "plain", "max_size": 512, "note": "", "probed": {"512": True, "768": False}},
        {"config": "sdp+fp8", "max_size": None, "note": "not available yet (x)", "probed": {}},
    ]
    meta = {
        "command": "venv/bin/python bench/memory.py", "date": "2026-11-30 09:00 UTC", "machine": "test machine",
        "arch": "sd15", "device": "cpu", "cap_gib": 8.0, "cap_kind": "data", "torch": "2.13.0", "threads": 2,
    }  # fmt: skip
    return {"meta": meta, "probes": probes, "searches": searches}


def test_report_writes_table_and_plots(tmp_path):
    out = tmp_path / "docs" / "MEMORY.md"
    write_report([_results()], out)
    text = out.read_text()
    assert "| sd15 | `sdp` | sdp | Never | no | none | 1024x1024 | none | 3.00 | 100 | 3 |  |" in text
    assert "| sd15 | `plain` | plain | Never | no | none | 512x512 |" in text
    assert "| sd15 | `sdp+fp8` | sdp | Never | UNet | none | none | none | - | - | 0 | not available yet (x) |" in text
    # the speed pair: 20 x 50 + 2 = 1002 s against 20 x 100 + 106 = 2106 s
    assert "| sd15 | 1024 | `sdp+tome0.5+taesd` | 50.00 | 2.00 | 1002 | 0.48 |" in text
    assert "| `sd15 sdp` | 16.00 | 100 |" in text  # seconds per step at 512 and 1024
    assert f"images/{MAX_SIZE_PNG}" in text and "1408x1408" in text
    bars = Image.open(out.parent / "images" / MAX_SIZE_PNG).convert("RGB")
    steps = Image.open(out.parent / "images" / STEP_TIME_PNG).convert("RGB")
    assert bars.width >= 800 and steps.size == (900, 560)
    # each bar's length is proportional to its size: count the first bar's (blue) and the second's
    # (orange) pixels along their rows
    blue = [x for x in range(bars.width) if bars.getpixel((x, 50 + 11)) == (31, 119, 180)]
    orange = [x for x in range(bars.width) if bars.getpixel((x, 50 + 22 + 11)) == (255, 127, 14)]
    assert len(blue) == pytest.approx(2 * len(orange), abs=2)
    colours = steps.getcolors(maxcolors=1 << 20)
    coloured = sum(count for count, px in colours if px not in ((255, 255, 255), (0, 0, 0), (200, 200, 200)))
    assert coloured > 200  # lines and dots were drawn


def test_from_json_rerenders_without_running(tmp_path):
    results = tmp_path / "r.json"
    results.write_text(json.dumps(_results()))
    out = tmp_path / "MEMORY.md"
    done = subprocess.run(
        [sys.executable, "bench/memory.py", "--from-json", str(results), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1024x1024" in out.read_text()


def test_tiny_end_to_end_under_a_real_cap(tmp_path):
    """Two child processes under a 1 GiB RLIMIT_DATA: 64 px completes; 2048 px with plain attention
    (a 2048-token-per-side score matrix of gigabytes) runs out of memory in the step, fast."""
    out, raw = tmp_path / "MEMORY.md", tmp_path / "r.json"
    done = subprocess.run(
        [
            sys.executable, "bench/memory.py", "--tiny", "--cap-gib", "1", "--configs", "plain",
            "--sizes", "64,2048", "--out", str(out), "--results-json", str(raw),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "estimated wall time" in done.stdout
    results = json.loads(raw.read_text())
    small, big = results["probes"]
    assert small["ok"] and small["image_shape"] == [1, 3, 64, 64]
    assert 0 < small["peak_rss"] < 2**30 and small["step_s"] > 0 and small["decode_s"] > 0
    assert not big["ok"] and big["status"] == "oom" and big["phase"] == "step"
    assert results["searches"][0]["max_size"] == 64
    assert "| tiny | `plain` | plain | Never | no | none | 64x64 |" in out.read_text()


def test_runs_with_another_malloc_setting_get_their_own_rows(tmp_path):
    default, tuned = _results(), _results()
    tuned["meta"]["malloc"] = "mmap threshold 1 MiB"
    for record in tuned["probes"] + tuned["searches"]:
        record["mmap_threshold"] = 2**20
    tuned["probes"][1]["step_s"] = 90.0  # the tuned run's own 1024 px step
    out = tmp_path / "MEMORY.md"
    write_report([default, tuned], out)
    text = out.read_text()
    assert "malloc: glibc default" in text and "malloc: mmap threshold 1 MiB" in text
    assert "| sd15 (mmap 1 MiB) | `sdp` | sdp | Never | no | none | 1024x1024 | none | 3.00 | 90.00 |" in text
    assert "| sd15 | `sdp` | sdp | Never | no | none | 1024x1024 | none | 3.00 | 100 |" in text


@pytest.mark.parametrize("mode", ["medvram", "lowvram"])
def test_offload_modes_install_the_engines_hooks_and_keep_the_result(mode):
    """The CUDA-only configurations, run here with the onload device = the CPU: the engine's offload
    hooks are installed and the step and decode give the same numbers as without them."""
    import torch

    from bench.memory_models import build_parts, prepare_parts
    from modules.memory.offload import offload_mode_of

    cpu = torch.device("cpu")
    plain = build_parts("tiny", "sdp", cpu)
    prepare_parts(plain, "sdp", cpu)
    offloaded = build_parts("tiny", f"sdp+{mode}", cpu)
    prepare_parts(offloaded, f"sdp+{mode}", cpu)
    assert offload_mode_of(offloaded.offload_holder) == mode
    expected, got = plain.step(64), offloaded.step(64)
    assert torch.allclose(got, expected, atol=1e-5)
    pixels = offloaded.decode(got, f"sdp+{mode}")
    assert pixels.shape == (1, 3, 64, 64)
    assert torch.allclose(pixels, plain.decode(expected, "sdp"), atol=1e-4)
