"""The engine side of the buttons under a gallery, as A1111's: "Save" copies pictures into the log
folder (<data_dir>/log/images) and adds a line per picture to log/log.csv; "Zip" packs them into
one archive. Every picture is written as a PNG with its infotext in the "parameters" chunk, under a
name made here (number and seed), never one taken from a request."""

import csv
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from modules.atomic import write_bytes_atomic, write_text_atomic
from modules.config.file_lock import locked
from modules.images.infotext import parse_infotext
from modules.images.saving import next_number, png_bytes

# A1111's log.csv header, in its order.
LOG_COLUMNS = ["prompt", "seed", "width", "height", "sampler", "cfgs", "steps", "filename", "negative_prompt",
               "sd_model_name", "sd_model_hash"]  # fmt: skip


@dataclass(frozen=True)
class OutputPicture:
    """One gallery picture and the infotext that made it."""

    image: Image.Image
    infotext: str

    @property
    def seed(self) -> str:
        seed = parse_infotext(self.infotext).get("Seed") if self.infotext else None
        return str(seed) if isinstance(seed, int) else "unknown"


def log_row(infotext: str, filename: str) -> list[str]:
    """One log.csv line for a picture: A1111's columns read from its infotext ("" when absent)."""
    parsed = parse_infotext(infotext) if infotext else {}

    def value(key: str) -> str:
        found = parsed.get(key)
        return "" if found is None else str(found)

    return [value("Prompt"), value("Seed"), value("Size-1"), value("Size-2"), value("Sampler"), value("CFG scale"),
            value("Steps"), filename, value("Negative prompt"), value("Model"), value("Model hash")]  # fmt: skip


def csv_text(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def save_to_log(pictures: list[OutputPicture], log_dir: Path) -> list[Path]:
    """Write each picture to log_dir/images as NNNNN-SEED.png and add its line to log_dir/log.csv
    (with A1111's header when the file is new). The paths written, in order. Held under a file
    lock: two servers or two clicks never take the same number or lose a line."""
    images_dir = log_dir / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / "log.csv"
    saved: list[Path] = []
    with locked(log_dir / ".log.lock"):
        # The whole file is rewritten atomically: a crash leaves the old log or the new one, never half a line.
        old = log_file.read_text(encoding="utf-8") if log_file.exists() else ""
        rows = [] if old else [LOG_COLUMNS]
        number = next_number(images_dir)
        for picture in pictures:
            path = images_dir / f"{number:05d}-{picture.seed}.png"
            write_bytes_atomic(path, png_bytes(picture.image, picture.infotext))
            saved.append(path)
            rows.append(log_row(picture.infotext, path.name))
            number += 1
        if old and not old.endswith("\n"):
            old += "\n"
        write_text_atomic(log_file, old + csv_text(rows))
    return saved


def zip_bytes(pictures: list[OutputPicture]) -> bytes:
    """A zip of the pictures as PNGs with their parameters, named NNNNN-SEED.png in gallery order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:  # PNGs do not compress further
        for index, picture in enumerate(pictures):
            archive.writestr(f"{index:05d}-{picture.seed}.png", png_bytes(picture.image, picture.infotext))
    return buffer.getvalue()


def write_zip(pictures: list[OutputPicture], folder: Path, name: str) -> Path:
    """The zip written atomically as folder/name (`name` is made by the caller, never a request's)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    write_bytes_atomic(path, zip_bytes(pictures))
    return path


def write_gallery_png(picture: OutputPicture, path: Path) -> Path:
    """The PNG a gallery serves for a picture: its pixels with the "parameters" chunk, so a
    download keeps how it was made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, png_bytes(picture.image, picture.infotext))
    return path


def opener_command(folder: Path, platform: str, which) -> list[str] | None:
    """The command that shows `folder` in the OS file manager (None: none found, or Windows,
    where os.startfile does it). `which` is shutil.which (a parameter so tests choose)."""
    if platform == "win32":
        return None
    program = "open" if platform == "darwin" else "xdg-open"
    found = which(program)
    return [found, str(folder)] if found else None


def open_folder(folder: Path) -> str | None:
    """Show `folder` in the OS file manager; None when started, else a message with its path (the
    caller shows it only to a user on this machine: the server listens on localhost only)."""
    import os
    import shutil
    import subprocess
    import sys

    folder.mkdir(parents=True, exist_ok=True)
    if sys.platform == "win32":
        os.startfile(folder)  # noqa: S606 - a fixed folder of ours, not a request's path
        return None
    command = opener_command(folder, sys.platform, shutil.which)
    if command is None:
        return f"No file manager opener (xdg-open) found: the images are in {folder}"
    try:
        subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)  # fmt: skip
    except OSError as error:
        return f"Could not open the folder ({error.strerror or error}): the images are in {folder}"
    return None
