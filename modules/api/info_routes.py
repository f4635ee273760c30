"""Read-only /sdapi/v1 routes in A1111's shapes: command-line flags, memory, and the lists of
upscalers, VAEs, hypernetworks, face restorers and RealESRGAN models (empty where we have none)."""

import os
from pathlib import PurePath
from typing import Any

from fastapi import APIRouter

from modules.api.safety import FiniteJsonRoute, describe
from modules.engine import Engine
from modules.processing.upscalers import LATENT_UPSCALERS

# Flags whose value is a secret (e.g. --api-auth user:password): listed, never shown.
SECRET_MARKERS = ("auth", "password", "secret", "token")
HIDDEN = "<hidden>"


def build_info_router(engine: Engine) -> APIRouter:
    router = APIRouter(tags=["sdapi"], route_class=FiniteJsonRoute)

    @router.get("/cmd-flags")
    def cmd_flags() -> dict[str, Any]:
        return {key: _shown_flag(key, value) for key, value in sorted(vars(engine.flags).items())}

    @router.get("/memory")
    def memory() -> dict[str, Any]:
        from modules.attention import backend_for

        # A1111's shape plus "attention" (the backend every loaded model runs with), "policy" (offload
        # mode, device, dtypes) and "ledger" (every loaded part: owner, kind, component, bytes, device).
        return {"ram": ram_usage(), "cuda": cuda_usage(), "attention": backend_for(engine.flags).describe(),
                "policy": engine.memory.describe(), "ledger": engine.memory.ledger()}  # fmt: skip

    @router.get("/upscalers")
    def upscalers() -> list[dict[str, Any]]:
        # A1111's shape: the plain resizers (scale 4, as it reports them), then each model file
        # found, with its path relative to models/ (never the server's absolute path).
        from modules.upscaling import BUILTIN_UPSCALERS

        listed = [
            {"name": name, "model_name": None, "model_path": None, "model_url": None, "scale": 4}
            for name in BUILTIN_UPSCALERS
        ]
        registry = engine.upscalers
        for model in registry.models():
            path = model.file.relative_to(registry.models_dir)
            listed.append({"name": model.name, "model_name": model.architecture, "model_path": path,
                           "model_url": None, "scale": model.scale})  # fmt: skip
        return listed

    @router.get("/latent-upscale-modes")
    def latent_upscale_modes() -> list[dict[str, str]]:
        return [{"name": name} for name in LATENT_UPSCALERS]

    @router.get("/sd-vae")
    def sd_vae() -> list[dict[str, str]]:
        # A1111's shape; "filename" relative to the models folder where the file is below it, never
        # another absolute server path (a --vae-dir file: its name in that folder).
        return [{"model_name": info.name, "filename": _shown_path(info.path, engine.paths.models_dir, info.name)}
                for info in engine.vaes.listed()]  # fmt: skip

    # Not supported yet: A1111's clients get the empty lists they handle.
    for path in ("/hypernetworks", "/face-restorers", "/realesrgan-models"):
        router.add_api_route(path, _empty_list, methods=["GET"])

    return router


def _shown_path(path, models_dir, name: str) -> str:
    try:
        return path.relative_to(models_dir.resolve()).as_posix()
    except ValueError:
        return name


def _empty_list() -> list:
    return []


def _shown_flag(key: str, value: Any) -> Any:
    if any(marker in key.lower() for marker in SECRET_MARKERS):
        return HIDDEN if value else None
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, list | tuple):
        return [str(item) if isinstance(item, PurePath) else item for item in value]
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def ram_usage() -> dict[str, Any]:
    """A1111's shape: `used` is this process's resident memory, `free` is total minus that."""
    try:
        import psutil

        rss = psutil.Process(os.getpid()).memory_info().rss
        total = psutil.virtual_memory().total
    except ImportError:
        rss, total = _proc_rss(), _proc_total()
    except Exception as error:  # noqa: BLE001 - a report, never a failed request
        return {"error": describe(error)}
    return {"free": total - rss, "used": rss, "total": total}


def _proc_rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _proc_total() -> int:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def cuda_usage() -> dict[str, Any]:
    """A1111's shape when CUDA is there, {"error": ...} otherwise. torch is imported here, on
    request, never at start-up."""
    try:
        import torch

        if not torch.cuda.is_available():
            return {"error": "unavailable"}
        free, total = torch.cuda.mem_get_info()
        stats = torch.cuda.memory_stats()
    except Exception as error:  # noqa: BLE001 - a report, never a failed request
        return {"error": describe(error)}

    def pair(name: str) -> dict[str, int]:
        return {"current": stats.get(f"{name}.all.current", 0), "peak": stats.get(f"{name}.all.peak", 0)}

    return {
        "system": {"free": free, "used": total - free, "total": total},
        "active": pair("active_bytes"),
        "allocated": pair("allocated_bytes"),
        "reserved": pair("reserved_bytes"),
        "inactive": pair("inactive_split_bytes"),
        "events": {"retries": stats.get("num_alloc_retries", 0), "oom": stats.get("num_ooms", 0)},
    }
