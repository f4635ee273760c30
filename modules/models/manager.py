"""Which checkpoint is loaded, and switching between them.

Names are resolved only among the listed checkpoints (see discovery.resolve_checkpoint). A
switch reads the new model while the old one stays loaded, and replaces it only once the new
one has loaded: a file that fails to load leaves the app as it was (the issue asks for exactly
this). The price is that both models are in memory during a switch: an SD 1.5 model is about
2 GB more at peak in fp16, 4 GB in fp32. A1111 too reads the new weights while the old model is
loaded, and restores the previous checkpoint when loading fails.

With the settings passed in (A1111's "Maximum number of checkpoints loaded at the same time" and
"Checkpoints to cache in RAM") more models stay loaded, or keep their weights in RAM once they
leave; at the defaults (1 and 0) exactly one model is resident and nothing is cached.
"""

import threading
from collections import OrderedDict
from pathlib import Path

from modules.models.discovery import (
    CheckpointInfo,
    checkpoint_at,
    describe_unknown,
    find_checkpoints,
    resolve_checkpoint,
)
from modules.models.family_index import FamilyIndex
from modules.models.hashing import HashCache


class NoCheckpointError(LookupError):
    """No checkpoint anywhere: the message says where to put one."""


class UnknownCheckpointError(LookupError, ValueError):
    """A name that matches no listed checkpoint. Also a ValueError: it is a bad value in a request,
    and request handlers answer those with 422 before anything is queued."""


