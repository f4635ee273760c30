"""SD upscale (A1111 v1.10's scripts/sd_upscale.py): the init picture upscaled with the chosen
upscaler, cut into overlapping tiles of the request's width x height, each tile img2img'd, and the
tiles put back together with their overlaps blended.

A1111 semantics kept: with the upscaler "None" the picture keeps its size (only tiled and
redrawn); tiles go `batch_size` at a time; each upscale of the `n_iter` starts at seed + n and each
batch after the first uses the previous batch's seed + 1; the result is one picture per n_iter,
recorded with the first tile's infotext plus "SD upscale overlap" and "SD upscale upscaler".
Differences: a tile is never larger than the picture (A1111 pads it black), and a tile left
unmade by an interruption keeps the upscaled picture's pixels (A1111: black).
"""

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modules.plugins.scripts import Script
from modules.processing.request import MIN_SIZE, SIZE_MULTIPLE
from scripts._img2img_scripts import finished, input_picture, save_finished, seed_plus
from scripts._results import interrupted, plan_parts
from scripts._tiles import check_tile_count, combine_tiles, layout_tiles, split_tiles
from scripts._upscalers import resolve_upscaler, upscale, upscaler_names

INFO = "Will upscale the image by the selected scale factor; use width and height sliders to set tile size"


class SDUpscaleArgs(BaseModel):
    """A1111's script_args order: info (a text shown in the UI, ignored), overlap, upscaler_index
    (the upscaler's index in the list, or its name), scale_factor."""

    model_config = ConfigDict(allow_inf_nan=False)

    info: Any = None
    overlap: int = Field(64, ge=0, le=256)
    upscaler_index: int | str = "None"
    scale_factor: float = Field(2.0, ge=1.0, le=4.0)


def tile_side(request_side: int, picture_side: int) -> int:
    """A tile side: the request's, at most the picture's, on the VAE's 8-pixel grid."""
    side = min(request_side, picture_side) // SIZE_MULTIPLE * SIZE_MULTIPLE
    if side < MIN_SIZE:
        raise ValueError(f"the upscaled picture ({picture_side} pixels) is smaller than the smallest tile ({MIN_SIZE})")
    return side


def upscaled_size(width: int, height: int, upscaler: str, scale: float) -> tuple[int, int]:
    """The upscaled picture's size: the upscalers' round(side x scale); "None" keeps it (A1111)."""
    if upscaler == "None":
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


class SDUpscale(Script):
    title = "SD upscale"
    modes = ("img2img",)
    Args = SDUpscaleArgs
    infotext_fields = {"overlap": "SD upscale overlap", "upscaler_index": "SD upscale upscaler"}

    def ui(self):
        import gradio as gr

        gr.HTML(f'<p style="margin-bottom:0.75em">{INFO}</p>')
        # The app's list when it gives the script its engine; else the upscalers that need no model.
        engine = getattr(self, "engine", None)
        names = list(engine.upscalers.names()) if getattr(engine, "upscalers", None) is not None else upscaler_names()
        return {
            "overlap": gr.Slider(0, 256, value=64, step=16, label="Tile overlap",
                                 elem_id="script_img2img_sd_upscale_overlap"),
            "scale_factor": gr.Slider(1.0, 4.0, value=2.0, step=0.05, label="Scale Factor",
                                      elem_id="script_img2img_sd_upscale_scale_factor"),
            "upscaler_index": gr.Radio(names, value=names[0], label="Upscaler",
                                       elem_id="script_img2img_sd_upscale_upscaler_index"),
        }  # fmt: skip

    def run(self, p, args: SDUpscaleArgs):
        upscaler = resolve_upscaler(upscaler_names(p), args.upscaler_index)
        picture = input_picture(p)
        # Everything is sized and counted before any work: the upscale itself can be long.
        width, height = upscaled_size(picture.width, picture.height, upscaler, args.scale_factor)
        tile_w, tile_h = tile_side(p.width, width), tile_side(p.height, height)
        check_tile_count(layout_tiles(width, height, tile_w, tile_h, args.overlap))

        image = upscale(p, picture, upscaler, args.scale_factor) if upscaler != "None" else picture
        layout = layout_tiles(image.width, image.height, tile_w, tile_h, args.overlap)
        check_tile_count(layout)
        tiles = split_tiles(image, layout)

        batch_size, upscale_count = p.request.batch_size, p.request.n_iter
        batches = math.ceil(len(tiles) / batch_size)
        plan_parts(p, batches * upscale_count)
        first, pictures, stopped = None, [], False
        for n in range(upscale_count):
            seed, made_tiles, record = seed_plus(p.seed, n), [], None
            for index in range(batches):
                if first is not None and interrupted(p):
                    stopped = True
                    break
                chunk = tiles[index * batch_size : (index + 1) * batch_size]
                made = p.process(init_images=chunk, mask=None, width=tile_w, height=tile_h, batch_size=len(chunk),
                                 n_iter=1, seed=seed, save_images=False)  # fmt: skip
                first = first or made
                record = record or made.images[0]
                made_tiles += [item.image for item in made.images][: len(chunk)]
                seed = seed_plus(made.seed, 1)  # A1111: the next batch starts at this batch's seed + 1
                if made.interrupted:
                    stopped = True
                    break
            if record is None:
                break
            pieces = made_tiles + tiles[len(made_tiles) :]
            pictures.append((combine_tiles(layout, pieces), record))
            if stopped:
                break

        params = {"SD upscale overlap": args.overlap, "SD upscale upscaler": upscaler}
        result = finished(first, pictures, params, interrupted=stopped, warnings=[])
        save_finished(p, result)
        return result
