"""Inpaint area and the final composite (A1111 v1.10 semantics).

"Only masked": the mask's bounding box plus "Only masked padding, pixels", grown to the output's
aspect ratio and kept inside the image, is cut out, processed at the output size and pasted back.
"Whole picture": the init is processed at the output size as a whole.
Either way the original is laid back over the result through the (blurred) overlay mask, so pixels
outside it are exactly the input's.

Regions are (x1, y1, x2, y2) boxes, x2/y2 exclusive, as PIL's crop takes them.
"""

import numpy as np
from PIL import Image

from modules.images.resize_modes import ResizeMode, resize_image

Box = tuple[int, int, int, int]


def mask_bounding_box(mask: Image.Image, padding: int = 0) -> Box | None:
    """The box around every non-zero mask pixel, grown by `padding` on each side and clamped inside
    the mask; None for an empty mask (the caller then inpaints the whole picture, as A1111)."""
    if padding < 0:
        raise ValueError(f"padding must not be negative, got {padding}")
    box = mask.convert("L").getbbox()
    if box is None:
        return None
    x1, y1, x2, y2 = box
    return max(x1 - padding, 0), max(y1 - padding, 0), min(x2 + padding, mask.width), min(y2 + padding, mask.height)


def expand_to_aspect(region: Box, width: int, height: int, image_width: int, image_height: int) -> Box:
    """`region` grown along its short side to the aspect ratio of a width x height output, centred
    (the odd pixel goes after), shifted back inside the image where it would stick out, and
    clamped to the image when the image is too small to hold it."""
    x1, y1, x2, y2 = region
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"empty region {region}")
    target = width / height
    if (x2 - x1) / (y2 - y1) > target:
        y1, y2 = _grow_span(y1, y2, int((x2 - x1) / target - (y2 - y1)), image_height)
    else:
        x1, x2 = _grow_span(x1, x2, int((y2 - y1) * target - (x2 - x1)), image_width)
    return x1, y1, x2, y2


def _grow_span(start: int, end: int, grow: int, limit: int) -> tuple[int, int]:
    start -= grow // 2
    end += grow - grow // 2
    if end > limit:  # past the far border: slide back
        start -= end - limit
        end = limit
    if start < 0:  # past the near border: slide forward, then clamp to the image
        end = min(end - start, limit)
        start = 0
    return start, end


def only_masked_region(mask: Image.Image, padding: int, width: int, height: int) -> Box | None:
    """The "Only masked" crop of `mask` (blurred already, as A1111) for a width x height output."""
    box = mask_bounding_box(mask, padding)
    if box is None:
        return None
    return expand_to_aspect(box, width, height, mask.width, mask.height)


def crop_for_processing(image: Image.Image, region: Box, width: int, height: int) -> Image.Image:
    """The region cut out and brought to the output size (resize and fill: the region's aspect can
    be off by a clamp or a rounding). Used for the init image and for the mask."""
    return resize_image(image.crop(region), ResizeMode.RESIZE_AND_FILL, width, height)


def overlay_mask(blurred_mask: Image.Image, *, only_masked: bool) -> Image.Image:
    """The mask the original is composited back through. For "Whole picture" A1111 doubles the
    blurred mask (clipped), so the result shows fully up to the middle of the blur; for "Only
    masked" it uses the blurred mask as it is."""
    if only_masked:
        return blurred_mask.convert("L")
    levels = np.asarray(blurred_mask.convert("L"), dtype=np.uint16) * 2
    return Image.fromarray(np.minimum(levels, 255).astype(np.uint8))


def paste_back(
    generated: Image.Image, original: Image.Image, mask: Image.Image, region: Box | None = None
) -> Image.Image:
    """The final picture: `generated` (cropped-and-resized into `region` of the original's canvas
    when given, else already the original's size) seen through `mask` (overlay_mask's result, the
    original's size), the original everywhere else. Mask 0 gives the original's pixel exactly,
    255 the generated one exactly, values between a rounded mix."""
    canvas = original.convert("RGB")
    if mask.size != canvas.size:
        raise ValueError(f"mask {mask.size} and original {canvas.size} differ in size")
    return composite(place_generated(generated, canvas, region), canvas, mask)


def place_generated(generated: Image.Image, original: Image.Image, region: Box | None = None) -> Image.Image:
    """`generated` on the original's canvas: resized into `region` over a copy of the original when
    given (Only masked), else as it is (it must have the original's size)."""
    canvas = original.convert("RGB")
    if region is None:
        if generated.size != canvas.size:
            raise ValueError(f"generated {generated.size} and original {canvas.size} differ in size")
        return generated.convert("RGB")
    x1, y1, x2, y2 = region
    canvas.paste(resize_image(generated.convert("RGB"), ResizeMode.CROP_AND_RESIZE, x2 - x1, y2 - y1), (x1, y1))
    return canvas


def composite(generated: Image.Image, original: Image.Image, mask: Image.Image) -> Image.Image:
    """original + (generated - original) * mask / 255, rounded; exact at mask 0 and at mask 255."""
    new = np.asarray(generated.convert("RGB"), dtype=np.float32)
    old = np.asarray(original.convert("RGB"), dtype=np.float32)
    weight = np.asarray(mask.convert("L"), dtype=np.float32)[..., None] / 255
    return Image.fromarray(np.clip(np.rint(old + (new - old) * weight), 0, 255).astype(np.uint8))
