"""Hires-fix upscaler names (torch-free: requests are validated before any model loads)."""

from PIL import Image

# A1111's latent upscaler names -> torch interpolation (mode, antialias).
LATENT_UPSCALERS = {
    "Latent": ("bilinear", False),
    "Latent (antialiased)": ("bilinear", True),
    "Latent (bicubic)": ("bicubic", False),
    "Latent (bicubic antialiased)": ("bicubic", True),
    "Latent (nearest)": ("nearest", False),
    "Latent (nearest-exact)": ("nearest-exact", False),
}
# Image upscalers that need no model: resize the decoded picture, encode it again.
IMAGE_UPSCALERS = {"None": Image.Resampling.LANCZOS, "Lanczos": Image.Resampling.LANCZOS, "Nearest": Image.NEAREST}
UPSCALERS = (*LATENT_UPSCALERS, *IMAGE_UPSCALERS)


class UnknownUpscalerError(ValueError):
    pass


def check_upscaler(name: str) -> str:
    for known in UPSCALERS:
        if known.lower() == (name or "").strip().lower():
            return known
    raise UnknownUpscalerError(f"unknown hires upscaler {name!r}; choose one of: {', '.join(UPSCALERS)}")
