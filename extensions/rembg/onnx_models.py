"""rembg's salient-object models, run from local .onnx files with onnxruntime.

rembg's own session classes are not used: importing any of them runs `rembg/__init__.py`,
which imports pymatting (a ~30-70 s numba compile in a fresh venv), and its sessions either
download the file or refuse a `model_path` outside rembg's home folder. The models themselves
are plain: resize, normalise, one forward pass, first output's first channel is the mask.
The pre-processing below follows what rembg does for each model, so the masks are the same.
"""

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

RELEASES = "https://github.com/danielgatis/rembg/releases/download/v0.0.0"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class OnnxModel:
    name: str  # rembg's name for it, also the file stem
    side: int  # the square input the network was trained on
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    about: str

    @property
    def filename(self) -> str:
        return f"{self.name}.onnx"

    @property
    def url(self) -> str:
        return f"{RELEASES}/{self.filename}"


MODELS = {
    model.name: model
    for model in (
        OnnxModel("u2net", 320, IMAGENET_MEAN, IMAGENET_STD, "general use"),
        OnnxModel("u2netp", 320, IMAGENET_MEAN, IMAGENET_STD, "a small, fast u2net"),
        OnnxModel("u2net_human_seg", 320, IMAGENET_MEAN, IMAGENET_STD, "people"),
        OnnxModel("silueta", 320, IMAGENET_MEAN, IMAGENET_STD, "u2net shrunk to about 43 MB"),
        OnnxModel("isnet-general-use", 1024, (0.5, 0.5, 0.5), (1.0, 1.0, 1.0), "general use, finer edges (slower)"),
        OnnxModel("isnet-anime", 1024, IMAGENET_MEAN, (1.0, 1.0, 1.0), "anime characters"),
    )
}


class MissingModelFile(FileNotFoundError):
    """The model's .onnx file is not in the models folder; the message says what to put where."""

    def __init__(self, model: OnnxModel, path: Path):
        super().__init__(
            f"rembg model {model.name} needs the file {path}, which is not there. "
            f"Download it from {model.url} and put it at that path (nothing is downloaded automatically)."
        )
        self.path = path


class UnreadableModelFile(ValueError):
    """The file is there but onnxruntime cannot load it (a partial download, another model)."""

    def __init__(self, model: OnnxModel, path: Path, error: Exception):
        super().__init__(
            f"rembg model {model.name}: {path} could not be loaded ({type(error).__name__}: {error}). "
            f"Is it a complete copy of {model.url}?"
        )


def model_path(models_dir: Path, model: OnnxModel) -> Path:
    return Path(models_dir) / "rembg" / model.filename


class SessionCache:
    """Loaded onnxruntime sessions keyed by (model, path, mtime), so a replaced file is reloaded.

    A u2net session holds ~200 MB, so only the most recently used `keep` stay loaded.
    """

    def __init__(self, keep: int = 2):
        self._keep = keep
        self._sessions: dict[tuple, object] = {}
        self._lock = threading.Lock()

    def session(self, model: OnnxModel, path: Path):
        import onnxruntime  # lazy: only the model methods need it

        key = (model.name, str(path.resolve()), path.stat().st_mtime_ns)
        with self._lock:
            if key in self._sessions:
                self._sessions[key] = self._sessions.pop(key)  # most recently used goes last
                return self._sessions[key]
        # Load outside the lock: it takes seconds, and other models may be in use meanwhile.
        try:
            loaded = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own types for truncated or foreign files
            raise UnreadableModelFile(model, path, error) from error
        with self._lock:
            self._sessions = {k: v for k, v in self._sessions.items() if k[:2] != key[:2]}  # stale mtimes
            self._sessions[key] = loaded
            while len(self._sessions) > self._keep:
                self._sessions.pop(next(iter(self._sessions)))
        return loaded

    def __len__(self) -> int:
        return len(self._sessions)


def predict_mask(image: Image.Image, model: OnnxModel, models_dir: Path, cache: SessionCache) -> Image.Image:
    """The model's "L" mask for `image`, at the image's size."""
    path = model_path(models_dir, model)
    if not path.is_file():
        raise MissingModelFile(model, path)
    session = cache.session(model, path)
    inputs = {session.get_inputs()[0].name: _normalise(image, model)}
    prediction = np.asarray(session.run(None, inputs)[0], np.float32)[0, 0]

    # The networks' outputs are not calibrated: stretch to 0..1 as rembg does.
    low, high = float(prediction.min()), float(prediction.max())
    stretched = (prediction - low) / (high - low) if high > low else np.zeros_like(prediction)
    mask = Image.fromarray((np.clip(stretched, 0.0, 1.0) * 255).astype(np.uint8), mode="L")
    return mask.resize(image.size, Image.Resampling.LANCZOS)


def _normalise(image: Image.Image, model: OnnxModel) -> np.ndarray:
    resized = image.convert("RGB").resize((model.side, model.side), Image.Resampling.LANCZOS)
    pixels = np.asarray(resized, np.float32)
    pixels = pixels / max(float(pixels.max()), 1e-6)  # rembg scales by the brightest value, not 255
    pixels = (pixels - np.asarray(model.mean, np.float32)) / np.asarray(model.std, np.float32)
    return pixels.transpose(2, 0, 1)[None].astype(np.float32)
