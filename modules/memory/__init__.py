"""Device, dtype and memory policy: the one place that decides where model parts live and run.

`MemoryManager` (manager.py) is one per engine; `DevicePolicy` (device_policy.py) its decisions.
Names are imported on first use: device_policy imports torch, which the page does not wait for."""

_LAZY = {
    "DevicePolicy": "modules.memory.device_policy",
    "prepare_compute_thread": "modules.memory.device_policy",
    "MemoryManager": "modules.memory.manager",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'modules.memory' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
