"""Overlapping tiles of a picture and their recombination (A1111 v1.10's images.split_grid and
combine_grid semantics), for SD upscale and Poor man's outpainting.

Tiles are laid out row by row. Along each axis there are ceil((size - overlap) / (tile - overlap))
tiles, spread evenly so the last one ends at the border (so neighbours overlap by at least
`overlap` pixels). Recombining pastes them in order; the first `overlap` columns of each tile after
the first in a row are blended over what is there with a linear ramp (0 -> nearly 1), and the rows
are joined the same way along y, so no hard seam remains where two tiles meet.
"""

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

# Tiles one job may make (each is a generation): refused beyond this before any work starts.
MAX_TILES = 256


@dataclass(frozen=True)
class TileLayout:
    """Where the tiles of an image_w x image_h picture lie: the x of each column and the y of each
    row (top-left corners), every tile tile_w x tile_h."""

    image_w: int
    image_h: int
    tile_w: int
    tile_h: int
    overlap: int
    xs: tuple[int, ...]
    ys: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.xs) * len(self.ys)

    @property
    def columns(self) -> int:
        return len(self.xs)

    @property
    def rows(self) -> int:
        return len(self.ys)

    def boxes(self) -> list[tuple[int, int, int, int]]:
        """(x1, y1, x2, y2) of each tile, row by row (A1111's order)."""
        return [(x, y, x + self.tile_w, y + self.tile_h) for y in self.ys for x in self.xs]


def tile_starts(size: int, tile: int, overlap: int) -> tuple[int, ...]:
    """The start of each tile along one axis (A1111's split_grid arithmetic)."""
    if tile <= 0 or size <= 0:
        raise ValueError(f"tile size {tile} and picture size {size} must be positive")
    if tile >= size:
        return (0,)  # one tile covers the axis (a larger one is padded by the crop)
    if not 0 <= overlap < tile:
        raise ValueError(f"the tile overlap ({overlap}) must be at least 0 and less than the tile size ({tile})")
    count = math.ceil((size - overlap) / (tile - overlap))
    step = (size - tile) / (count - 1)
    return tuple(min(int(index * step), size - tile) for index in range(count))


def layout_tiles(image_w: int, image_h: int, tile_w: int, tile_h: int, overlap: int) -> TileLayout:
    return TileLayout(image_w, image_h, tile_w, tile_h, overlap,
                      tile_starts(image_w, tile_w, overlap), tile_starts(image_h, tile_h, overlap))  # fmt: skip


def check_tile_count(layout: TileLayout, limit: int = MAX_TILES) -> None:
    if layout.count > limit:
        raise ValueError(
            f"{layout.columns}x{layout.rows} = {layout.count} tiles of {layout.tile_w}x{layout.tile_h} for a "
            f"{layout.image_w}x{layout.image_h} picture is more than the limit of {limit}: raise the width/height "
            "(the tile size), lower the overlap or the scale"
        )


def split_tiles(image: Image.Image, layout: TileLayout) -> list[Image.Image]:
    """The tiles' pictures, in layout order."""
    if image.size != (layout.image_w, layout.image_h):
        raise ValueError(f"picture {image.size} does not match the layout {(layout.image_w, layout.image_h)}")
    return [image.crop(box) for box in layout.boxes()]


def _ramp(length: int, across: int, horizontal: bool) -> Image.Image:
    """An "L" mask rising linearly from 0 over `length` pixels (A1111's r * 255 / overlap)."""
    levels = (np.arange(length, dtype=np.float32) * 255 / length).astype(np.uint8)
    block = np.tile(levels[None, :], (across, 1)) if horizontal else np.tile(levels[:, None], (1, across))
    return Image.fromarray(block, "L")


def combine_tiles(layout: TileLayout, tiles: list[Image.Image]) -> Image.Image:
    """The picture put back together from `tiles` (layout order), seams blended over the overlap."""
    if len(tiles) != layout.count:
        raise ValueError(f"expected {layout.count} tiles, got {len(tiles)}")
    overlap = layout.overlap
    column_ramp = _ramp(overlap, layout.tile_h, horizontal=True) if overlap else None
    row_ramp = _ramp(overlap, layout.image_w, horizontal=False) if overlap else None
    combined = Image.new("RGB", (layout.image_w, layout.image_h))
    for row_index, y in enumerate(layout.ys):
        row = Image.new("RGB", (layout.image_w, layout.tile_h))
        for column_index, x in enumerate(layout.xs):
            tile = tiles[row_index * layout.columns + column_index].convert("RGB")
            if tile.size != (layout.tile_w, layout.tile_h):
                tile = tile.resize((layout.tile_w, layout.tile_h), Image.Resampling.LANCZOS)
            if column_index == 0 or column_ramp is None:
                row.paste(tile, (x, 0))
                continue
            row.paste(tile.crop((0, 0, overlap, layout.tile_h)), (x, 0), mask=column_ramp)
            row.paste(tile.crop((overlap, 0, layout.tile_w, layout.tile_h)), (x + overlap, 0))
        if row_index == 0 or row_ramp is None:
            combined.paste(row, (0, y))
            continue
        combined.paste(row.crop((0, 0, layout.image_w, overlap)), (0, y), mask=row_ramp)
        combined.paste(row.crop((0, overlap, layout.image_w, layout.tile_h)), (0, y + overlap))
    return combined