class ModelManager:
    def __init__(
        self,
        checkpoint_dirs: tuple[Path, ...],
        cache_dir: Path,
        policy_factory,
        preferred: str | None = None,
        bundled: tuple[Path, ...] = (),
        on_loaded=None,
        loader=None,
        settings=None,
        memory=None,
    ):
        self._dirs = checkpoint_dirs
        self._bundled = bundled
        self._cache_dir = cache_dir
        self._policy_factory = policy_factory  # called on first load: importing torch is not free
        # The engine's MemoryManager (modules/memory): told of every load, unload and RAM-cache move,
        # it places each loaded model's parts (offload mode, --use-cpu). None: all on the policy's device.
        self._memory = memory
        self._policy = None
        self._preferred = preferred
        # `--ckpt` is typed by the user who starts the app, so it may be a path outside the model
        # folders; that one file (or diffusers folder) is then listed like a bundled model.
        self._preferred_path = checkpoint_at(Path(preferred)) if preferred else None
        self._hashes = HashCache(cache_dir / "hashes.json")
        self._families = FamilyIndex()
        self._lock = threading.RLock()
        self._settings = settings  # read on each switch: sd_checkpoints_limit, sd_checkpoint_cache
        # Loaded models by path, least recently used first: the last one is the current model.
        self._resident: OrderedDict = OrderedDict()
        # Models that left, kept in RAM (CPU) for a fast switch back, least recently used first.
        self._ram_cache: OrderedDict = OrderedDict()
        # Called with each model get() hands out (engine.vaes puts a job's VAE on a refiner).
        self.on_handout = None
        self._on_loaded = on_loaded or (lambda model: None)
        # (info, sha256, policy, cache_dir) -> LoadedModel; a test may wrap it to hold a load midway.
        self.loader = loader
        # What is being read now, and why the last load failed: the UI says both while a job waits.
        self._loading: CheckpointInfo | None = None
        self._failure: tuple[CheckpointInfo, str] | None = None
        self._current: CheckpointInfo | None = None  # see current_info
        self._kinds: dict = {}  # path -> "checkpoint" or "refiner" (a job's second-pass model): the ledger's kind

    # --- listing -------------------------------------------------------------------
    def checkpoints(self) -> list[CheckpointInfo]:
        extra = (self._preferred_path.path,) if self._preferred_path else ()
        return find_checkpoints(self._dirs, (*self._bundled, *extra))

    def cached_short_hash(self, info: CheckpointInfo) -> str | None:
        value = self._hashes.cached_sha256(info.path)
        return value[:10] if value else None

    def cached_sha256(self, info: CheckpointInfo) -> str | None:
        return self._hashes.cached_sha256(info.path)

    def title(self, info: CheckpointInfo) -> str:
        return info.title(self.cached_short_hash(info))

    def family_of(self, info: CheckpointInfo):
        """The checkpoint's model family (modules.models.families), from its header or config; None
        for a pickled file not loaded yet or a file no family recognises."""
        return self._families.family_of(info)

    @property
    def loaded(self):
        """The model most recently handed out (None when none is loaded)."""
        return next(reversed(self._resident.values()), None)

    @property
    def current_info(self) -> CheckpointInfo | None:
        """The checkpoint requests without one run on: the last one asked for as a job's or the
        dropdown's checkpoint. A refiner or hires checkpoint a job switched to does not become it."""
        if self._current is not None:
            return self._current
        loaded = self.loaded
        return loaded.info if loaded is not None else None

    @property
    def resident(self) -> list:
        """The models loaded now, least recently used first."""
        return list(self._resident.values())

    @property
    def loading(self) -> CheckpointInfo | None:
        """The checkpoint being loaded right now (None when no load is in progress)."""
        return self._loading

    @property
    def load_failure(self) -> str | None:
        """Why the last load failed, naming the file ("" or None once a load has succeeded since)."""
        failure = self._failure
        return None if failure is None else f"Model {failure[0].name} failed to load: {failure[1]}"

    def default_checkpoint(self) -> CheckpointInfo:
        found = self.checkpoints()
        if self._preferred:
            info = self._match(self._preferred, found)
            if info is None and self._preferred_path is not None:
                info = next((c for c in found if c.path == self._preferred_path.path), None)
            if info is None:
                raise UnknownCheckpointError(
                    f"--ckpt {self._preferred!r} is neither a listed checkpoint nor a checkpoint file "
                    "(.safetensors, .ckpt, .pt, .bin) or diffusers folder"
                )
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
        """The listed checkpoint `wanted` names (None or "": the loaded or default one).
        Raises UnknownCheckpointError, naming what is available, for anything else."""
        if not wanted or not str(wanted).strip():
            current = self.current_info
            return current if current is not None else self.default_checkpoint()
        found = self.checkpoints()
        info = self._match(str(wanted), found)
        if info is None:
            raise UnknownCheckpointError(describe_unknown(str(wanted), found))
        return info

    def _match(self, wanted: str, found: list[CheckpointInfo]) -> CheckpointInfo | None:
        return resolve_checkpoint(wanted, found, self.cached_sha256)

    # --- loading -------------------------------------------------------------------
    def get(self, wanted: "str | CheckpointInfo | None" = None, second_pass: bool = False):
        """The loaded model for `wanted` (a name; a CheckpointInfo already resolved from the list;
        None: the current or default one), loading if needed. If loading fails, the models loaded
        before stay loaded and the error is raised. `second_pass`: a refiner or hires checkpoint
        switched to inside a job, which does not become the current checkpoint.

        With "Maximum number of checkpoints loaded at the same time" N, up to N models stay loaded
        (the least recently used goes first); with "Checkpoints to cache in RAM" K, up to K models
        that left keep their weights in RAM, so switching back reads nothing from disk."""
        with self._lock:
            info = wanted if isinstance(wanted, CheckpointInfo) else self.resolve(wanted)
            model = self._resident.get(info.path)
            if model is None:
                model = self._load(info)
            self._resident[info.path] = model
            self._resident.move_to_end(info.path)
            if not second_pass:
                self._current = info
            self._kinds[info.path] = "refiner" if second_pass else "checkpoint"
            self._evict(self._limit())
            self._register_resident()
            if self.on_handout is not None:
                self.on_handout(model)
            return model

    def _load(self, info: CheckpointInfo):
        from modules.models.loading import CheckpointLoadError, load_checkpoint

        self._loading = info
        try:
            if self._policy is None:  # importing torch is part of the first load's wait
                self._policy = self._policy_factory()
            try:
                sha256 = self._hashes.sha256(info.path)
            except OSError as error:  # vanished since listing, or replaced by a non-regular file
                raise CheckpointLoadError(f"{info.name}: cannot be read ({type(error).__name__})") from error
            model = self._from_ram_cache(info, sha256)
            if model is None:
                model = (self.loader or load_checkpoint)(info, sha256, self._policy, self._cache_dir)
                self._families.remember(info, getattr(model, "family", None))
        except Exception as error:
            self._failure = (info, _reason(info, error))
            raise
        finally:
            self._loading = None
        self._failure = None
        self._on_loaded(model)
        return model

    def _limit(self) -> int:
        return max(1, int(self._setting("sd_checkpoints_limit", 1)))

    def _setting(self, key: str, default: int) -> int:
        if self._settings is None:
            return default
        try:
            return int(self._settings.get(key))
        except (KeyError, TypeError, ValueError):
            return default

    def _evict(self, keep: int) -> None:
        """Drop loaded models beyond the `keep` most recently used, into the RAM cache if it has room."""
        while len(self._resident) > keep:
            _, model = self._resident.popitem(last=False)
            self._to_ram_cache(model)

    def _to_ram_cache(self, model) -> None:
        size = self._setting("sd_checkpoint_cache", 0)
        if size <= 0:
            self._forget(model.info.path)
            return
        if self._memory is not None:
            self._memory.release_offload(model)  # hooks off: a group-offloaded UNet refuses to move
        self._ram_cache.pop(model.info.path, None)
        self._ram_cache[model.info.path] = _parts_to(model, _cpu())
        self._register(model, "checkpoint", "ram-cache", lambda path=model.info.path: self._drop_cached(path))
        while len(self._ram_cache) > size:
            path, _ = self._ram_cache.popitem(last=False)
            self._forget(path)

    def _from_ram_cache(self, info: CheckpointInfo, sha256: str):
        """The cached model of this file if its content is unchanged (the cache entry goes either way).
        With a MemoryManager its on-load step places the parts; without, they go to the policy's device."""
        model = self._ram_cache.pop(info.path, None)
        self._forget(info.path)
        if model is None or model.sha256 != sha256 or self._policy is None:
            return None
        return model if self._memory is not None else _parts_to(model, self._policy.device)

    # --- what the memory manager is told ---------------------------------------------
    def _register_resident(self) -> None:
        """Every loaded model into the ledger. Neither the current checkpoint (jobs run on it) nor the
        one handed out last (a refiner a job runs on now) is freeable; another one loaded beside them
        (sd_checkpoints_limit > 1) is."""
        if self._memory is None:
            return
        kept = {self._current.path if self._current is not None else None, next(reversed(self._resident), None)}
        for path, model in self._resident.items():
            free = None if path in kept else (lambda path=path: self._drop_resident(path))
            self._register(model, self._kinds.get(path, "checkpoint"), "resident", free)

    def _register(self, model, kind: str, state: str, free) -> None:
        if self._memory is not None:
            self._memory.register(str(model.info.path), model.info.name, kind, model.modules(), state=state,
                                  free=free, execution_device=model.execution_device)  # fmt: skip

    def _forget(self, path: Path) -> None:
        self._kinds.pop(path, None)
        if self._memory is not None:
            self._memory.release(str(path))

    def _drop_cached(self, path: Path) -> None:
        with self._lock:
            self._ram_cache.pop(path, None)

    def _drop_resident(self, path: Path) -> None:
        """make_room's way to free a checkpoint loaded beside the current one."""
        with self._lock:
            self._resident.pop(path, None)
            self._kinds.pop(path, None)

    def sha256_of(self, path: Path) -> str:
        """A model file's sha256 through the same hash cache as the checkpoints' (VAE files too)."""
        return self._hashes.sha256(path)

    def unload(self) -> CheckpointInfo | None:
        """Drop the loaded models (A1111's unload-checkpoint): their memory goes with the last
        reference (unless "Checkpoints to cache in RAM" keeps them there); the next job loads what
        it asks for. The checkpoint that was current, or None."""
        import gc

        with self._lock:
            current = self.current_info if self.loaded is not None else None
            self._evict(0)
        gc.collect()
        return current

    def reread(self, info: CheckpointInfo, second_pass: bool = False):
        """Read `info` from disk again, dropping its loaded and RAM-cached copies (FP8 weight turned
        off: 8-bit weights cannot give the originals back). Other loaded models stay."""
        with self._lock:
            self._resident.pop(info.path, None)
            self._ram_cache.pop(info.path, None)
            self._forget(info.path)
            return self.get(info, second_pass=second_pass)

    def reload(self):
        """Read the loaded checkpoint (or the default one) from disk again (A1111's
        reload-checkpoint): a file replaced under the same name takes effect."""
        with self._lock:
            info = self.current_info or self.default_checkpoint()
            self.unload()
            self._ram_cache.pop(info.path, None)  # from disk, not from the RAM cache
            self._forget(info.path)
            return self.get(info)


_DEVICE_PARTS = ("unet", "vae", "text_encoder", "text_encoder_2")


def _cpu():
    import torch

    return torch.device("cpu")


def _parts_to(model, device):
    """The model with its networks on `device` (a no-op where they are already there)."""
    for name in _DEVICE_PARTS:
        module = getattr(model, name, None)
        if module is not None and module.device != device:
            setattr(model, name, module.to(device))
    return model


def _reason(info: CheckpointInfo, error: BaseException) -> str:
    """The error's message without the file name the loader's messages start with."""
    text = str(error) or type(error).__name__
    prefix = f"{info.name}: "
    return text[len(prefix) :] if text.startswith(prefix) else text
