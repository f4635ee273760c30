"""The img2img tab's pictures, read from raw Gradio values (preprocess=False) within the pixel cap:
an uploaded image, an image editor's background / painted layers / composite, and the init image
and mask each sub-tab makes of them (A1111 v1.10's rules). Also the "Resize by" size and label.

No Gradio here: values are the FileData dicts (or paths) the browser sent, and PIL images."""

import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageChops, ImageEnhance, ImageFilter

from modules.images.decoding import BadImageError, ImageTooLargeError, open_image
from modules.images.masks import mask_from_upload
from modules.images.uploads import UploadError, read_upload, upload_bytes, upload_path
from modules.processing.request import MAX_SIZE, MIN_SIZE, SIZE_MULTIPLE

# The sub-tabs (A1111's names), by the id the UI and the send-to buttons use.
MODES = {
    "img2img": "img2img",
    "sketch": "Sketch",
    "inpaint": "Inpaint",
    "inpaint_sketch": "Inpaint sketch",
    "inpaint_upload": "Inpaint upload",
    "batch": "Batch",
}
# Sub-tabs whose request has a mask: the mask controls are shown for them (Batch: with a mask folder).
MASK_MODES = ("inpaint", "inpaint_sketch", "inpaint_upload", "batch")
# A1111's create_binary_mask: a painted mask layer counts where its alpha is above this.
PAINTED_ALPHA = 128
# Image editors upload their state on every stroke; Gradio keeps each upload until an event reads
# it by id, which events that read the editor unprocessed never do. The newest few are kept.
KEPT_EDITOR_UPLOADS = 8


class NoPicture(ValueError):
    """The sub-tab has no picture (or no mask) to start from: the message says what to do."""


@dataclass
class EditorImages:
    """An image editor's value: its background, painted layers and what the user sees (composite)."""

    background: Image.Image | None = None
    layers: list[Image.Image] = field(default_factory=list)
    composite: Image.Image | None = None


def _open(raw: bytes | None, max_pixels: int, what: str) -> Image.Image | None:
    if raw is None:
        return None
    try:
        return open_image(raw, max_pixels, what)
    except (ImageTooLargeError, BadImageError) as error:
        raise UploadError(str(error)) from error


def take_editor_uploads(storage: dict | None, upload_id, *, keep: bool = False) -> object | None:
    """The editor upload `upload_id` from Gradio's store (None when absent), taken out of it unless
    `keep` (a size check leaves it for Generate), and the store trimmed to its newest
    KEPT_EDITOR_UPLOADS entries so strokes do not pile up in memory."""
    if storage is None:
        return None
    taken = (storage.get if keep else storage.pop)(upload_id, None) if upload_id else None
    for stale in list(storage)[:-KEPT_EDITOR_UPLOADS]:
        storage.pop(stale, None)
    return taken


def read_editor(payload, max_pixels: int, storage: dict | None = None) -> EditorImages:
    """A raw ImageEditor value -> its pictures, each decoded within `max_pixels` (UploadError
    otherwise). The browser sends either files (FileData dicts) or, after a stroke, the id of an
    upload the editor made to Gradio's store (`storage`, the component's blob_storage)."""
    if not isinstance(payload, dict):
        return EditorImages()
    blobs = take_editor_uploads(storage, payload.get("id"))
    if payload.get("background") is None and payload.get("composite") is None and blobs is not None:
        layers = [_open(raw, max_pixels, f"layer {i}") for i, raw in enumerate(getattr(blobs, "layers", []) or [])]
        return EditorImages(
            _open(getattr(blobs, "background", None), max_pixels, "background"),
            [layer for layer in layers if layer is not None],
            _open(getattr(blobs, "composite", None), max_pixels, "composite"),
        )
    layers = [_open(upload_bytes(item), max_pixels, f"layer {i}") for i, item in enumerate(payload.get("layers") or [])]
    return EditorImages(
        _open(upload_bytes(payload.get("background")), max_pixels, "background"),
        [layer for layer in layers if layer is not None],
        _open(upload_bytes(payload.get("composite")), max_pixels, "composite"),
    )


def painted_mask(layers: list[Image.Image], size: tuple[int, int], threshold: int = PAINTED_ALPHA) -> Image.Image:
    """The union of the painted layers' strokes as an "L" mask (255 = painted): alpha above
    `threshold`. A layer of another size than the picture (`size`) would mark the wrong pixels."""
    mask = Image.new("L", size, 0)
    for index, layer in enumerate(layers):
        if layer.size != size:
            raise UploadError(f"layer {index} is {layer.width}x{layer.height}, the picture {size[0]}x{size[1]}")
        if "A" not in layer.getbands():
            continue  # an opaque layer carries no strokes of its own
        alpha = np.asarray(layer.getchannel("A"))
        mask = ImageChops.lighter(mask, Image.fromarray(np.where(alpha > threshold, 255, 0).astype(np.uint8)))
    return mask


def _picture(editor: EditorImages) -> Image.Image:
    picture = editor.background or editor.composite
    if picture is None:
        raise NoPicture("Upload an image first (or send one here from a gallery)")
    return picture


