"""Save generated images the way A1111 does: DIR/YYYY-MM-DD/NNNNN-SEED.png with the
infotext in the PNG "parameters" chunk, written atomically."""

import io
import re
import threading
from datetime import date
from pathlib import Path

from PIL import Image, PngImagePlugin

from modules.atomic import write_bytes_atomic

_NUMBERED = re.compile(r"^(\d+)-")


class ImageSaver:
    """Numbers files per folder; one lock so concurrent saves never take the same number."""

    def __init__(self):
        self._lock = threading.Lock()

    def save(self, image: Image.Image, folder: Path, seed: int, infotext: str, today: date | None = None) -> Path:
        day_folder = folder / (today or date.today()).isoformat()
        with self._lock:
            day_folder.mkdir(parents=True, exist_ok=True)
            path = day_folder / f"{next_number(day_folder):05d}-{seed}.png"
            write_bytes_atomic(path, png_bytes(image, infotext))
        return path


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


def read_infotext(image: Image.Image) -> str | None:
    return image.info.get("parameters")
