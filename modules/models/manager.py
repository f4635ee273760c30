"""Which checkpoint is loaded, and switching between them (one in memory at a time)."""

import threading
from pathlib import Path

from modules.models.discovery import CheckpointInfo, find_checkpoints, resolve_checkpoint
from modules.models.hashing import HashCache


class NoCheckpointError(LookupError):
    """No checkpoint anywhere: the message says where to put one."""


class UnknownCheckpointError(LookupError):
    pass


class ModelManager:
    def __init__(
        self,
        checkpoint_dirs: tuple[Path, ...],
        cache_dir: Path,
        policy_factory,
        preferred: str | None = None,
        bundled: tuple[Path, ...] = (),
        on_loaded=None,
    ):
        self._dirs = checkpoint_dirs
        self._bundled = bundled
        self._cache_dir = cache_dir
        self._policy_factory = policy_factory  # called on first load: importing torch is not free
        self._policy = None
        self._preferred = preferred
        self._hashes = HashCache(cache_dir / "hashes.json")
        self._lock = threading.RLock()
        self._loaded = None
        self._on_loaded = on_loaded or (lambda model: None)

    # --- listing -------------------------------------------------------------------
    def checkpoints(self) -> list[CheckpointInfo]:
        return find_checkpoints(self._dirs, self._bundled)

    def cached_short_hash(self, info: CheckpointInfo) -> str | None:
        value = self._hashes.cached_sha256(info.path)
        return value[:10] if value else None

    def cached_sha256(self, info: CheckpointInfo) -> str | None:
        return self._hashes.cached_sha256(info.path)

    def title(self, info: CheckpointInfo) -> str:
        return info.title(self.cached_short_hash(info))

    @property
    def loaded(self):
        return self._loaded

    def default_checkpoint(self) -> CheckpointInfo:
        found = self.checkpoints()
        if self._preferred:
            info = resolve_checkpoint(self._preferred, found)
            if info is None:
                raise UnknownCheckpointError(f"--ckpt {self._preferred!r} was not found")
            return info
        if not found:
            where = " or ".join(str(d) for d in self._dirs)
            raise NoCheckpointError(
                f"No checkpoint found. Put an SD 1.x .safetensors file or a diffusers model folder in {where}, "
                "then press the refresh button next to the checkpoint list."
            )
        users_own = [info for info in found if not info.is_demo]
        return (users_own or found)[0]

    def resolve(self, wanted: str | None) -> CheckpointInfo:
        if not wanted:
            return self._loaded.info if self._loaded else self.default_checkpoint()
        info = resolve_checkpoint(wanted, self.checkpoints())
        if info is None:
            raise UnknownCheckpointError(f"checkpoint {wanted!r} not found in {', '.join(map(str, self._dirs))}")
        return info

    # --- loading -------------------------------------------------------------------
    def get(self, wanted: str | None = None):
        """The loaded model for `wanted` (None: the current or default one), loading if needed."""
        from modules.models.loading import load_checkpoint

        with self._lock:
            info = self.resolve(wanted)
            if self._loaded is not None and self._loaded.info.path == info.path:
                return self._loaded
            self._loaded = None  # drop the old weights before reading the new ones
            if self._policy is None:
                self._policy = self._policy_factory()
            sha256 = self._hashes.sha256(info.path)
            self._loaded = load_checkpoint(info, sha256, self._policy, self._cache_dir)
            self._on_loaded(self._loaded)
            return self._loaded
