"""Poor man's outpainting (A1111 v1.10's scripts/poor_mans_outpainting.py): the canvas grown on
the chosen sides, the new area masked, and the grown picture inpainted tile by tile.

As A1111: the canvas is rounded up to a multiple of 64 and the extra shared among the chosen
sides; the mask keeps the original shrunk by 2 x mask blur at each grown edge and is blurred by
2 x mask blur; the canvas is cut into tiles of the request's size overlapping by "pixels", tiles
wholly inside the original are skipped, the others inpainted one at a time (seed + 1 each) with the
chosen masked content, and the tiles are blended back together. Original pixels outside the
blurred band come back exactly. Differences: a tile is never larger than the canvas, and A1111's
separate, less shrunk latent mask is not used (the latent mask comes from the blurred mask).
"""

from typing import Any

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, field_validator

from modules.plugins.scripts import Script
from modules.processing.request import MASKED_CONTENT
from scripts._img2img_scripts import (
    DIRECTIONS,
    Expansion,
    check_canvas,
    expansion,
    finished,
    input_picture,
    parse_directions,
    save_finished,
    seed_plus,
)
from scripts._results import interrupted, plan_parts
from scripts._tiles import check_tile_count, combine_tiles, layout_tiles, split_tiles

MAX_REQUEST_BLUR = 64  # the request's mask_blur limit


class PoorMansArgs(BaseModel):
    """A1111's script_args order: pixels, mask_blur, inpainting_fill (index or label), direction."""

    model_config = ConfigDict(allow_inf_nan=False)

    pixels: int = Field(128, ge=8, le=256)
    mask_blur: int = Field(4, ge=0, le=64)
    inpainting_fill: int = Field(0, ge=0, le=3)
    direction: list[str] = Field(default_factory=lambda: list(DIRECTIONS))

    @field_validator("inpainting_fill", mode="before")
    @classmethod
    def _fill_label(cls, value: Any) -> Any:
        if isinstance(value, str):
            for index, label in enumerate(MASKED_CONTENT):
                if value.strip().lower() == label:
                    return index
        return value

    @field_validator("direction", mode="before")
    @classmethod
    def _directions(cls, value: Any) -> list[str]:
        return parse_directions(value)


def outpainting_mask(size: tuple[int, int], grown: Expansion, shrink: int) -> Image.Image:
    """ "L", 255 = paint: the grown strips, the original kept but for `shrink` pixels at each grown
    edge (A1111's rectangle, which takes in its far edge)."""
    width, height = size
    levels = np.full((height, width), 255, dtype=np.uint8)
    x0 = grown.left + (shrink if grown.left else 0)
    y0 = grown.up + (shrink if grown.up else 0)
    x1 = width - grown.right - (shrink - 1 if grown.right else 0)
    y1 = height - grown.down - (shrink - 1 if grown.down else 0)
    levels[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = 0
    return Image.fromarray(levels)


def grown_canvas(picture: Image.Image, grown: Expansion) -> Image.Image:
    """The canvas with the picture at (left, up), black strips where it grows (the masked content
    paints them), and on an axis not grown the padding to 64 filled with the picture's edge (A1111
    leaves it black and kept, a black band in the result); that padding is cut off at the end."""
    pad_right = grown.width - grown.left - picture.width if not grown.right else 0
    pad_down = grown.height - grown.up - picture.height if not grown.down else 0
    padded = np.pad(np.asarray(picture.convert("RGB")), ((0, pad_down), (0, pad_right), (0, 0)), mode="edge")
    canvas = Image.new("RGB", (grown.width, grown.height))
    canvas.paste(Image.fromarray(padded), (grown.left, grown.up))
    return canvas


class PoorMansOutpainting(Script):
    title = "Poor man's outpainting"
    modes = ("img2img",)
    Args = PoorMansArgs

    def ui(self):
        import gradio as gr

        prefix = "script_img2img_poor_man_s_outpainting"
        return {
            "pixels": gr.Slider(8, 256, value=128, step=8, label="Pixels to expand", elem_id=f"{prefix}_pixels"),
            "mask_blur": gr.Slider(0, 64, value=4, step=1, label="Mask blur", elem_id=f"{prefix}_mask_blur"),
            "inpainting_fill": gr.Radio(
                list(MASKED_CONTENT), value="fill", label="Masked content", elem_id=f"{prefix}_inpainting_fill"
            ),  # fmt: skip
            "direction": gr.CheckboxGroup(
                list(DIRECTIONS), value=list(DIRECTIONS), label="Outpainting direction", elem_id=f"{prefix}_direction"
            ),  # fmt: skip
        }

    def run(self, p, args: PoorMansArgs):
        picture = input_picture(p)
        grown = expansion(picture.width, picture.height, args.pixels, args.direction)
        check_canvas(grown, 1)
        tile_w, tile_h = min(p.width, grown.width), min(p.height, grown.height)
        layout = layout_tiles(grown.width, grown.height, tile_w, tile_h, args.pixels)
        check_tile_count(layout)

        canvas = grown_canvas(picture, grown)
        # The picture grown only where asked: the padding to 64 of an axis not grown is cut off.
        final_size = (grown.left + picture.width + grown.right, grown.up + picture.height + grown.down)
        shrink = args.mask_blur * 2
        mask = outpainting_mask(canvas.size, grown, shrink)
        box = (grown.left, grown.up, grown.width - grown.right, grown.height - grown.down)  # A1111's "inside"
        tiles, mask_tiles = split_tiles(canvas, layout), split_tiles(mask, layout)
        inside = [x >= box[0] and x2 <= box[2] and y >= box[1] and y2 <= box[3] for x, y, x2, y2 in layout.boxes()]
        work = [index for index, skip in enumerate(inside) if not skip]
        blur = min(shrink, MAX_REQUEST_BLUR)
        warnings = [] if blur == shrink else [f"Poor man's outpainting: mask blur {shrink} limited to {blur}"]

        plan_parts(p, len(work))
        seed, first, stopped = p.seed, None, False
        for index in work:
            if first is not None and interrupted(p):
                stopped = True
                break
            made = p.process(init_images=[tiles[index]], mask=mask_tiles[index], width=tile_w, height=tile_h,
                             batch_size=1, n_iter=1, seed=seed, save_images=False, resize_mode=0,
                             mask_blur=blur, mask_blur_x=None, mask_blur_y=None,
                             inpainting_fill=args.inpainting_fill, inpaint_full_res=False,
                             inpainting_mask_invert=False)  # fmt: skip
            first = first or made
            tiles[index] = made.images[0].image
            seed = seed_plus(made.seed, 1)
            if made.interrupted:
                stopped = True
                break

        params = {"Outpainting script": self.title, "Outpainting pixels": args.pixels,
                  "Outpainting direction": ", ".join(args.direction)}  # fmt: skip
        combined = combine_tiles(layout, tiles).crop((0, 0, *final_size))
        result = finished(first, [(combined, first.images[0])], params, interrupted=stopped, warnings=warnings)
        save_finished(p, result)
        return result
