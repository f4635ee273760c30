"""Extras "Auto-sized crop" (A1111's postprocessing step): the picture is resized and
centre-cropped to the best size on a 64-pixel grid within the bounds, whose aspect is close
enough to the picture's; a picture no such size fits is left as it is."""

from typing import Literal

from PIL import Image
from pydantic import BaseModel, Field, model_validator

from modules.plugins.types import PostprocessingStep, StepContext

OBJECTIVES = ("Maximize area", "Minimize error")
GRID = 64


class AutoCropArgs(BaseModel):
    min_dimension: int = Field(384, ge=64, le=2048)
    max_dimension: int = Field(768, ge=64, le=2048)
    min_area: int = Field(64 * 64, ge=64 * 64, le=2048 * 2048)
    max_area: int = Field(640 * 640, ge=64 * 64, le=2048 * 2048)
    objective: Literal["Maximize area", "Minimize error"] = "Maximize area"
    threshold: float = Field(0.1, ge=0.0, le=1.0)  # the largest aspect error accepted

    @model_validator(mode="after")
    def _bounds_in_order(self) -> "AutoCropArgs":
        if self.min_dimension > self.max_dimension:
            raise ValueError(f"dimension lower bound {self.min_dimension} is above the upper {self.max_dimension}")
        if self.min_area > self.max_area:
            raise ValueError(f"area lower bound {self.min_area} is above the upper {self.max_area}")
        return self


def aspect_error(image_size: tuple[int, int], size: tuple[int, int]) -> float:
    """0 for the same aspect, towards 1 the further apart (1 - the smaller over the larger ratio)."""
    ratio = (image_size[0] / image_size[1]) / (size[0] / size[1])
    return 1.0 - (ratio if ratio < 1 else 1 / ratio)


def best_size(image_size: tuple[int, int], args: AutoCropArgs) -> tuple[int, int] | None:
    sides = range(args.min_dimension, args.max_dimension + 1, GRID)
    sizes = [(w, h) for w in sides for h in sides if args.min_area <= w * h <= args.max_area]
    fits = [size for size in sizes if aspect_error(image_size, size) <= args.threshold]
    if not fits:
        return None
    if args.objective == "Maximize area":
        return max(fits, key=lambda size: (size[0] * size[1], -aspect_error(image_size, size)))
    return max(fits, key=lambda size: (-aspect_error(image_size, size), size[0] * size[1]))


def cover_and_crop(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Resized to cover `size`, then its centre cut out."""
    width, height = size
    scale = max(width / image.width, height / image.height)
    covered = image.resize((max(width, round(image.width * scale)), max(height, round(image.height * scale))),
                           Image.Resampling.LANCZOS)  # fmt: skip
    left, top = (covered.width - width) // 2, (covered.height - height) // 2
    return covered.crop((left, top, left + width, top + height))


def autosized_crop(image: Image.Image, args: AutoCropArgs, context: StepContext) -> Image.Image:
    size = best_size(image.size, args)
    return image if size is None else cover_and_crop(image, size)


def _controls() -> dict:
    import gradio as gr

    return {
        "min_dimension": gr.Slider(
            64, 2048, value=384, step=8, label="Dimension lower bound", elem_id="extras_autocrop_min_dim"
        ),
        "max_dimension": gr.Slider(
            64, 2048, value=768, step=8, label="Dimension upper bound", elem_id="extras_autocrop_max_dim"
        ),
        "min_area": gr.Slider(
            64 * 64, 2048 * 2048, value=64 * 64, step=1, label="Area lower bound", elem_id="extras_autocrop_min_area"
        ),
        "max_area": gr.Slider(
            64 * 64, 2048 * 2048, value=640 * 640, step=1, label="Area upper bound", elem_id="extras_autocrop_max_area"
        ),
        "objective": gr.Radio(
            list(OBJECTIVES), value=OBJECTIVES[0], label="Resizing objective", elem_id="extras_autocrop_objective"
        ),
        "threshold": gr.Slider(
            0.0, 1.0, value=0.1, step=0.01, label="Error threshold", elem_id="extras_autocrop_threshold"
        ),
    }


STEP = PostprocessingStep(name="Auto-sized crop", order=4020, run=autosized_crop, Args=AutoCropArgs, ui=_controls)
