"""Images uploaded through the UI, read by us rather than by Gradio: Gradio's own preprocessing
decodes whatever it is given, so a few hundred bytes declaring 12000x12000 pixels would cost
gigabytes before any limit of ours could speak. Events that take an image set
`preprocess=False` and pass the raw upload here."""

from pathlib import Path

from PIL import Image, ImageOps

from modules.images.decoding import BadImageError, ImageTooLargeError, open_image


class UploadError(ValueError):
    """The upload is too large, not an image, or unreadable: the message says which."""


def upload_path(upload) -> str | None:
    """The file path of a raw Gradio upload (a FileData dict, or a path string), None when empty."""
    if isinstance(upload, dict):
        return upload.get("path") or None
    return str(upload) if upload else None


def upload_bytes(upload) -> bytes | None:
    """The bytes of a raw upload, None when nothing was uploaded; UploadError when unreadable."""
    path = upload_path(upload)
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise UploadError(f"could not read the upload: {error.strerror or error}") from error


def read_upload(upload, max_pixels: int) -> Image.Image | None:
    """A raw upload -> an upright, loaded PIL image (None when nothing was uploaded). The pixel cap is
    checked from the header before decoding; raises UploadError with the reason."""
    raw = upload_bytes(upload)
    if raw is None:
        return None
    try:
        image = open_image(raw, max_pixels)
    except (ImageTooLargeError, BadImageError) as error:
        raise UploadError(str(error)) from error
    # As Gradio's own preprocessing does: phone photos carry their rotation in EXIF.
    return ImageOps.exif_transpose(image)
