"""Running an image model over a picture in overlapping tiles, so a large picture fits memory;
the overlaps are blended with linear ramps so no seam shows."""

from collections.abc import Callable

import torch

MAX_TILES = 4096  # checked before the first tile runs


def tile_starts(length: int, tile: int, stride: int) -> list[int]:
    """Start offsets covering [0, length) with tiles of `tile` every `stride`, the last flush with the end."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    return [*starts, length - tile]


def run_tiled(model: Callable[[torch.Tensor], torch.Tensor], pixels: torch.Tensor, scale: int, tile: int,
              overlap: int) -> torch.Tensor:  # fmt: skip
    """`model` maps (1, C, h, w) to (1, C, h*scale, w*scale). `tile` <= 0: the whole picture at once."""
    _, _, height, width = pixels.shape
    if tile <= 0 or (height <= tile and width <= tile):
        return model(pixels)
    overlap = max(0, min(overlap, tile // 2))  # wider overlaps would leave a tile with no centre of its own
    stride = tile - overlap
    ys, xs = tile_starts(height, tile, stride), tile_starts(width, tile, stride)
    if len(ys) * len(xs) > MAX_TILES:
        raise ValueError(f"{len(ys) * len(xs)} tiles of {tile} pixels is more than {MAX_TILES}: raise the tile size")
    out = None
    weights = torch.zeros((1, 1, height * scale, width * scale), dtype=torch.float32, device=pixels.device)
    for y in ys:
        for x in xs:
            piece = pixels[..., y : y + tile, x : x + tile]
            result = model(piece).float()
            if out is None:
                out = torch.zeros((1, result.shape[1], height * scale, width * scale), dtype=torch.float32,
                                  device=pixels.device)  # fmt: skip
            h, w = result.shape[-2:]
            window = _window(h, w, overlap * scale, top=y > 0, left=x > 0, bottom=y + tile < height,
                             right=x + tile < width).to(result.device)  # fmt: skip
            out[..., y * scale : y * scale + h, x * scale : x * scale + w] += result * window
            weights[..., y * scale : y * scale + h, x * scale : x * scale + w] += window
    return (out / weights.clamp_min(1e-8)).to(pixels.dtype)


def _window(height: int, width: int, ramp: int, top: bool, left: bool, bottom: bool, right: bool) -> torch.Tensor:
    """Weights 1 inside, rising linearly across `ramp` pixels on the sides shared with a neighbour
    (never 0, so every pixel has weight even where only this tile covers it)."""
    rows, cols = torch.ones(height), torch.ones(width)
    if ramp > 0:
        rise = (torch.arange(ramp, dtype=torch.float32) + 1) / (ramp + 1)
        n_rows, n_cols = min(ramp, height), min(ramp, width)
        if top:
            rows[:n_rows] = rise[:n_rows]
        if bottom:
            rows[height - n_rows :] = torch.minimum(rows[height - n_rows :], rise[:n_rows].flip(0))
        if left:
            cols[:n_cols] = rise[:n_cols]
        if right:
            cols[width - n_cols :] = torch.minimum(cols[width - n_cols :], rise[:n_cols].flip(0))
    return (rows[:, None] * cols[None, :])[None, None]
