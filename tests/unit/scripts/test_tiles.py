"""Tiles of SD upscale and Poor man's outpainting (A1111's split_grid / combine_grid semantics)."""

import math

import numpy as np
import pytest
from PIL import Image

from scripts._tiles import MAX_TILES, check_tile_count, combine_tiles, layout_tiles, split_tiles, tile_starts


def noise_picture(width: int, height: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def test_tile_starts_spread_evenly_and_end_at_the_border():
    # ceil((192 - 16) / (64 - 16)) = 4 tiles, 128 / 3 apart, truncated as A1111's int()
    assert tile_starts(192, 64, 16) == (0, 42, 85, 128)
    assert tile_starts(128, 64, 16) == (0, 32, 64)  # ceil(112 / 48) = 3
    assert tile_starts(112, 64, 16) == (0, 48)
    assert tile_starts(64, 64, 16) == (0,)
    assert tile_starts(50, 64, 16) == (0,)  # one tile covers a smaller picture


@pytest.mark.parametrize(
    ("width", "height", "tile_w", "tile_h", "overlap"),
    [(192, 128, 64, 64, 16), (1024, 768, 512, 512, 64), (300, 200, 96, 64, 32), (777, 333, 128, 96, 0)],
)
def test_layout_count_matches_the_formula_and_tiles_cover_with_overlap(width, height, tile_w, tile_h, overlap):
    layout = layout_tiles(width, height, tile_w, tile_h, overlap)
    columns = math.ceil((width - overlap) / (tile_w - overlap))
    rows = math.ceil((height - overlap) / (tile_h - overlap))
    assert (layout.columns, layout.rows, layout.count) == (columns, rows, columns * rows)
    assert layout.xs[0] == 0 and layout.xs[-1] + tile_w == width
    assert layout.ys[0] == 0 and layout.ys[-1] + tile_h == height
    assert all(b - a <= tile_w - overlap for a, b in zip(layout.xs, layout.xs[1:], strict=False))
    assert all(b - a <= tile_h - overlap for a, b in zip(layout.ys, layout.ys[1:], strict=False))


def test_split_then_combine_gives_the_picture_back_exactly():
    picture = noise_picture(192, 128)
    layout = layout_tiles(192, 128, 64, 64, 16)
    tiles = split_tiles(picture, layout)
    assert len(tiles) == 12 and all(tile.size == (64, 64) for tile in tiles)
    assert np.array_equal(np.asarray(combine_tiles(layout, tiles)), np.asarray(picture))


def neighbour_jump(picture: Image.Image) -> int:
    levels = np.asarray(picture).astype(int)
    return int(max(np.abs(np.diff(levels, axis=1)).max(), np.abs(np.diff(levels, axis=0)).max()))


def test_overlaps_are_blended_linearly_so_no_hard_seam_remains():
    layout = layout_tiles(96, 64, 64, 64, 32)  # two tiles, at x 0 and 32
    assert layout.xs == (0, 32)
    tiles = [Image.new("RGB", (64, 64), (0, 0, 0)), Image.new("RGB", (64, 64), (255, 255, 255))]
    combined = combine_tiles(layout, tiles)
    assert neighbour_jump(combined) <= math.ceil(255 / 32) + 1
    row = np.asarray(combined)[0, :, 0].astype(int)
    assert row[:33].max() == 0  # the first tile alone, then the ramp starting at 0
    assert row[64:].min() == 255  # past the overlap: the second tile as it is
    assert 100 < row[48] < 155  # half-way up the ramp
    assert (np.diff(row) >= 0).all()  # a ramp, never a step back
    # The same tiles without an overlap meet with the full jump: what the blend removes.
    hard = combine_tiles(layout_tiles(128, 64, 64, 64, 0), tiles)
    assert neighbour_jump(hard) == 255


def test_rows_are_blended_too():
    layout = layout_tiles(64, 112, 64, 64, 16)
    assert layout.ys == (0, 48)
    tiles = [Image.new("RGB", (64, 64), (200, 0, 0)), Image.new("RGB", (64, 64), (0, 0, 200))]
    assert neighbour_jump(combine_tiles(layout, tiles)) <= math.ceil(200 / 16) + 1


def test_an_overlap_as_large_as_the_tile_is_refused():
    with pytest.raises(ValueError, match="overlap"):
        layout_tiles(192, 128, 64, 64, 64)


def test_too_many_tiles_are_refused_before_any_work():
    layout = layout_tiles(2048, 2048, 64, 64, 8)
    assert layout.count > MAX_TILES
    with pytest.raises(ValueError, match="limit"):
        check_tile_count(layout)
    check_tile_count(layout_tiles(1024, 1024, 64, 64, 0))  # 16 x 16 = 256: allowed


def test_combine_needs_one_picture_per_tile():
    with pytest.raises(ValueError, match="expected 2 tiles"):
        combine_tiles(layout_tiles(128, 64, 64, 64, 0), [Image.new("RGB", (64, 64))])
