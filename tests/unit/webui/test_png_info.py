"""PNG Info's reading of an upload: the infotext from PNG chunks or the EXIF UserComment of JPEG
and WebP (as A1111 writes it), the other text chunks, and the pixel cap before decoding."""

import io

import pytest
from PIL import Image, PngImagePlugin

from modules.images.decoding import BadImageError, ImageTooLargeError
from modules.images.saving import png_bytes
from webui.tabs.png_info import NO_PARAMETERS, ImageMetadata, metadata_html, read_metadata

INFOTEXT = "a cat\nNegative prompt: dog\nSteps: 7, Sampler: Euler, Seed: 1234, Size: 64x48"
CAP = 16_777_216


def encoded_with_user_comment(fmt: str) -> bytes:
    # A1111 (piexif's UserComment.dump, encoding "unicode"): an 8-byte prefix, then UTF-16 big-endian.
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + INFOTEXT.encode("utf-16-be")
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(buffer, format=fmt, exif=exif)
    return buffer.getvalue()


def test_png_parameters_and_other_chunks():
    chunks = PngImagePlugin.PngInfo()
    chunks.add_text("parameters", INFOTEXT)
    chunks.add_text("Comment", "<b>hand</b>")
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG", pnginfo=chunks)
    metadata = read_metadata(buffer.getvalue(), CAP)
    assert metadata == ImageMetadata(INFOTEXT, {"Comment": "<b>hand</b>"})
    shown = metadata_html(metadata)
    assert shown.index("<b>parameters</b>") < shown.index("<b>Comment</b>")
    assert "&lt;b&gt;hand&lt;/b&gt;" in shown and "a cat<br>Negative prompt: dog" in shown
    assert NO_PARAMETERS not in shown


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_exif_user_comment_of_jpeg_and_webp(fmt):
    assert read_metadata(encoded_with_user_comment(fmt), CAP).parameters == INFOTEXT


def test_no_parameters_is_said_above_the_other_chunks():
    assert read_metadata(png_bytes(Image.new("RGB", (8, 8)), None), CAP) == ImageMetadata("", {})
    shown = metadata_html(ImageMetadata("", {"Software": "paint"}))
    assert NO_PARAMETERS in shown and "<b>Software</b>" in shown and "parameters</b>" not in shown


def test_over_the_pixel_cap_refused_before_decoding_and_junk_is_not_an_image():
    raw = png_bytes(Image.new("L", (300, 200)), INFOTEXT)
    with pytest.raises(ImageTooLargeError, match="300x200 is 60000 pixels"):
        read_metadata(raw, 50_000)
    with pytest.raises(BadImageError):
        read_metadata(b"not an image at all", CAP)
