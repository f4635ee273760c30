"""Device, dtype and memory policy: the one place that decides where model parts live and run."""

from modules.memory.device_policy import DevicePolicy, prepare_compute_thread

__all__ = ["DevicePolicy", "prepare_compute_thread"]
