"""Grids as A1111 makes them: the rows rule, legends on the top and left (inactive ones grey and
struck through) with Pillow's bundled font, and grids saved numbered with their infotext."""

from datetime import date

import numpy as np
import pytest
from PIL import Image

from modules.images.grids import (
    GridLabel,
    annotate_grid,
    grid_font,
    grid_layout,
    grid_rows,
    image_grid,
    save_grid,
)
from modules.images.saving import read_generation_text
from tests.conftest import make_engine


def tiles(count, size=(32, 24)):
    return [Image.new("RGB", size, (10 * i, 200 - 10 * i, 7)) for i in range(count)]


@pytest.mark.parametrize(
    ("count", "rows", "batch", "setting", "expected"),
    [
        (6, None, 1, -1, 2),  # autodetect: round(sqrt(6)) = 2
        (9, None, 1, -1, 3),
        (5, None, 1, -1, 2),
        (6, None, 3, 0, 3),  # 0: as many rows as the batch size
        (6, None, 1, 4, 4),  # > 0: that many
        (2, None, 1, 5, 2),  # never more rows than pictures
        (6, 1, 1, 4, 1),  # explicit rows win
    ],
)
def test_rows_rule(count, rows, batch, setting, expected):
    assert grid_rows(count, rows, batch, setting) == expected


def test_pictures_pasted_left_to_right_top_to_bottom():
    pictures = tiles(5)
    grid = image_grid(pictures, rows=2)
    assert grid.size == (3 * 32, 2 * 24)
    for index, picture in enumerate(pictures):
        left, top = index % 3 * 32, index // 3 * 24
        assert grid.crop((left, top, left + 32, top + 24)).tobytes() == picture.tobytes()
    assert grid.getpixel((2 * 32 + 5, 24 + 5)) == (0, 0, 0)  # the empty spot is black
    with pytest.raises(ValueError):
        image_grid([])


def test_legends_pad_top_and_left_and_keep_cells():
    pictures = tiles(6, (64, 64))
    grid = image_grid(pictures, rows=2)
    hor = [[GridLabel(f"Steps: {n}")] for n in (1, 2, 3)]
    ver = [[GridLabel("CFG Scale: 5")], [GridLabel("CFG Scale: 7", is_active=False)]]
    layout = grid_layout(64, 64, hor, ver)
    assert layout.pad_left == 48  # 3/4 of a cell
    assert layout.pad_top > 0
    out = annotate_grid(grid, 64, 64, hor, ver, margin=3)
    assert out.size == (3 * 64 + 2 * 3 + 48, 2 * 64 + 3 + layout.pad_top)
    for index, picture in enumerate(pictures):
        left, top = 48 + (64 + 3) * (index % 3), layout.pad_top + (64 + 3) * (index // 3)
        assert out.crop((left, top, left + 64, top + 64)).tobytes() == picture.tobytes()
    gray = np.asarray(out.convert("L"))
    assert gray[: layout.pad_top, 48:].min() < 100  # black text on top
    assert gray[layout.pad_top + 67 :, :48].min() >= 150  # the inactive row label: grey only
    assert (gray[layout.pad_top + 67 :, :48] < 200).any()  # ...but drawn (and struck through)


def test_no_vertical_text_no_left_column_and_count_checked():
    grid = image_grid(tiles(2, (64, 64)), rows=1)
    out = annotate_grid(grid, 64, 64, [[GridLabel("a")], [GridLabel("b")]], [[GridLabel()]])
    assert out.width == 128
    with pytest.raises(ValueError, match="bad number of horizontal texts"):
        annotate_grid(grid, 64, 64, [[GridLabel("a")]], [[GridLabel()]])


def test_long_labels_wrap_within_the_cell():
    one = grid_layout(64, 64, [[GridLabel("word")]], [[GridLabel()]])
    many = grid_layout(64, 64, [[GridLabel("word " * 12)]], [[GridLabel()]])
    assert many.pad_top > 2 * one.pad_top  # several lines
    assert grid_font(12).size == 12


@pytest.fixture
def grid_engine(tmp_path):
    built = make_engine(tmp_path / "data")
    yield built
    built.queue.shutdown()


def test_save_grid_numbers_and_records_infotext(grid_engine):
    picture = image_grid(tiles(4), rows=2)
    day = date(2026, 1, 2)
    first = save_grid(grid_engine, picture, "txt2img", "a cat\nSteps: 2, X Type: Steps", today=day)
    second = save_grid(grid_engine, picture, "txt2img", "again", today=day)
    folder = grid_engine.paths.outputs_dir / "txt2img-grids" / "2026-01-02"
    assert (first, second) == (folder / "grid-0000.png", folder / "grid-0001.png")
    with Image.open(first) as saved:
        assert read_generation_text(saved) == "a cat\nSteps: 2, X Type: Steps"
        assert saved.tobytes() == picture.tobytes()
    img2img = save_grid(grid_engine, picture, "img2img", "x", today=day)
    assert img2img.parent.parent.name == "img2img-grids"
    assert not list(folder.glob(".*.tmp"))  # atomic: no temp files left


def test_save_grid_honours_settings(grid_engine):
    picture = image_grid(tiles(1), rows=1)
    assert (
        save_grid(grid_engine, picture, "txt2img", "x", settings=grid_engine.settings.snapshot({"grid_save": False}))
        is None
    )
    path = save_grid(
        grid_engine, picture, "txt2img", "params here", settings=grid_engine.settings.snapshot({"grid_format": "jpg"})
    )
    assert path.suffix == ".jpg"
    with Image.open(path) as saved:
        assert read_generation_text(saved) == "params here"
    with pytest.raises(ValueError, match="unknown mode"):
        save_grid(grid_engine, picture, "extras", "x")
