"""The gallery buttons' engine side: Save to the log folder with A1111's log.csv, Zip, the gallery's
PNGs with their parameters, and the command that opens the outputs folder."""

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modules.images.infotext import parse_infotext
from modules.images.output_actions import (
    LOG_COLUMNS,
    OutputPicture,
    log_row,
    open_folder,
    opener_command,
    save_to_log,
    write_gallery_png,
    write_zip,
    zip_bytes,
)

INFOTEXT = ("a red fox, \"quoted\"\nNegative prompt: blurry\nSteps: 3, Sampler: Euler a, CFG scale: 6.5, "
            "Seed: {seed}, Size: 64x48, Model hash: abcd1234, Model: tiny")  # fmt: skip


def picture(seed: int, value: int = 10) -> OutputPicture:
    pixels = np.full((48, 64, 3), value, dtype=np.uint8)
    pixels[0, 0] = (seed % 256, 1, 2)
    return OutputPicture(Image.fromarray(pixels), INFOTEXT.format(seed=seed))


def read_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_log_row_has_a1111_columns_from_the_infotext():
    row = log_row(INFOTEXT.format(seed=5), "00003-5.png")
    assert dict(zip(LOG_COLUMNS, row, strict=True)) == {
        "prompt": 'a red fox, "quoted"', "seed": "5", "width": "64", "height": "48", "sampler": "Euler a",
        "cfgs": "6.5", "steps": "3", "filename": "00003-5.png", "negative_prompt": "blurry",
        "sd_model_name": "tiny", "sd_model_hash": "abcd1234",
    }  # fmt: skip
    assert log_row("", "x.png") == ["", "", "", "", "", "", "", "x.png", "", "", ""]


def test_save_to_log_writes_pngs_with_parameters_and_appends_csv_lines(tmp_path):
    log_dir = tmp_path / "log"
    first = save_to_log([picture(7), picture(8)], log_dir)
    second = save_to_log([picture(9)], log_dir)
    assert [path.name for path in first + second] == ["00000-7.png", "00001-8.png", "00002-9.png"]
    assert all(path.parent == log_dir / "images" for path in first + second)
    with Image.open(second[0]) as saved:
        assert parse_infotext(saved.info["parameters"])["Seed"] == 9
        assert np.array_equal(np.asarray(saved.convert("RGB")), np.asarray(picture(9).image))
    rows = list(csv.reader((log_dir / "log.csv").open(encoding="utf-8", newline="")))
    assert rows[0] == LOG_COLUMNS  # the header once, then one line per picture, in order
    assert [(row[0], row[1], row[7]) for row in rows[1:]] == [
        ('a red fox, "quoted"', "7", "00000-7.png"),
        ('a red fox, "quoted"', "8", "00001-8.png"),
        ('a red fox, "quoted"', "9", "00002-9.png"),
    ]
    assert not [p for p in log_dir.rglob("*") if p.name.endswith(".tmp")]  # nothing half-written left


def test_save_to_log_continues_a_log_without_a_final_newline(tmp_path):
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    (log_dir / "log.csv").write_text("prompt,seed\nold,1", encoding="utf-8")
    save_to_log([picture(2)], log_dir)
    lines = (log_dir / "log.csv").read_text(encoding="utf-8").splitlines()
    assert lines[:2] == ["prompt,seed", "old,1"] and lines[2].startswith('"a red fox, ""quoted""",2,')


def test_unknown_seed_names_the_file_unknown(tmp_path):
    saved = save_to_log([OutputPicture(Image.new("RGB", (8, 8)), "")], tmp_path / "log")
    assert saved[0].name == "00000-unknown.png"


def test_zip_holds_every_png_with_its_parameters_in_gallery_order(tmp_path):
    pictures = [picture(seed, value) for seed, value in ((3, 10), (4, 200), (5, 90))]
    path = write_zip(pictures, tmp_path / "downloads", "images.zip")
    assert path == tmp_path / "downloads" / "images.zip"
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        images = [read_png(archive.read(name)) for name in names]
    assert names == ["00000-3.png", "00001-4.png", "00002-5.png"]
    assert [parse_infotext(image.info["parameters"])["Seed"] for image in images] == [3, 4, 5]
    for image, original in zip(images, pictures, strict=True):
        assert image.format == "PNG"
        assert np.array_equal(np.asarray(image.convert("RGB")), np.asarray(original.image))
    with zipfile.ZipFile(io.BytesIO(zip_bytes([]))) as empty:
        assert empty.namelist() == []


def test_gallery_png_keeps_pixels_and_parameters(tmp_path):
    path = write_gallery_png(picture(11), tmp_path / "gallery" / "00000-11.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (64, 48)
        assert image.info["parameters"] == INFOTEXT.format(seed=11)


@pytest.mark.parametrize(
    ("platform", "found", "expected"),
    [
        ("linux", {"xdg-open": "/usr/bin/xdg-open"}, ["/usr/bin/xdg-open", "/out"]),
        ("darwin", {"open": "/usr/bin/open"}, ["/usr/bin/open", "/out"]),
        ("linux", {}, None),  # no opener: the caller shows the folder's path instead
        ("win32", {"xdg-open": "/usr/bin/xdg-open"}, None),  # os.startfile does it there
    ],
)
def test_opener_command_per_platform(platform, found, expected):
    assert opener_command(Path("/out"), platform, found.get) == expected


def test_open_folder_without_an_opener_names_the_folder(tmp_path, monkeypatch):
    import shutil

    monkeypatch.setattr("sys.platform", "linux")  # Windows would use os.startfile, which always exists
    monkeypatch.setattr(shutil, "which", lambda name: None)  # a machine without xdg-open / open
    folder = tmp_path / "outputs" / "txt2img-images"
    message = open_folder(folder)
    assert message == f"No file manager opener (xdg-open) found: the images are in {folder}"
    assert folder.is_dir()  # made, so the path shown exists