def sketch_init(editor: EditorImages) -> Image.Image:
    """Sketch: the drawing over the picture (the composite) is the init image."""
    _picture(editor)
    return editor.composite if editor.composite is not None else editor.background


def inpaint_inputs(editor: EditorImages) -> tuple[Image.Image, Image.Image]:
    """Inpaint: the picture is the init image; the brush strokes (alpha above 128, as A1111's
    create_binary_mask reads a mask layer) are the mask."""
    picture = _picture(editor)
    mask = painted_mask(editor.layers, picture.size)
    if mask.getbbox() is None:
        raise NoPicture("Paint over the area to repaint with the brush first (the mask is empty)")
    return picture, mask


def inpaint_sketch_inputs(editor: EditorImages, transparency: float, blur: float) -> tuple[Image.Image, Image.Image]:
    """Inpaint sketch (A1111 v1.10): every painted pixel is masked, dimmed by "Mask transparency"
    (percent); the init image is the drawing, its painted area softened into the picture through
    the mask blurred by "Mask blur"."""
    picture = _picture(editor)
    drawn = sketch_init(editor)
    mask = painted_mask(editor.layers, picture.size, threshold=0)
    if mask.getbbox() is None:
        raise NoPicture("Paint over the area to repaint first (nothing is drawn)")
    mask = ImageEnhance.Brightness(mask).enhance(1 - float(transparency) / 100)
    if blur > 0:
        soften = ImageFilter.GaussianBlur(float(blur))
        drawn = drawn.convert("RGBA")
        drawn = Image.composite(drawn.filter(soften), picture.convert("RGBA"), mask.filter(soften))
    return drawn, mask


def inpaint_upload_inputs(image_upload, mask_upload, max_pixels: int) -> tuple[Image.Image, Image.Image]:
    """Inpaint upload: the image and a separate mask file (white = repaint; or painted strokes
    over transparency, alpha above 128), each read within the pixel cap."""
    picture = read_upload(image_upload, max_pixels)
    if picture is None:
        raise NoPicture("Upload the image to inpaint first")
    mask_picture = read_upload(mask_upload, max_pixels)
    if mask_picture is None:
        raise NoPicture("Upload a mask too (white = the area to repaint)")
    return picture, mask_from_upload(mask_picture, transparent_is_masked=False)


def upload_size(upload) -> tuple[int, int] | None:
    """An upload's size as shown upright, from its header only (None when unreadable): for the
    "Resize by" label, which must not cost a decode."""
    path = upload_path(upload)
    if path is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return _upright_size(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def bytes_size(raw: bytes | None) -> tuple[int, int] | None:
    if raw is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as image:
                return _upright_size(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def editor_size(payload, storage: dict | None = None) -> tuple[int, int] | None:
    """The size of an ImageEditor's picture (background, else composite) from a raw value."""
    if not isinstance(payload, dict):
        return None
    for key in ("background", "composite"):
        if payload.get(key) is not None:
            return upload_size(payload[key])
    blobs = take_editor_uploads(storage, payload.get("id"), keep=True)
    for key in ("background", "composite"):
        size = bytes_size(getattr(blobs, key, None))
        if size is not None:
            return size
    return None


def _upright_size(image: Image.Image) -> tuple[int, int]:
    # EXIF orientations 5-8 are quarter turns: the upright picture has width and height swapped.
    orientation = image.getexif().get(0x0112, 1)
    return (image.height, image.width) if orientation in (5, 6, 7, 8) else image.size


def scaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """The "Resize by" size: the picture's size times `scale`, each side rounded down to a multiple of 8
    (A1111's rule)."""
    scaled_w, scaled_h = int(width * scale), int(height * scale)
    return scaled_w - scaled_w % SIZE_MULTIPLE, scaled_h - scaled_h % SIZE_MULTIPLE


def resize_label(size: tuple[int, int] | None, scale: float) -> str:
    """The live "Resize by" text: "resize: from 96x64 to 144x96" (A1111's words)."""
    if not size:
        return "no image selected"
    width, height = scaled_size(size[0], size[1], float(scale))
    return f"resize: from {size[0]}x{size[1]} to {width}x{height}"


def detected_size(size: tuple[int, int] | None) -> tuple[int, int] | None:
    """The "Auto detect size" button: the picture's size as the nearest sizes the sliders take."""
    if not size:
        return None

    def fit(side: int) -> int:
        return min(MAX_SIZE, max(MIN_SIZE, round(side / SIZE_MULTIPLE) * SIZE_MULTIPLE))

    return fit(size[0]), fit(size[1])


def label_of(labels: tuple[str, ...], value) -> str | None:
    """A pasted value (an index, a bool for the two-choice ones, or a label in any case) -> the
    radio's label; None when it names none of them."""
    if isinstance(value, bool):
        return labels[int(value)] if len(labels) == 2 else None
    if isinstance(value, int):
        return labels[value] if 0 <= value < len(labels) else None
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return label_of(labels, int(text))
        for label in labels:
            if label.lower() == text.lower():
                return label
    return None
