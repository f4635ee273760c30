"""Save generated images the way A1111 does: DIR/YYYY-MM-DD/NNNNN-SEED.png with the
infotext in the PNG "parameters" chunk, written atomically. A save that fails (full disk,
read-only folder) raises ImageSaveError saying where and why, and leaves no partial file."""

import io
import re
import threading
from datetime import date
from pathlib import Path

from PIL import Image, PngImagePlugin

from modules.atomic import write_bytes_atomic

_NUMBERED = re.compile(r"^(\d+)-")


class ImageSaveError(OSError):
    """An image could not be written; `errno` is the failure's (ENOSPC, EROFS, EACCES, EFBIG)."""

    def __init__(self, message: str, errno: int | None = None):
        super().__init__(message)
        self.errno = errno


class ImageSaver:
    """Numbers files per folder; one lock so concurrent saves never take the same number."""

    def __init__(self):
        self._lock = threading.Lock()

    def save(self, image: Image.Image, folder: Path, seed: int, infotext: str, today: date | None = None) -> Path:
        day_folder = folder / (today or date.today()).isoformat()
        data = png_bytes(image, infotext)
        with self._lock:
            try:
                day_folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise _save_error(day_folder, error, "could not create the folder") from error
            try:
                path = day_folder / f"{next_number(day_folder):05d}-{seed}.png"
            except OSError as error:
                raise _save_error(day_folder, error, "could not read the folder") from error
            try:
                write_bytes_atomic(path, data)
            except OSError as error:
                raise _save_error(path, error, "could not save to") from error
        return path


def _save_error(where: Path, error: OSError, doing: str) -> ImageSaveError:
    return ImageSaveError(f"{doing} {where}: {error.strerror or error}", error.errno)


def next_number(folder: Path) -> int:
    numbers = [int(m[1]) for p in folder.iterdir() if (m := _NUMBERED.match(p.name))]
    return max(numbers, default=-1) + 1


def png_bytes(image: Image.Image, infotext: str | None) -> bytes:
    info = PngImagePlugin.PngInfo()
    if infotext:
        info.add_text("parameters", infotext)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def read_generation_text(image) -> str:
    """The infotext: a PNG's "parameters" chunk, or the EXIF UserComment where A1111 puts it in
    JPEG and WebP files."""
    text = image.info.get("parameters")
    if isinstance(text, str):
        return text
    try:
        comment = image.getexif().get_ifd(0x8769).get(0x9286)  # Exif IFD -> UserComment
    except Exception:  # noqa: BLE001 - unreadable EXIF: no infotext, as A1111 answers
        return ""
    if isinstance(comment, bytes):
        prefix, body = comment[:8], comment[8:]
        if prefix.startswith(b"UNICODE"):
            encoding = "utf-16-le" if body[:2] != b"\x00\x00" and body[1:2] == b"\x00" else "utf-16-be"
            return body.decode(encoding, errors="replace")
        return body.decode("utf-8", errors="replace") if prefix.startswith(b"ASCII") else ""
    return comment if isinstance(comment, str) else ""
