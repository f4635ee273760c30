"""The row above a generation tab's settings: the prompt boxes (with styles and extra networks),
Generate / Interrupt / Skip and "Read parameters"; and the seed row under the sliders."""

from dataclasses import dataclass

import gradio as gr

from modules.engine import Engine
from modules.processing.request import GenerationRequest
from webui.components.extra_networks import build_extra_networks_row
from webui.components.field_group import number_for
from webui.components.prompt_box import PromptBox, build_prompt_box


@dataclass
class TopRow:
    box: PromptBox
    generate: gr.Button
    interrupt: gr.Button
    skip: gr.Button
    paste: gr.Button
    # A PNG dropped onto the prompt box lands here (webui/static/png_drop.js) and is read as a paste.
    png_drop: gr.File


def build_top_row(engine: Engine, tab: str) -> TopRow:
    with gr.Row(elem_id=f"{tab}_toprow"):
        box = build_prompt_box(engine, tab)
        with gr.Column(scale=1, min_width=160):
            generate = gr.Button("Generate", variant="primary", elem_id=f"{tab}_generate")
            with gr.Row():
                interrupt = gr.Button("Interrupt", elem_id=f"{tab}_interrupt", min_width=60)
                skip = gr.Button("Skip", elem_id=f"{tab}_skip", min_width=60)
            paste = gr.Button("Read parameters from prompt", elem_id=f"{tab}_paste", size="sm")
            # In the page (the script needs its file input) but never shown.
            png_drop = gr.File(visible="hidden", elem_id=f"{tab}_png_drop", file_types=["image"])
    build_extra_networks_row(engine, box.prompt, tab)
    return TopRow(box, generate, interrupt, skip, paste, png_drop)


@dataclass
class SeedRow:
    seed: gr.Number
    random: gr.Button
    reuse: gr.Button


def build_seed_row(tab: str) -> SeedRow:
    with gr.Row():
        seed = number_for(GenerationRequest, "seed", label="Seed", elem_id=f"{tab}_seed", scale=4)
        random_seed = gr.Button("Random", elem_id=f"{tab}_random_seed", scale=0, min_width=72, size="sm")
        reuse_seed = gr.Button("Reuse", elem_id=f"{tab}_reuse_seed", scale=0, min_width=72, size="sm")
    return SeedRow(seed, random_seed, reuse_seed)
