"""Which family each listed checkpoint is, read from headers and configs only (no weights), kept per
file version so listing the checkpoints stays cheap. A pickled file is not opened for this (reading
one means unpickling all of it): its family is known once it has been loaded."""

import threading

from modules.models import families
from modules.models.discovery import CheckpointInfo


class FamilyIndex:
    def __init__(self):
        self._lock = threading.Lock()
        self._known: dict[tuple, families.Family | None] = {}

    def family_of(self, info: CheckpointInfo) -> "families.Family | None":
        """The checkpoint's family, or None when it cannot be told without loading it."""
        key = _version(info)
        if key is None:
            return None
        with self._lock:
            if key in self._known:
                return self._known[key]
        family = _read_family(info)
        with self._lock:
            self._known[key] = family
        return family

    def remember(self, info: CheckpointInfo, family: families.Family) -> None:
        """A loaded model's family (the only way a pickled file's is learned)."""
        key = _version(info)
        if key is not None:
            with self._lock:
                self._known[key] = family


def _version(info: CheckpointInfo) -> tuple | None:
    target = info.path / "model_index.json" if info.is_diffusers_folder else info.path
    try:
        stat = target.stat()
    except OSError:
        return None
    return (info.path, stat.st_mtime_ns, stat.st_size)


def _read_family(info: CheckpointInfo) -> "families.Family | None":
    from modules.models.loading import CheckpointLoadError, folder_family, read_family_layout

    try:
        if info.is_diffusers_folder:
            return folder_family(info.path)
        if info.path.suffix.lower() != ".safetensors":
            return None
        return families.detect(read_family_layout(info.path)[0])
    except (CheckpointLoadError, families.UnknownFamilyError, OSError):
        return None
