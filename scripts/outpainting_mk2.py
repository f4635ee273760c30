"""Outpainting mk2 (A1111 v1.10's scripts/outpainting_mk_2.py): the canvas grown on the chosen
sides one direction at a time (left, right, up, down), each new strip filled with noise matched to
the picture (scripts/_matched_noise.py) and inpainted.

As A1111: the canvas is rounded up to a multiple of 64 and the extra shared among the chosen
sides; in each pass the picture is pasted on a canvas padded to 64, the mask keeps the picture
shrunk by "mask blur" at the grown edge, the request's mask blur is 4 x "mask blur" along the axes
being grown, the masked content is "original" (the matched noise), and the part processed is the
grown edge's end of the canvas, at most the request's width (left/right) or height (up/down).
Original pixels outside the blurred band come back exactly. Differences: each batch of `n_iter`
uses seed + batch x batch_size (A1111 repeats the same seed), the processed part is cut on the
8-pixel grid, the padding to 64 is the picture's edge and kept (A1111: black and painted, which
bleeds into the picture's far edge), the request's mask blur is at most 64, and A1111's separate
latent mask is not used (the latent mask comes from the blurred mask).
"""

import math
from typing import Any

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, field_validator

from modules.images.grids import image_grid
from modules.plugins.scripts import Script
from scripts._grid_output import grid_item
from scripts._img2img_scripts import (
    DIRECTIONS,
    check_canvas,
    expansion,
    finished,
    input_picture,
    parse_directions,
    save_finished,
    seed_plus,
)
from scripts._matched_noise import matched_noise
from scripts._results import interrupted, plan_parts

INFO = "Recommended settings: Sampling Steps: 80-100, Sampler: Euler a, Denoising strength: 0.8"
MAX_REQUEST_BLUR = 64  # the request's mask_blur_x/y limit


class OutpaintingMk2Args(BaseModel):
    """A1111's script_args order: info (a text shown in the UI, ignored), pixels, mask_blur,
    direction, noise_q (fall-off exponent), color_variation."""

    model_config = ConfigDict(allow_inf_nan=False)

    info: Any = None
    pixels: int = Field(128, ge=8, le=256)
    mask_blur: int = Field(8, ge=0, le=64)
    direction: list[str] = Field(default_factory=lambda: list(DIRECTIONS))
    noise_q: float = Field(1.0, ge=0.0, le=4.0)
    color_variation: float = Field(0.05, ge=0.0, le=1.0)

    @field_validator("direction", mode="before")
    @classmethod
    def _directions(cls, value: Any) -> list[str]:
        return parse_directions(value)


def _ceil64(value: int) -> int:
    return math.ceil(value / 64) * 64


