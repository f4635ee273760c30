"""Extras "Create flipped copies" (A1111's postprocessing step): each picture is kept and its
mirror images are added after it, for training sets."""

from typing import Literal

from PIL import Image
from pydantic import BaseModel, Field

from modules.plugins.types import PostprocessingStep, StepContext

DIRECTIONS = ("Horizontal", "Vertical", "Both")
_TRANSPOSE = {
    "Horizontal": Image.Transpose.FLIP_LEFT_RIGHT,
    "Vertical": Image.Transpose.FLIP_TOP_BOTTOM,
    "Both": Image.Transpose.ROTATE_180,  # flipped both ways
}


class FlipArgs(BaseModel):
    directions: list[Literal["Horizontal", "Vertical", "Both"]] = Field(default_factory=lambda: ["Horizontal"])


def flipped_copies(image: Image.Image, args: FlipArgs, context: StepContext) -> list[Image.Image]:
    if not args.directions:
        raise ValueError("choose at least one of Horizontal, Vertical, Both")
    chosen = [name for name in DIRECTIONS if name in args.directions]  # each once, in the menu's order
    return [image, *(image.transpose(_TRANSPOSE[name]) for name in chosen)]


def _controls() -> dict:
    import gradio as gr

    return {"directions": gr.CheckboxGroup(list(DIRECTIONS), value=["Horizontal"], label="Copies",
                                           elem_id="extras_flip_directions")}  # fmt: skip


STEP = PostprocessingStep(name="Create flipped copies", order=4030, run=flipped_copies, Args=FlipArgs, ui=_controls)
