"""Background removal: pick a method, get a mask, cut the picture out. No Gradio, no web code.

Methods: "opencv" (always there, no weights) and rembg's models, usable once their .onnx file
is in `<models_dir>/rembg/`.
"""

from pathlib import Path

import numpy as np
from PIL import Image

from .onnx_models import MODELS, MissingModelFile, SessionCache, UnreadableModelFile, model_path, predict_mask

DEFAULT_METHOD = "opencv"

__all__ = [
    "DEFAULT_METHOD",
    "BackgroundRemover",
    "MissingModelFile",
    "UnknownMethod",
    "UnreadableModelFile",
    "all_methods",
    "available_methods",
    "missing_models",
    "normalise_method",
    "remove_background",
]


class UnknownMethod(ValueError):
    def __init__(self, method: str):
        super().__init__(f"unknown background removal method {method!r}; known: {', '.join(all_methods())}")


def all_methods() -> list[str]:
    return [DEFAULT_METHOD, *MODELS]


def available_methods(models_dir: Path | None) -> list[str]:
    """The methods that can run now: opencv, and every model whose file is present."""
    if models_dir is None:
        return [DEFAULT_METHOD]
    return [DEFAULT_METHOD, *(name for name, model in MODELS.items() if model_path(models_dir, model).is_file())]


def missing_models(models_dir: Path | None) -> dict[str, Path | None]:
    """{model name: the path its file would have} for every model that cannot run yet."""
    return {
        name: model_path(models_dir, model) if models_dir is not None else None
        for name, model in MODELS.items()
        if models_dir is None or not model_path(models_dir, model).is_file()
    }


def normalise_method(method: str | None) -> str:
    """The method's canonical name. Empty or "None" mean the default: A1111's rembg API and UI use
    "None" for "no model chosen". Unknown names raise UnknownMethod."""
    name = (method or "").strip()
    if not name or name.lower() == "none":
        return DEFAULT_METHOD
    for known in all_methods():
        if name.lower() == known.lower():
            return known
    raise UnknownMethod(name)


def remove_background(
    image: Image.Image,
    method: str | None = DEFAULT_METHOD,
    models_dir: Path | None = None,
    alpha_matting: bool = False,
    fg_threshold: int = 240,
    bg_threshold: int = 10,
    erode_size: int = 10,
    mask_only: bool = False,
    background_color: tuple[int, ...] | None = None,
    sessions: SessionCache | None = None,
) -> Image.Image:
    """`image` cut out: RGBA with a transparent background, or with `mask_only` the "L" mask
    (255 = foreground). `background_color` (RGB or RGBA) fills the removed background instead.

    Raises UnknownMethod, MissingModelFile (naming the file and where to put it) or
    UnreadableModelFile.
    `sessions` keeps loaded models between calls; without one each call loads its model afresh.
    """
    method = normalise_method(method)
    mask = _mask(image, method, models_dir, sessions if sessions is not None else SessionCache(keep=1))

    if alpha_matting:
        from .matting import matte  # lazy: pulls in pymatting

        cutout = matte(image, mask, fg_threshold, bg_threshold, erode_size)
        if mask_only:
            return cutout.getchannel("A")
    elif mask_only:
        return mask
    else:
        cutout = image.convert("RGBA")
        cutout.putalpha(_combined_alpha(image, mask))
    if background_color is not None:
        backdrop = Image.new("RGBA", cutout.size, tuple(background_color))
        cutout = Image.alpha_composite(backdrop, cutout)
    return cutout


def _mask(image: Image.Image, method: str, models_dir: Path | None, sessions: SessionCache) -> Image.Image:
    if method == DEFAULT_METHOD:
        from .opencv_method import grabcut_mask  # lazy: OpenCV is only needed for this method

        return grabcut_mask(image)
    model = MODELS[method]
    if models_dir is None:
        raise MissingModelFile(model, Path("models") / "rembg" / model.filename)
    return predict_mask(image, model, Path(models_dir), sessions)


def _combined_alpha(image: Image.Image, mask: Image.Image) -> Image.Image:
    """A picture that already had transparency keeps it: the new alpha never reveals more."""
    if "A" not in image.getbands() and image.mode != "P":
        return mask
    existing = np.asarray(image.convert("RGBA").getchannel("A"), np.uint16)
    return Image.fromarray((existing * np.asarray(mask, np.uint16) // 255).astype(np.uint8), mode="L")


class BackgroundRemover:
    """`remove_background` with loaded models kept between calls. One per extension instance:
    the plugin owns it and hands it to its UI and API."""

    def __init__(self, keep_models: int = 2):
        self.sessions = SessionCache(keep=keep_models)

    def remove(self, image: Image.Image, method: str | None, models_dir: Path | None, **options) -> Image.Image:
        return remove_background(image, method, models_dir, sessions=self.sessions, **options)