class OutpaintingMk2(Script):
    title = "Outpainting mk2"
    modes = ("img2img",)
    Args = OutpaintingMk2Args

    def ui(self):
        import gradio as gr

        prefix = "script_img2img_outpainting_mk2"
        gr.HTML(f'<p style="margin-bottom:0.75em">{INFO}</p>')
        return {
            "pixels": gr.Slider(8, 256, value=128, step=8, label="Pixels to expand", elem_id=f"{prefix}_pixels"),
            "mask_blur": gr.Slider(0, 64, value=8, step=1, label="Mask blur", elem_id=f"{prefix}_mask_blur"),
            "direction": gr.CheckboxGroup(list(DIRECTIONS), value=list(DIRECTIONS), label="Outpainting direction",
                                          elem_id=f"{prefix}_direction"),
            "noise_q": gr.Slider(0.0, 4.0, value=1.0, step=0.01, label="Fall-off exponent (lower=higher detail)",
                                 elem_id=f"{prefix}_noise_q"),
            "color_variation": gr.Slider(0.0, 1.0, value=0.05, step=0.01, label="Color variation",
                                         elem_id=f"{prefix}_color_variation"),
        }  # fmt: skip

    def run(self, p, args: OutpaintingMk2Args):
        picture = input_picture(p)
        grown = expansion(picture.width, picture.height, args.pixels, args.direction)
        batch_size, batch_count = p.request.batch_size, p.request.n_iter
        check_canvas(grown, batch_size)
        blur_x = args.mask_blur if grown.left or grown.right else 0
        blur_y = args.mask_blur if grown.up or grown.down else 0
        passes = [(name, amount) for name, amount in zip(DIRECTIONS, (grown.left, grown.right, grown.up, grown.down),
                                                         strict=True) if amount > 0]  # fmt: skip
        request_blur = (min(blur_x * 4, MAX_REQUEST_BLUR), min(blur_y * 4, MAX_REQUEST_BLUR))
        warnings = []
        if request_blur != (blur_x * 4, blur_y * 4):
            warnings.append(f"Outpainting mk2: mask blur {args.mask_blur * 4} limited to {MAX_REQUEST_BLUR}")

        plan_parts(p, batch_count * len(passes))
        first, outputs, stopped = None, [], False
        for batch in range(batch_count):
            if first is not None and interrupted(p):
                stopped = True
                break
            seed, images, records = seed_plus(p.seed, batch * batch_size), [picture] * batch_size, None
            for direction, amount in passes:
                images, made = self._expand(p, args, images, direction, amount, (blur_x, blur_y), request_blur, seed)
                first, records = first or made, records or made.images
                if made.interrupted or interrupted(p):
                    stopped = True
                    break
            outputs += list(zip(images, records, strict=False))
            if stopped:
                break

        params = {"Outpainting script": self.title, "Outpainting pixels": args.pixels,
                  "Outpainting direction": ", ".join(args.direction), "Outpainting fall-off exponent": args.noise_q,
                  "Outpainting color variation": args.color_variation}  # fmt: skip
        result = finished(first, outputs, params, interrupted=stopped, warnings=warnings)
        save_finished(p, result)
        if len(result.images) > 1:  # A1111's return_grid (only with several pictures): the grid first
            grid = image_grid([item.image for item in result.images])
            result.images.insert(0, grid_item(p, grid, result.images[0], result))
        return result

    def _expand(self, p, args, images: list[Image.Image], direction: str, amount: int, blur: tuple[int, int],
                request_blur: tuple[int, int], seed: int):  # fmt: skip
        """One direction's pass over the batch's pictures: (the grown pictures, the generation)."""
        is_left, is_right, is_up, is_down = (direction == name for name in DIRECTIONS)
        horizontal = is_left or is_right
        width, height = images[0].size
        grown_w, grown_h = width + (amount if horizontal else 0), height + (0 if horizontal else amount)
        canvas_w, canvas_h = _ceil64(grown_w), _ceil64(grown_h)

        # The mask at the grown size: 255 = paint, the picture kept but for `blur` at the grown edge
        # (A1111's rectangle, which takes in its far edge).
        keep = np.full((grown_h, grown_w), 255, dtype=np.uint8)
        x0 = amount + blur[0] if is_left else 0
        y0 = amount + blur[1] if is_up else 0
        x1 = grown_w - amount - blur[0] + 1 if is_right else grown_w
        y1 = grown_h - amount - blur[1] + 1 if is_down else grown_h
        keep[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = 0
        # Padded to 64 for processing with the picture's edge, kept (A1111 paints black padding,
        # which bleeds into the picture's far edge); the padding is cut off after the pass.
        pad = ((0, canvas_h - grown_h), (0, canvas_w - grown_w))
        mask = Image.fromarray(np.pad(keep, pad, constant_values=0))

        filled, done = [], {}
        for image in images:
            if id(image) in done:  # the batch's first pass: the same picture, the same fill
                filled.append(done[id(image)].copy())
                continue
            canvas = Image.new("RGB", (grown_w, grown_h))
            canvas.paste(image, (amount if is_left else 0, amount if is_up else 0))
            pixels = np.asarray(canvas)
            noised = matched_noise(pixels / 255.0, keep / 255.0, args.noise_q, args.color_variation)
            noised = np.clip(np.rint(noised * 255), 0, 255).astype(np.uint8)
            noised[keep == 0] = pixels[keep == 0]  # the kept pixels exactly, whatever the float rounding
            filled.append(Image.fromarray(np.pad(noised, (*pad, (0, 0)), mode="edge")))
            done[id(image)] = filled[-1]

        part_w = min(p.width, canvas_w) if horizontal else canvas_w
        part_h = canvas_h if horizontal else min(p.height, canvas_h)
        left = 0 if is_left else canvas_w - part_w
        top = 0 if is_up else canvas_h - part_h
        region = (left, top, left + part_w, top + part_h)
        made = p.process(
            init_images=[image.crop(region) for image in filled], mask=mask.crop(region), width=part_w,
            height=part_h, batch_size=len(filled), n_iter=1, seed=seed, save_images=False, resize_mode=0,
            mask_blur=max(request_blur), mask_blur_x=request_blur[0], mask_blur_y=request_blur[1],
            inpainting_fill=1, inpaint_full_res=False, inpainting_mask_invert=False,
        )  # fmt: skip
        grown = []
        for image, item in zip(filled, made.images, strict=False):
            image.paste(item.image, (left, top))
            grown.append(image.crop((0, 0, grown_w, grown_h)))
        return grown, made
