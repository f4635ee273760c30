"""The Outputs tab's listing: real folders of real PNGs with their parameters chunk."""

import os
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from modules.images.output_index import OutputIndex, UnknownOutputError
from modules.images.saving import png_bytes

MAX_PIXELS = 4096 * 4096


def _write(outputs: Path, key: str, seed: int, mtime: float) -> Path:
    path = outputs / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(Image.new("RGB", (8, 8), (seed % 256, 0, 0)), f"a cat\nSteps: 2, Seed: {seed}"))
    os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def outputs(tmp_path):
    root = tmp_path / "outputs"
    _write(root, "txt2img-images/2026-11-28/00000-1.png", 1, 1_000)
    _write(root, "txt2img-images/2026-11-29/00000-2.png", 2, 2_000)
    _write(root, "txt2img-images/2026-11-29/00001-3.png", 3, 3_000)
    _write(root, "img2img-images/2026-11-29/00000-4.png", 4, 2_500)
    _write(root, "txt2img-grids/2026-11-29/grid-0000.png", 5, 3_500)
    return root


def test_lists_every_kind_newest_first(outputs, tmp_path):
    index = OutputIndex(outputs, tmp_path / "trash")
    keys = [entry.key for entry in index.entries()]
    assert keys == [
        "txt2img-grids/2026-11-29/grid-0000.png",
        "txt2img-images/2026-11-29/00001-3.png",
        "img2img-images/2026-11-29/00000-4.png",
        "txt2img-images/2026-11-29/00000-2.png",
        "txt2img-images/2026-11-28/00000-1.png",
    ]


def test_filters_by_kind_and_day(outputs, tmp_path):
    index = OutputIndex(outputs, tmp_path / "trash")
    assert [e.key for e in index.entries("txt2img-images", "2026-11-29")] == [
        "txt2img-images/2026-11-29/00001-3.png",
        "txt2img-images/2026-11-29/00000-2.png",
    ]
    assert index.days("txt2img-images") == ["2026-11-29", "2026-11-28"]
    assert index.entries("extras-images") == []
    with pytest.raises(UnknownOutputError, match="unknown output kind"):
        index.entries("../secrets")


def test_pages_hold_at_most_per_page(outputs, tmp_path):
    index = OutputIndex(outputs, tmp_path / "trash")
    first, last = index.page(1, 2), index.page(3, 2)
    assert (first.pages, first.total, len(first.entries)) == (3, 5, 2)
    assert [e.key for e in last.entries] == ["txt2img-images/2026-11-28/00000-1.png"]
    assert index.page(99, 2).page == 3  # clamped to the last page
    assert index.page(1, 2, kind="extras-images").pages == 1


def test_reads_the_parameters_chunk(outputs, tmp_path):
    index = OutputIndex(outputs, tmp_path / "trash")
    assert index.parameters("txt2img-images/2026-11-29/00001-3.png", MAX_PIXELS) == "a cat\nSteps: 2, Seed: 3"


def test_files_directly_in_the_kind_folder_are_listed_by_their_day(tmp_path):
    root = tmp_path / "outputs"
    _write(root, "extras-images/photo.png", 7, 1_700_000_000)
    (entry,) = OutputIndex(root, tmp_path / "trash").entries("extras-images")
    assert entry.key == "extras-images/photo.png"
    assert entry.day == date.fromtimestamp(1_700_000_000).isoformat()


def test_trash_moves_the_file_and_keeps_an_earlier_one(outputs, tmp_path):
    index = OutputIndex(outputs, tmp_path / "trash")
    key = "txt2img-images/2026-11-29/00000-2.png"
    original = (outputs / key).read_bytes()
    moved = index.trash(key)
    assert moved == tmp_path / "trash" / key
    assert moved.read_bytes() == original and not (outputs / key).exists()
    assert key not in [e.key for e in index.entries()]
    # The same name deleted again (a new image took the number) does not overwrite the first.
    _write(outputs, key, 9, 4_000)
    again = index.trash(key)
    assert again.name == "00000-2-1.png" and moved.read_bytes() == original


@pytest.mark.parametrize(
    "key",
    [
        "../config.json",
        "txt2img-images/../../config.json",
        "txt2img-images/2026-11-29/../../../config.json",
        "/etc/passwd",
        "txt2img-images/2026-11-29/missing.png",
        "",
    ],
)
def test_names_not_listed_are_refused(outputs, tmp_path, key):
    (tmp_path / "config.json").write_text("{}")
    index = OutputIndex(outputs, tmp_path / "trash")
    with pytest.raises(UnknownOutputError):
        index.trash(key)
    with pytest.raises(UnknownOutputError):
        index.parameters(key, MAX_PIXELS)
    assert (tmp_path / "config.json").exists() and not (tmp_path / "trash").exists()


def test_links_and_unfinished_writes_are_not_listed(outputs, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes(Image.new("RGB", (4, 4)), "secret"))
    day = outputs / "txt2img-images" / "2026-11-29"
    (day / "00009-9.png").symlink_to(secret)
    (day / ".00010-1.png.abc.tmp").write_bytes(b"partial")
    (day / "notes.txt").write_text("not a picture")
    keys = [e.key for e in OutputIndex(outputs, tmp_path / "trash").entries("txt2img-images", "2026-11-29")]
    assert keys == ["txt2img-images/2026-11-29/00001-3.png", "txt2img-images/2026-11-29/00000-2.png"]
