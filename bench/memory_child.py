"""One probe of bench/memory.py, in its own process: under a hard memory cap, build the architecture
with random weights, run one CFG denoising step at SIZE x SIZE and then the VAE decode, and write
what happened (times, peak memory, or where it ran out) as JSON.

    venv/bin/python bench/memory_child.py '<spec json>' RESULT.json

The cap is set before torch is imported, so it covers everything the process maps. On the CPU it is
an rlimit (RLIMIT_DATA by default: see docs/MEMORY.md for why not RLIMIT_AS); on CUDA
torch.cuda.set_per_process_memory_fraction.
"""

import json
import os
import resource
import sys
import threading
import time
import traceback
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modules.memory.process_memory import status_bytes  # noqa: E402 - needs the repo on sys.path; imports no torch

CAP_LIMITS = {"data": resource.RLIMIT_DATA, "as": resource.RLIMIT_AS}
OOM_WORDS = ("can't allocate memory", "cannot allocate memory", "out of memory", "not enough memory", "bad_alloc")


class PeakWatcher:
    """Polls /proc/self/status: the kernel keeps peak RSS (VmHWM) and peak virtual size (VmPeak)
    but no peak of VmData (what RLIMIT_DATA counts), so that one is sampled."""

    def __init__(self, interval: float = 0.01):
        self.interval, self.peak_data = interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.is_set():
            self.peak_data = max(self.peak_data, status_bytes("VmData"))
            self._stop.wait(self.interval)


def set_cpu_cap(cap_bytes: int, kind: str) -> None:
    if cap_bytes:
        resource.setrlimit(CAP_LIMITS[kind], (cap_bytes, cap_bytes))


def set_mmap_threshold(threshold: int) -> None:
    """glibc: allocations from `threshold` bytes up get their own mmap, returned to the system when
    freed (and the threshold stops adapting upwards), so memory freed between layers does not stay
    in the heap as fragments. What MALLOC_MMAP_THRESHOLD_ does, set from inside the process."""
    import ctypes

    m_mmap_threshold = -3
    if threshold and ctypes.CDLL("libc.so.6").mallopt(m_mmap_threshold, int(threshold)) != 1:
        raise OSError(f"mallopt(M_MMAP_THRESHOLD, {threshold}) refused")


def is_oom(error: BaseException) -> bool:
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return True
    return isinstance(error, RuntimeError) and any(word in str(error).lower() for word in OOM_WORDS)


def run(spec: dict) -> dict:
    """The probe itself; returns the result record (never raises for a failed probe)."""
    result = {"ok": False, "status": "error", "phase": "build", "message": ""}
    set_mmap_threshold(int(spec.get("mmap_threshold") or 0))
    if spec["device"] == "cpu":
        set_cpu_cap(int(spec.get("cap_bytes") or 0), spec.get("cap_kind", "data"))
    watcher = PeakWatcher()
    with watcher:
        try:
            _probe(spec, result)
            result.update(ok=True, status="ok", phase="")
        except Exception as error:  # noqa: BLE001 - every failure is reported, classified
            result["status"] = "unavailable" if isinstance(error, ModuleNotFoundError) else "error"
            result["status"] = "oom" if is_oom(error) else result["status"]
            result["message"] = f"{type(error).__name__}: {str(error)[:400]}"
            if result["status"] == "error":
                result["traceback"] = traceback.format_exc()[-2000:]
    result.update(peak_rss=status_bytes("VmHWM"), peak_vm=status_bytes("VmPeak"), peak_data=watcher.peak_data)
    result["load_average"] = os.getloadavg()[0]  # other processes' share of the CPU skews the times
    return result


def _probe(spec: dict, result: dict) -> None:
    import torch

    from bench.memory_models import build_parts, prepare_parts

    device = torch.device(spec["device"])
    if device.type == "cuda" and spec.get("cap_bytes"):
        total = torch.cuda.get_device_properties(device).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, spec["cap_bytes"] / total), device)
    start = time.perf_counter()
    parts = build_parts(spec["arch"], spec["config"], device)
    prepare_parts(parts, spec["config"], device)
    result["build_s"] = time.perf_counter() - start
    result["resident_bytes"] = parts.resident_bytes()
    result["phase"] = "step"
    warmup = spec.get("warmup", "small")
    if warmup != "none":  # the first call at a shape pays for kernel set-up: keep it out of the timing
        parts.step(spec["size"] if warmup == "same" else 64)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    latents = parts.step(spec["size"])
    _sync(device)
    result["step_s"] = time.perf_counter() - start
    result["rows_split"] = getattr(parts, "rows_split", False)  # the batched call did not fit: one row a call
    result["step_peak_rss"] = status_bytes("VmHWM")
    result["phase"] = "decode"
    start = time.perf_counter()
    pixels = parts.decode(latents, spec["config"])
    _sync(device)
    result["decode_s"] = time.perf_counter() - start
    result["image_shape"] = list(pixels.shape)
    if device.type == "cuda":
        result["peak_vram"] = torch.cuda.max_memory_allocated(device)
        result["peak_vram_reserved"] = torch.cuda.max_memory_reserved(device)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    spec, result_path = json.loads(sys.argv[1]), Path(sys.argv[2])
    result = run(spec)
    result_path.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
