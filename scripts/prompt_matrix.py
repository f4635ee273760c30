"""A1111's "Prompt matrix": the prompt (or negative prompt) split at `|` into a fixed first part
and optional parts; one picture for every combination of the optional parts (2^(parts-1)), and a
grid whose legends show each column's and row's parts, active black, left-out grey and struck.

Each picture is `p.process(prompt=<combination>, seed=...)`, so its infotext records the prompt
and seed that reproduce it alone; the grid carries the first picture's infotext."""

import math
from typing import Literal

from pydantic import BaseModel, Field

from modules.images.grids import GridLabel, annotate_grid, image_grid
from modules.plugins.scripts import Script
from scripts._grid_output import grid_item
from scripts._results import combine, interrupted, plan_parts

MAX_PARTS = 8  # the fixed part and 7 optional ones: at most 128 pictures


class PromptMatrixArgs(BaseModel):
    # A1111's order (its positional script_args).
    put_at_start: bool = False  # "Put variable parts at start of prompt"
    different_seeds: bool = False  # "Use different seed for each picture"
    prompt_type: Literal["positive", "negative"] = "positive"  # "Select prompt"
    variations_delimiter: Literal["comma", "space"] = "comma"  # "Select joining char"
    margin_size: int = Field(0, ge=0, le=500)  # "Grid margins (px)"


def split_parts(prompt: str) -> list[str]:
    """The `|`-separated parts, limited before any picture is made."""
    parts = prompt.split("|")
    if len(parts) > MAX_PARTS:
        raise ValueError(
            f"the prompt has {len(parts)} '|'-separated parts ({2 ** (len(parts) - 1)} pictures); "
            f"the limit is {MAX_PARTS} parts ({2 ** (MAX_PARTS - 1)} pictures)"
        )
    return parts


def combinations(parts: list[str], put_at_start: bool, delimiter: str) -> list[str]:
    """A1111's prompts: combination n holds optional part k when bit k of n is set; the optional
    parts are stripped of spaces and commas, the fixed part goes first (or last)."""
    optional = parts[1:]
    prompts = []
    for number in range(2 ** len(optional)):
        chosen = [text.strip().strip(",") for bit, text in enumerate(optional) if number & (1 << bit)]
        ordered = [*chosen, parts[0]] if put_at_start else [parts[0], *chosen]
        prompts.append(delimiter.join(ordered))
    return prompts


def legends(parts: list[str]) -> tuple[list[list[GridLabel]], list[list[GridLabel]]]:
    """(column legends, row legends): the first half of the optional parts (rounded up) across the
    top, the rest down the left; a cell's combination number is its column + row * columns."""
    optional = parts[1:]
    boundary = math.ceil(len(optional) / 2)
    across, down = optional[:boundary], optional[boundary:]

    def labels(texts: list[str]) -> list[list[GridLabel]]:
        return [
            [GridLabel(text, is_active=bool(number & (1 << bit))) for bit, text in enumerate(texts)]
            for number in range(1 << len(texts))
        ]

    return labels(across), labels(down)


class PromptMatrix(Script):
    title = "Prompt matrix"
    Args = PromptMatrixArgs

    def ui(self):
        import gradio as gr

        with gr.Row():
            with gr.Column():
                put_at_start = gr.Checkbox(label="Put variable parts at start of prompt", value=False)
                different_seeds = gr.Checkbox(label="Use different seed for each picture", value=False)
            with gr.Column():
                prompt_type = gr.Radio(["positive", "negative"], label="Select prompt", value="positive")
                delimiter = gr.Radio(["comma", "space"], label="Select joining char", value="comma")
            with gr.Column():
                margin = gr.Slider(0, 500, value=0, step=2, label="Grid margins (px)")
        return {
            "put_at_start": put_at_start,
            "different_seeds": different_seeds,
            "prompt_type": prompt_type,
            "variations_delimiter": delimiter,
            "margin_size": margin,
        }

    def run(self, p, args: PromptMatrixArgs):
        request = p.request
        field = "prompt" if args.prompt_type == "positive" else "negative_prompt"
        # The request's own text (styles are applied again to each combination by p.process).
        parts = split_parts(getattr(request, field))
        delimiter = ", " if args.variations_delimiter == "comma" else " "
        prompts = combinations(parts, args.put_at_start, delimiter)
        plan_parts(p, len(prompts))
        results, pictures = [], []
        for number, text in enumerate(prompts):
            if interrupted(p):
                break
            seed = p.seed + (number if args.different_seeds else 0)
            result = p.process(**{field: text}, seed=seed, batch_size=1, n_iter=1)
            results.append(result)
            pictures.extend(result.images[:1])
            if result.interrupted or not result.images:
                break
        combined = combine(p, results, pictures)
        if len(pictures) == len(prompts):  # a grid only of a complete matrix
            first = pictures[0].image
            rows = 1 << ((len(parts) - 1) // 2)
            grid = image_grid([item.image for item in pictures], rows=rows, batch_size=request.batch_size)
            across, down = legends(parts)
            grid = annotate_grid(grid, first.width, first.height, across, down, margin=args.margin_size)
            combined.images.insert(0, grid_item(p, grid, pictures[0], combined))
        return combined
