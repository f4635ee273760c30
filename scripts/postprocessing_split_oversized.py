"""Extras "Split oversized images" (A1111's postprocessing step): a picture much longer than the
target aspect is resized to the target's short side and cut along its long side into
overlapping parts of the target size."""

import math

from PIL import Image
from pydantic import BaseModel, Field

from modules.plugins.types import PostprocessingStep, StepContext


class SplitArgs(BaseModel):
    split_threshold: float = Field(0.5, ge=0.0, le=1.0)  # split when aspect(picture) / aspect(target) is below
    overlap_ratio: float = Field(0.2, ge=0.0, le=0.9)  # share of a part that overlaps the next


def split_oversized(image: Image.Image, args: SplitArgs, context: StepContext) -> list[Image.Image]:
    if context.target_size is None:
        raise ValueError("needs a target size (the Upscale section's size)")
    width, height = context.target_size
    tall = image.height > image.width
    # How far the picture's aspect is from the target's, along its long side: 1 is the same shape.
    ratio = (image.width * height) / (image.height * width) if tall else (image.height * width) / (image.width * height)
    if ratio >= 1.0 or ratio > args.split_threshold:
        return [image]
    return split_parts(image, (width, height), args.overlap_ratio, tall)


def split_parts(image: Image.Image, size: tuple[int, int], overlap: float, tall: bool) -> list[Image.Image]:
    """Resize to the target's width (tall) or height (wide), then equal parts spread evenly from one
    end to the other, each overlapping the next by about `overlap` of a part."""
    width, height = size
    if tall:
        long_side = max(height, round(image.height * width / image.width))
        resized, part = image.resize((width, long_side), Image.Resampling.LANCZOS), height
    else:
        long_side = max(width, round(image.width * height / image.height))
        resized, part = image.resize((long_side, height), Image.Resampling.LANCZOS), width
    count = max(1, math.ceil((long_side - part * overlap) / (part * (1.0 - overlap))))
    step = (long_side - part) / (count - 1) if count > 1 else 0
    parts = []
    for index in range(count):
        start = int(step * index)
        box = (0, start, width, start + part) if tall else (start, 0, start + part, height)
        parts.append(resized.crop(box))
    return parts


def _controls() -> dict:
    import gradio as gr

    return {
        "split_threshold": gr.Slider(
            0.0, 1.0, value=0.5, step=0.05, label="Threshold", elem_id="extras_split_threshold"
        ),
        "overlap_ratio": gr.Slider(
            0.0, 0.9, value=0.2, step=0.05, label="Overlap ratio", elem_id="extras_split_overlap"
        ),
    }


STEP = PostprocessingStep(name="Split oversized images", order=4000, run=split_oversized, Args=SplitArgs,
                          ui=_controls)  # fmt: skip
