"""Past outputs on disk, for the Outputs tab: listed newest first by kind and day, paged, read
for their parameters, and moved to the trash.

A client never names a file by path: it names an entry's key ("txt2img-images/2026-11-30/00001-5.png"),
which is looked up in a fresh listing, so a key that is not listed (or reaches outside outputs/)
is refused before any file is touched. Links are not listed: a link in outputs/ could point anywhere.
"""

import os
import re
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from modules.images.decoding import open_image
from modules.images.saving import read_generation_text

# A1111's output folders, in the order its UI names them.
OUTPUT_KINDS = ("txt2img-images", "img2img-images", "extras-images", "txt2img-grids", "img2img-grids")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class UnknownOutputError(LookupError):
    """A name that is not one of the listed outputs."""


@dataclass(frozen=True)
class OutputEntry:
    kind: str
    day: str  # the dated folder's name; for a file directly in the kind's folder, its modification day
    path: Path
    mtime: float
    key: str  # how clients name it: the path below outputs/, with "/"

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class OutputPage:
    entries: list[OutputEntry]
    page: int  # 1-based, clamped into 1..pages
    pages: int  # at least 1, also when nothing is listed
    total: int


class OutputIndex:
    """The outputs under `outputs_dir`; deleted ones go to `trash_dir` with the same relative path."""

    def __init__(self, outputs_dir: Path, trash_dir: Path):
        self.outputs_dir = Path(outputs_dir)
        self.trash_dir = Path(trash_dir)

    def entries(self, kind: str | None = None, day: str | None = None) -> list[OutputEntry]:
        """Newest first (by day, then modification time, then name). `kind`/`day` None: all."""
        if kind is not None and kind not in OUTPUT_KINDS:
            raise UnknownOutputError(f"unknown output kind {kind!r}; one of: {', '.join(OUTPUT_KINDS)}")
        found = []
        for each_kind in (kind,) if kind else OUTPUT_KINDS:
            found.extend(entry for entry in self._scan_kind(each_kind) if day is None or entry.day == day)
        found.sort(key=lambda entry: (entry.day, entry.mtime, entry.name), reverse=True)
        return found

    def days(self, kind: str | None = None) -> list[str]:
        """The days that have outputs (of `kind`), newest first."""
        return sorted({entry.day for entry in self.entries(kind)}, reverse=True)

    def page(self, page: int, per_page: int, kind: str | None = None, day: str | None = None) -> OutputPage:
        if per_page < 1:
            raise ValueError(f"per_page must be at least 1, not {per_page}")
        listed = self.entries(kind, day)
        pages = max(1, -(-len(listed) // per_page))
        page = min(max(1, int(page)), pages)
        start = (page - 1) * per_page
        return OutputPage(listed[start : start + per_page], page, pages, len(listed))

    def find(self, key: str) -> OutputEntry:
        """The listed entry named `key`; UnknownOutputError for anything else."""
        parts = str(key or "").split("/")
        kind = parts[0] if parts and parts[0] in OUTPUT_KINDS else None
        if kind is not None:
            for entry in self._scan_kind(kind):
                if entry.key == key:
                    return entry
        raise UnknownOutputError(f"{key!r} is not one of the listed outputs (deleted meanwhile?)")

    def parameters(self, key: str, max_pixels: int) -> str:
        """The entry's infotext ("" when it has none). Raises UnknownOutputError, or the decoder's
        ImageTooLargeError / BadImageError for a file that is not a usable picture."""
        return read_generation_text(open_image(self.find(key).path.read_bytes(), max_pixels, key))

    def trash(self, key: str) -> Path:
        """Move the entry into the trash (same path below it; a number added when the trash already
        holds that name) and return where it went."""
        entry = self.find(key)
        target = self.trash_dir / entry.key
        target.parent.mkdir(parents=True, exist_ok=True)
        stem, suffix, number = target.stem, target.suffix, 1
        while target.exists():
            target = target.with_name(f"{stem}-{number}{suffix}")
            number += 1
        try:
            os.replace(entry.path, target)
        except OSError as error:
            if error.errno != 18:  # EXDEV: the trash is on another file system; copy then remove
                raise
            shutil.move(str(entry.path), str(target))
        return target

    def _scan_kind(self, kind: str) -> list[OutputEntry]:
        folder = self.outputs_dir / kind
        found = []
        for item in _scan(folder):
            if item.is_dir(follow_symlinks=False) and _DAY.match(item.name):
                found.extend(OutputEntry(kind, item.name, Path(pic.path), mtime, f"{kind}/{item.name}/{pic.name}")
                             for pic, mtime in _pictures(item.path))  # fmt: skip
            elif _is_picture(item):
                mtime = item.stat(follow_symlinks=False).st_mtime
                day = date.fromtimestamp(mtime).isoformat()
                found.append(OutputEntry(kind, day, Path(item.path), mtime, f"{kind}/{item.name}"))
        return found


def _scan(folder) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as listing:
            return list(listing)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _pictures(folder) -> list[tuple[os.DirEntry, float]]:
    return [(item, item.stat(follow_symlinks=False).st_mtime) for item in _scan(folder) if _is_picture(item)]


def _is_picture(item: os.DirEntry) -> bool:
    # Hidden names are atomic writes in progress (".name.tmp") or not ours.
    return (
        not item.name.startswith(".")
        and item.name.lower().endswith(IMAGE_SUFFIXES)
        and item.is_file(follow_symlinks=False)
    )
