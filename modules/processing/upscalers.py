"""Hires-fix upscaler names (torch-free: requests are validated before any model loads): the latent
ones, the plain resizers, and the model upscalers the engine lists (modules/upscaling)."""

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


def check_upscaler(name: str, upscalers=None) -> str:
    """`name` in canonical form, matched among the latent upscalers, the resizers and (with
    `upscalers`, an UpscalerRegistry) the model upscalers; UnknownUpscalerError otherwise."""
    wanted = (name or "").strip().lower()
    for known in UPSCALERS:
        if known.lower() == wanted:
            return known
    names = list(UPSCALERS)
    if upscalers is not None:
        models = [known for known in upscalers.names() if known not in IMAGE_UPSCALERS]
        for known in models:
            if known == (name or "").strip():
                return known
        for known in models:
            if known.lower() == wanted:
                return known
        names += models
    raise UnknownUpscalerError(f"unknown hires upscaler {name!r}; choose one of: {', '.join(names)}")
