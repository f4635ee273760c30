"""engine.vaes: the VAE files "SD VAE" offers, and putting the chosen one's weights on a loaded model.

A VAE file's weights are copied into the model's own AutoencoderKL (load_state_dict), so every
part that decodes or encodes (the batch loop, hires fix, img2img) uses the chosen VAE without
knowing about it. The checkpoint's own VAE weights are kept as a CPU copy the first time another
VAE replaces them, and copied back for "None" (or "Automatic" with no VAE beside the checkpoint):
the checkpoint's own pixels come back exactly.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from weakref import WeakKeyDictionary

from modules.config.vae_settings import VAE_AUTOMATIC, VAE_NONE
from modules.models.vae_files import VaeInfo, beside_checkpoint, describe_unknown_vae, find_vaes, match_vae


class UnknownVaeError(LookupError, ValueError):
    """A VAE name that matches no listed file (a bad value in a request: 4xx)."""


@dataclass
class _VaeSlot:
    """What one model's VAE module holds: its checkpoint's own weights (a CPU copy, kept once
    another VAE replaced them) and which file's weights it holds now ((path, sha256); None: its own)."""

    original: dict
    current: tuple[Path, str] | None = None


class VaeRegistry:
    def __init__(
        self,
        vae_dirs: tuple[Path, ...],
        checkpoint_dirs: tuple[Path, ...],
        settings,
        sha256_of: Callable[[Path], str],
        keep_vae_fp32: bool = False,
    ):
        self._vae_dirs = vae_dirs
        self._checkpoint_dirs = checkpoint_dirs
        self._settings = settings  # live settings: the size of the VAE weights cache
        self._sha256_of = sha256_of  # the checkpoints' hash cache: one hashes.json for all model files
        self._keep_fp32 = keep_vae_fp32  # --no-half-vae
        self._lock = threading.RLock()
        self._slots: WeakKeyDictionary = WeakKeyDictionary()  # VAE module -> _VaeSlot
        self._cache: OrderedDict = OrderedDict()  # (path, sha256) -> (state, metadata), newest last
        self._job_choice: str | None = None

    # --- listing -------------------------------------------------------------------
    def listed(self) -> list[VaeInfo]:
        """Listed afresh on each call, as the checkpoints are: a file added shows up at once."""
        return find_vaes(self._vae_dirs, self._checkpoint_dirs)

    def refresh(self) -> list[VaeInfo]:
        """A1111's refresh-vae: the list again (nothing is kept between calls but the weights cache,
        whose entries are keyed by file content)."""
        return self.listed()

    def names(self) -> list[str]:
        return [info.name for info in self.listed()]

    def choices(self) -> list[str]:
        """What "SD VAE" offers: Automatic, None, then the listed files."""
        return [VAE_AUTOMATIC, VAE_NONE, *self.names()]

    def resolve(self, name: str) -> VaeInfo:
        """The listed file `name` means (its listed name, or its name without extension as infotext
        records it). UnknownVaeError, naming what exists, for anything else."""
        listed = self.listed()
        info = match_vae(str(name or ""), listed)
        if info is None:
            raise UnknownVaeError(describe_unknown_vae(str(name), listed))
        return info

    def setting_value(self, name: str) -> str:
        """The "SD VAE" value for a name (pasted infotext's "VAE: x" -> the listed "x.safetensors")."""
        if name in (VAE_AUTOMATIC, VAE_NONE):
            return name
        return self.resolve(name).name

    def selected_for(self, model, choice: str | None) -> VaeInfo | None:
        """The file `choice` means for this model; None: the checkpoint's own VAE."""
        choice = choice or VAE_AUTOMATIC
        if choice == VAE_NONE:
            return None
        if choice == VAE_AUTOMATIC:
            return beside_checkpoint(model.info.name, Path(model.info.path), self.listed())
        return self.resolve(choice)

    def sha256(self, info: VaeInfo) -> str:
        return self._sha256_of(info.path)

    # --- applying ------------------------------------------------------------------
    def apply(self, model, choice: str | None) -> VaeInfo | None:
        """Put the chosen VAE's weights on `model.vae` ("Automatic", "None" or a listed name); the
        file in use, None when it is the checkpoint's own. A file that does not fit the model
        raises VaeLoadError naming it, and the model keeps the VAE it had."""
        import torch

        with self._lock:
            info = self.selected_for(model, choice)
            vae = model.vae
            if self._keep_fp32 and vae.dtype != torch.float32:
                vae.to(torch.float32)
            slot = self._slots.get(vae)
            if info is None:
                if getattr(model, "vae_missing", False):
                    from modules.models.vae_weights import VaeLoadError

                    raise VaeLoadError(
                        f"{model.info.name} holds no VAE: put a VAE file in models/VAE (or {Path(model.info.name).stem}"
                        ".vae.safetensors beside it) and choose it in Settings > SD VAE"
                    )
                if slot is not None and slot.current is not None:
                    vae.load_state_dict(slot.original, strict=True)
                    slot.current = None
                return None
            sha256 = self.sha256(info)
            if slot is not None and slot.current == (info.path, sha256):
                return info
            state = self._fitting_state(info, sha256, model)
            if slot is None:
                original = {key: value.detach().to("cpu", copy=True) for key, value in vae.state_dict().items()}
                slot = self._slots.setdefault(vae, _VaeSlot(original))
            vae.load_state_dict(state, strict=True)
            slot.current = (info.path, sha256)
            return info

    @contextmanager
    def for_job(self, choice: str | None) -> Iterator[None]:
        """While a job runs, models handed out by the manager (a refiner loaded mid-job) get the
        job's VAE too (apply_job_choice); `choice` is read from the job's settings snapshot."""
        self._job_choice = choice or VAE_AUTOMATIC
        try:
            yield
        finally:
            self._job_choice = None

    def select_for_job(self, choice: str | None) -> None:
        """A p.process() call whose override_settings change the VAE: later hand-outs follow it."""
        if self._job_choice is not None:
            self._job_choice = choice or VAE_AUTOMATIC

    def apply_job_choice(self, model) -> None:
        """The manager's hand-out hook: outside a job nothing happens (the next job applies its own)."""
        choice = self._job_choice
        if choice is not None:
            self.apply(model, choice)

    def _fitting_state(self, info: VaeInfo, sha256: str, model) -> dict:
        from modules.models.vae_weights import VaeLoadError, check_fits, read_vae_file, to_diffusers_layout

        key = (info.path, sha256)
        cached = self._cache.get(key)
        if cached is None:
            state, metadata = read_vae_file(info)
            try:
                state = to_diffusers_layout(state, dict(model.vae.config))
            except (KeyError, ValueError, RuntimeError) as error:  # names the converter does not expect
                raise VaeLoadError(f"VAE {info.name}: not a VAE in a known layout ({error})") from error
            cached = (state, metadata)
        check_fits(info, cached[0], cached[1], model)
        self._remember(key, cached)
        return cached[0]

    def _remember(self, key, entry) -> None:
        """Keep up to "VAE Checkpoints to cache in RAM" files' weights, least recently used out first."""
        size = int(self._settings.get("sd_vae_checkpoint_cache") or 0) if self._settings is not None else 0
        self._cache.pop(key, None)
        if size > 0:
            self._cache[key] = entry
        while len(self._cache) > size:
            self._cache.popitem(last=False)
