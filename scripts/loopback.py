"""A1111's "Loopback" (img2img): each loop's picture is the next loop's init image, the denoising
strength moving from the request's to the final one along a curve; batch count repeats the chain.

As A1111: the seed goes up by one every loop (across chains too), batch size is 1, from the
second loop on the masked content is "original"; with one chain every loop's picture is kept,
with several the last of each; a grid of them (one row) comes first when there are two or more.
Each picture's infotext records its own denoising strength and seed; "Final denoising strength"
and "Denoising curve" record the script's arguments."""

import math
from typing import Literal

from pydantic import BaseModel, Field

from modules.images.grids import image_grid
from modules.images.resize_modes import resize_image
from modules.plugins.scripts import Script
from scripts._grid_output import grid_item
from scripts._results import combine, interrupted, plan_parts, setting

MAX_LOOPS = 32
CURVES = ("Aggressive", "Linear", "Lazy")


class LoopbackArgs(BaseModel):
    # A1111's order (its positional script_args).
    loops: int = Field(4, ge=1, le=MAX_LOOPS)
    final_denoising_strength: float = Field(0.5, ge=0.0, le=1.0)
    denoising_curve: Literal["Aggressive", "Linear", "Lazy"] = "Linear"
    # A1111 can append an interrogated prompt each loop; there is no interrogator here.
    append_interrogation: Literal["None"] = "None"


def loop_strengths(initial: float, final: float, loops: int, curve: str) -> list[float]:
    """The denoising strength of each loop: A1111's change (final - initial) scaled by the
    curve at progress loop / (loops - 1): Linear as is, Aggressive sin (most change early), Lazy
    1 - cos (most change late). One loop keeps the initial strength."""
    if curve not in CURVES:
        raise ValueError(f"unknown denoising curve {curve!r}; choose one of {', '.join(CURVES)}")
    if loops == 1:
        return [initial]
    strengths = []
    for loop in range(loops):
        progress = loop / (loops - 1)
        if curve == "Aggressive":
            shaped = math.sin(progress * math.pi * 0.5)
        elif curve == "Lazy":
            shaped = 1 - math.cos(progress * math.pi * 0.5)
        else:
            shaped = progress
        strengths.append(initial + (final - initial) * shaped)
    return strengths


class Loopback(Script):
    title = "Loopback"
    modes = ("img2img",)
    Args = LoopbackArgs
    infotext_fields = {"final_denoising_strength": "Final denoising strength", "denoising_curve": "Denoising curve"}

    def ui(self):
        import gradio as gr

        return {
            "loops": gr.Slider(1, MAX_LOOPS, value=4, step=1, label="Loops"),
            "final_denoising_strength": gr.Slider(0, 1, value=0.5, step=0.01, label="Final denoising strength"),
            "denoising_curve": gr.Dropdown(list(CURVES), value="Linear", label="Denoising strength curve"),
            "append_interrogation": gr.Dropdown(
                ["None"], value="None", label="Append interrogated prompt at each iteration"
            ),
        }

    def run(self, p, args: LoopbackArgs):
        request = p.request
        if not request.init_images:
            raise ValueError("Loopback needs an init image")
        strengths = loop_strengths(
            request.denoising_strength, args.final_denoising_strength, args.loops, args.denoising_curve
        )
        chains = request.n_iter
        plan_parts(p, args.loops * chains)
        seed = p.seed
        results, kept = [], []
        for _chain in range(chains):
            init, mask, last = list(request.init_images), request.mask, None
            for loop, strength in enumerate(strengths):
                if interrupted(p):
                    break
                overrides = {"init_images": init, "denoising_strength": strength, "seed": seed}
                overrides.update(batch_size=1, n_iter=1)
                if loop > 0:
                    overrides["inpainting_fill"] = 1  # "original": the masked area starts from the last loop
                    if mask is not None:
                        overrides["mask"] = mask = _fitted_mask(mask, init[0], request.resize_mode)
                result = p.process(**overrides)
                results.append(result)
                if not result.images:
                    break
                seed = result.seed + 1
                last = result.images[0]
                init = [last.image]
                if chains == 1:
                    kept.append(last)
                if result.interrupted:
                    break
            if chains > 1 and last is not None:
                kept.append(last)
            if interrupted(p) or (results and results[-1].interrupted):
                break
        combined = combine(p, results, kept)
        if len(kept) > 1:
            grid = image_grid([item.image for item in kept], rows=1)
            item = grid_item(p, grid, kept[0], combined)
            if setting(p, "return_grid", True):
                combined.images.insert(0, item)
        return combined


def _fitted_mask(mask, init, resize_mode: int):
    """The mask at the size of the next loop's init image (the last loop's picture), fitted the
    way the first init image was, so it marks the same area."""
    if mask.size == init.size:
        return mask
    return resize_image(mask, resize_mode, init.width, init.height)
