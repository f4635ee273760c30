"""engine.upscalers: the upscalers a user can pick (None, Lanczos, Nearest, then the model files
found under models/), upscaling a picture by a scale or to a size with any of them.

Names are looked up in this list only; a file is opened only once it has been listed."""

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from modules.upscaling.discovery import UpscalerFile, find_upscaler_files
from modules.upscaling.loading import UpscalerLoadError

BUILTIN_UPSCALERS = {"None": Image.Resampling.LANCZOS, "Lanczos": Image.Resampling.LANCZOS,
                     "Nearest": Image.Resampling.NEAREST}  # fmt: skip
MAX_SCALE = 16.0
MAX_OUTPUT_SIDE = 16384
MAX_OUTPUT_PIXELS = 16384 * 8192
MAX_MODEL_PASSES = 3  # A1111's limit: a 4x model reaches 64x at most before the final resize
TILE_DEFAULTS = {"ESRGAN_tile": 192, "ESRGAN_tile_overlap": 8}


class UnknownUpscalerNameError(ValueError):
    pass


@dataclass(frozen=True)
class ModelUpscaler:
    """A model file spandrel identified."""

    file: UpscalerFile
    scale: int
    architecture: str

    @property
    def name(self) -> str:
        return self.file.name


class UpscalerRegistry:
    """`settings`: read for the tile settings at each upscale; `device_policy`: () -> DevicePolicy."""

    def __init__(self, models_dir: Path, settings=None, device_policy: Callable | None = None):
        self.models_dir = Path(models_dir)
        self.settings = settings
        self.device_policy = device_policy
        self.skipped: dict[str, str] = {}  # name -> why it is not offered
        self._lock = threading.RLock()  # the lists
        self._model_lock = threading.RLock()  # the loaded model and its runs
        self._models: dict[str, ModelUpscaler] = {}
        self._identified: dict[tuple, ModelUpscaler | str] = {}  # (path, size, mtime) -> model or reason
        self._loaded: tuple[tuple, object] | None = None  # one model kept loaded: (key, descriptor)

    # --- the list -------------------------------------------------------------------------------

    def refresh(self) -> None:
        """List the folders again; a file already identified (same size and time) is not re-read."""
        files, skipped = find_upscaler_files(self.models_dir)
        models: dict[str, ModelUpscaler] = {}
        with self._lock:
            identified = {}
            for file in files:
                key = _key(file)
                found = self._identified.get(key) or self._identify(file)
                identified[key] = found
                if isinstance(found, ModelUpscaler):
                    models[file.name] = found
                else:
                    skipped[file.name] = found
            self._identified, self._models, self.skipped = identified, models, skipped

    def _identify(self, file: UpscalerFile) -> ModelUpscaler | str:
        from modules.upscaling.loading import load_descriptor

        try:
            descriptor = load_descriptor(file.path)
        except UpscalerLoadError as error:
            return str(error)
        return ModelUpscaler(file, int(descriptor.scale), descriptor.architecture.name)

    def models(self) -> list[ModelUpscaler]:
        self.refresh()
        with self._lock:
            return list(self._models.values())

    def names(self) -> list[str]:
        return [*BUILTIN_UPSCALERS, *(model.name for model in self.models())]

    def resolve(self, name: str) -> str:
        """The listed name `name` means (exact, else ignoring case); UnknownUpscalerNameError otherwise."""
        wanted = (name or "").strip()
        names = self.names()
        if wanted in names:
            return wanted
        for known in names:
            if known.lower() == wanted.lower():
                return known
        reason = f" ({self.skipped[wanted]})" if wanted in self.skipped else ""
        raise UnknownUpscalerNameError(f"unknown upscaler {name!r}{reason}; choose one of: {', '.join(names)}")

    def scale_of(self, name: str) -> int:
        """The model's native scale; 4 for the built-in resizers (what A1111 reports for them)."""
        canonical = self.resolve(name)
        with self._lock:
            model = self._models.get(canonical)
        return model.scale if model else 4

    # --- upscaling ------------------------------------------------------------------------------

    def upscale(self, image: Image.Image, name: str, scale: float) -> Image.Image:
        """`image` scaled by `scale` with upscaler `name`: exactly round(w*scale) x round(h*scale)."""
        if not isinstance(scale, int | float) or not math.isfinite(scale) or not 0 < scale <= MAX_SCALE:
            raise ValueError(f"upscale scale must be a number above 0 and at most {MAX_SCALE}, not {scale!r}")
        return self.upscale_to(image, name, max(1, round(image.width * scale)), max(1, round(image.height * scale)))

    def upscale_to(self, image: Image.Image, name: str, width: int, height: int) -> Image.Image:
        """`image` made exactly width x height: with a model, run it (repeatedly, up to 3 times) until
        the picture is at least that large, then Lanczos to the exact size."""
        _check_output(width, height)
        canonical = self.resolve(name)
        if canonical in BUILTIN_UPSCALERS:
            return image.resize((width, height), BUILTIN_UPSCALERS[canonical])
        with self._lock:
            model = self._models[canonical]
        current, passes = image, 0
        with self._model_lock:  # not the list's lock: listing (a request being prepared) never waits on a run
            while (current.width < width or current.height < height) and passes < MAX_MODEL_PASSES:
                _check_output(current.width * model.scale, current.height * model.scale)
                current = self._run_model(model, current)
                passes += 1
        if current.size != (width, height):
            current = current.resize((width, height), Image.Resampling.LANCZOS)
        return current

    def _run_model(self, model: ModelUpscaler, image: Image.Image) -> Image.Image:
        import torch

        from modules.images.pixels import to_model_pixels, to_pil_images
        from modules.upscaling.tiling import run_tiled

        descriptor, device, dtype = self._descriptor(model)
        alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
        pixels = ((to_model_pixels([image]) + 1) / 2).to(device, dtype)  # spandrel works in [0, 1]
        tile, overlap = self._setting("ESRGAN_tile"), self._setting("ESRGAN_tile_overlap")
        with torch.inference_mode():
            output = run_tiled(descriptor, pixels, model.scale, tile, overlap)
        result = to_pil_images(output * 2 - 1)[0]
        if alpha is not None:  # the model sees colour only; transparency is resized alongside
            result.putalpha(alpha.resize(result.size, Image.Resampling.LANCZOS))
        return result

    def _descriptor(self, model: ModelUpscaler):
        """The model's spandrel descriptor on the engine's device; one is kept loaded at a time."""
        import torch

        from modules.upscaling.loading import load_descriptor

        key = _key(model.file)
        policy = self.device_policy() if self.device_policy else None
        device = policy.device if policy else torch.device("cpu")
        if self._loaded is None or self._loaded[0] != key:
            self._loaded = None  # the old one goes before the new one is read
            descriptor = load_descriptor(model.file.path)
            self._loaded = (key, descriptor.to(device))
        descriptor = self._loaded[1]
        dtype = torch.float16 if policy and policy.dtype == torch.float16 and descriptor.supports_half else None
        descriptor = descriptor.to(dtype) if dtype else descriptor.to(torch.float32)
        return descriptor, device, dtype or torch.float32

    def _setting(self, key: str) -> int:
        if self.settings is None:
            return TILE_DEFAULTS[key]
        try:
            return int(self.settings.get(key))
        except KeyError:  # an engine whose settings do not declare it
            return TILE_DEFAULTS[key]

    def unload(self) -> None:
        with self._model_lock:
            self._loaded = None


def _key(file: UpscalerFile) -> tuple:
    return (str(file.path), file.size, file.mtime_ns)


def _check_output(width: int, height: int) -> None:
    if width > MAX_OUTPUT_SIDE or height > MAX_OUTPUT_SIDE or width * height > MAX_OUTPUT_PIXELS:
        raise ValueError(f"an upscaled picture of {width}x{height} is larger than allowed "
                         f"({MAX_OUTPUT_SIDE} pixels a side, {MAX_OUTPUT_PIXELS} in all)")  # fmt: skip
