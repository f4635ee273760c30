"""The upscaler SD upscale uses: a name from the app's upscaler list (`p.upscalers`, the engine's
UpscalerRegistry: None, Lanczos, Nearest, then model upscalers), looked up in that list only.
Where the app does not provide it, the picture upscalers that need no model are offered."""

from PIL import Image

from modules.processing.upscalers import IMAGE_UPSCALERS


def registry(p):
    return getattr(p, "upscalers", None)


def upscaler_names(p=None) -> list[str]:
    found = registry(p) if p is not None else None
    return list(found.names()) if found is not None else list(IMAGE_UPSCALERS)


def resolve_upscaler(names: list[str], value) -> str:
    """A1111 takes the upscaler's index in the list (the UI radio's type="index") or its name."""
    if isinstance(value, bool):
        raise ValueError(f"upscaler must be a name or an index, got {value!r}")
    if isinstance(value, int):
        if not 0 <= value < len(names):
            raise ValueError(f"upscaler index {value} is out of range: {len(names)} upscalers ({', '.join(names)})")
        return names[value]
    wanted = str(value).strip().lower()
    for name in names:
        if name.lower() == wanted:
            return name
    raise ValueError(f"unknown upscaler {value!r}; choose one of: {', '.join(names)}")


def upscale(p, image: Image.Image, name: str, scale: float) -> Image.Image:
    """`image` upscaled by `scale` (round(w * scale) x round(h * scale)) with the named upscaler."""
    found = registry(p)
    if found is not None:
        return found.upscale(image, name, scale)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, IMAGE_UPSCALERS[name])
