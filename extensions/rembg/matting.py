"""Alpha matting: refine a hard mask's edges (hair, fur, soft blur) with rembg's closed-form matting."""

import logging

from PIL import Image

log = logging.getLogger("sdstudio.extensions.rembg")


def matte(image: Image.Image, mask: Image.Image, fg_threshold: int, bg_threshold: int, erode_size: int) -> Image.Image:
    """An RGBA cutout whose alpha is estimated around the mask's edges.

    Mask values above `fg_threshold` are sure foreground, below `bg_threshold` sure background,
    both shrunk by `erode_size`; the band in between is solved for. Foreground colours are
    estimated too, so the old background does not tint the edges.
    """
    # Lazy: the first import of pymatting in a fresh venv compiles it with numba (~30-70 s).
    from rembg.bg import alpha_matting_cutout

    try:
        return alpha_matting_cutout(image.convert("RGB"), mask, fg_threshold, bg_threshold, erode_size)
    except ValueError as error:
        # pymatting refuses a trimap with no sure foreground or no sure background (an empty or
        # full mask, or thresholds/erosion that leave nothing sure): the mask is then the answer.
        log.info("alpha matting skipped: %s", error)
        cutout = image.convert("RGBA")
        cutout.putalpha(mask)
        return cutout
