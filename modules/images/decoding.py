"""Untrusted encoded images (base64 from HTTP clients) -> PIL images, with the decoded size
checked from the header before any pixel is decompressed.

A few hundred bytes of PNG can declare 12000x12000 pixels; decoding it costs gigabytes. Pillow's
own guard (Image.MAX_IMAGE_PIXELS) only warns below twice its limit, so the cap here is ours.
"""

import base64
import binascii
import io
import warnings

from PIL import Image, UnidentifiedImageError


class BadImageError(ValueError):
    """Not base64, or not an image Pillow can read: the message says which."""


class ImageTooLargeError(ValueError):
    """The image declares more pixels than allowed: the message gives its size and the limit."""

    def __init__(self, message: str, limit: int):
        super().__init__(message)
        self.limit = limit


def decode_base64_image(data: str, max_pixels: int, field: str = "image") -> Image.Image:
    """base64 (a data: URL prefix allowed) -> a loaded PIL image. Raises BadImageError, or
    ImageTooLargeError when width x height exceeds `max_pixels` (checked before decoding)."""
    if data.startswith("data:"):
        data = data.partition(",")[2]
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except (ValueError, binascii.Error) as error:
        raise BadImageError(f"{field}: not valid base64 ({error})") from error
    return open_image(raw, max_pixels, field)


def open_image(raw: bytes, max_pixels: int, field: str = "image") -> Image.Image:
    """Encoded bytes -> a loaded PIL image, refusing oversized ones before decoding."""
    try:
        with warnings.catch_warnings():
            # The warning band below Pillow's hard limit is answered by our own cap below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw))  # lazy: reads the header only
    except Image.DecompressionBombError as error:
        raise ImageTooLargeError(
            f"{field}: too many pixels ({error}); the limit is {max_pixels}", max_pixels
        ) from error
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise BadImageError(f"{field}: not an image ({error})") from error
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise ImageTooLargeError(
            f"{field}: {width}x{height} is {width * height} pixels, more than the limit of {max_pixels} "
            "(setting image_max_pixels)",
            max_pixels,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()
    except Image.DecompressionBombError as error:  # e.g. a later frame larger than the first
        raise ImageTooLargeError(
            f"{field}: too many pixels ({error}); the limit is {max_pixels}", max_pixels
        ) from error
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise BadImageError(f"{field}: not a readable image ({error})") from error
    return image
