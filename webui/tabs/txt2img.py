"""The txt2img tab, laid out as A1111 users know it."""

import gradio as gr

from modules.engine import Engine
from modules.processing.request import Txt2ImgRequest
from webui.components.extra_networks import build_extra_networks_row
from webui.components.hires import build_hires_controls
from webui.components.refiner import build_refiner_controls
from webui.components.scripts import build_script_controls
from webui.components.seed_extra import build_seed_extra
from webui.tabs.generation_ui import (
    PASTED_FIELDS,
    POLL_SECONDS,
    GenerationTab,
    ParametersPaste,
    build_batch_sliders,
    build_cfg,
    build_output_panel,
    build_override_box,
    build_sampler_row,
    build_seed_row,
    build_size_sliders,
    build_steps,
    build_top_row,
    default_size,
    override_entries_for,
    overrides_from_entries,
    selected_image,
)

# Kept importable from here: other tabs and tests reach them through this module.
__all__ = ["PASTED_FIELDS", "POLL_SECONDS", "ParametersPaste", "build_txt2img_tab", "default_size",
           "override_entries_for", "overrides_from_entries", "selected_image"]  # fmt: skip


def build_txt2img_tab(engine: Engine, checkpoint: gr.Dropdown, clip_skip: gr.Slider | None = None) -> GenerationTab:
    """Builds the tab; returns its parts (its `paste` fills it from other tabs' send-to buttons)."""
    size = default_size(engine)
    top = build_top_row(engine, "txt2img")
    with gr.Row():
        with gr.Column(scale=1):
            build_extra_networks_row(engine, top.box.prompt, "txt2img")
            sampler, schedule = build_sampler_row("txt2img")
            steps = build_steps("txt2img")
            with gr.Row():
                with gr.Column(scale=4):
                    width, height = build_size_sliders("txt2img", size)
                with gr.Column(scale=2, min_width=180):
                    batch_count, batch_size = build_batch_sliders("txt2img")
            cfg = build_cfg("txt2img")
            seed = build_seed_row("txt2img")
            seed_extra = build_seed_extra("txt2img")
            hires = build_hires_controls("txt2img", engine)
            refiner = build_refiner_controls(engine, "txt2img")
            scripts = build_script_controls(engine, "txt2img")
            override_box = build_override_box("txt2img")
        with gr.Column(scale=1):
            output = build_output_panel("txt2img")
    tab = GenerationTab(
        engine, "txt2img", top, sampler, schedule, steps, width, height, batch_count, batch_size, cfg, seed,
        seed_extra, scripts, override_box, output, checkpoint, clip_skip,
    )  # fmt: skip

    async def run(values: dict):
        """`values`: {component: value} for every input (Gradio's set-of-inputs form), read by field."""
        state = values[tab.session]
        fields = {**tab.request_fields(values), **hires.request_fields(values), **refiner.request_fields(values)}

        def submit():
            return engine.submit_txt2img(Txt2ImgRequest(**fields))

        async for update in tab.submit_and_follow(state, submit):
            yield update

    inputs = {*tab.inputs, *hires.components, *refiner.components}
    # Many browsers may wait at once: the engine's own FIFO queue orders them.
    for trigger in (top.generate.click, top.box.prompt.submit):
        job = top.busy_from(trigger).then(run, inputs=inputs, outputs=tab.outputs, concurrency_limit=None,
                                          show_progress="hidden")  # fmt: skip
        top.idle_after(job)
    tab.wire_common()
    tab.paste = tab.build_paste(
        [*hires.components, *refiner.components],
        lambda fields: {**hires.pasted_values(fields), **refiner.pasted_values(fields)},
    )
    return tab
