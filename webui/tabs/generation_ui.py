"""What the txt2img and img2img tabs share: the sampling/size/batch controls (each built from the
request model's field) and `GenerationTab`, which a tab hands its built pieces to (top row,
output panel, seed, scripts...) and which wires the common buttons and reads the common fields
by name. The pieces themselves live in webui/components/ (top_row, output_panel, paste)."""

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import gradio as gr
from pydantic import ValidationError

from modules.engine import Engine
from modules.jobs import Job
from modules.processing.request import SIZE_MULTIPLE, GenerationRequest, explain_error
from modules.sampling import catalog
from webui.components.field_group import FieldGroup, slider_for
from webui.components.icon_button import icon_button
from webui.components.output_panel import (
    POLL_SECONDS,
    OutputPanel,
    build_output_panel,
    infotext_html,
    selected_image,
)
from webui.components.paste import (
    PASTED_FIELDS,
    ParametersPaste,
    build_override_box,
    build_paste,
    override_entries_for,
    overrides_from_entries,
)
from webui.components.prompt_box import wire_token_counters
from webui.components.scripts import ScriptControls
from webui.components.seed_extra import SeedExtra
from webui.components.top_row import SeedRow, TopRow, build_seed_row, build_top_row

# Kept importable from here: the tabs and tests reach the shared pieces through this module.
__all__ = ["PASTED_FIELDS", "POLL_SECONDS", "GenerationTab", "OutputPanel", "ParametersPaste", "SeedRow", "TopRow",
           "build_output_panel", "build_override_box", "build_seed_row", "build_top_row", "default_size",
           "infotext_html", "override_entries_for", "overrides_from_entries", "selected_image"]  # fmt: skip


def default_size(engine: Engine) -> int:
    """The default checkpoint's own training size: a small model looks right only near it."""
    from modules.models.loading import native_resolution

    try:
        return native_resolution(engine.models.default_checkpoint())
    except LookupError:
        return 512


def build_sampler_row(tab: str) -> tuple[gr.Dropdown, gr.Dropdown]:
    with gr.Row():
        sampler = gr.Dropdown(label="Sampling method", choices=catalog.sampler_names(), value=catalog.DEFAULT_SAMPLER,
                              elem_id=f"{tab}_sampling")  # fmt: skip
        schedule = gr.Dropdown(label="Schedule type", choices=list(catalog.SCHEDULE_TYPES), value="Automatic",
                               elem_id=f"{tab}_scheduler")  # fmt: skip
    return sampler, schedule


def build_steps(tab: str) -> gr.Slider:
    return slider_for(GenerationRequest, "steps", label="Sampling steps", elem_id=f"{tab}_steps")


def build_size_sliders(tab: str, size: int) -> tuple[gr.Slider, gr.Slider]:
    """Width and Height, with A1111's ⇅ button beside them that swaps the two."""
    with gr.Row(elem_classes=["sd-size-row"]):
        with gr.Column(scale=6, min_width=200):
            width = slider_for(GenerationRequest, "width", value=size, step=SIZE_MULTIPLE, label="Width",
                               elem_id=f"{tab}_width")  # fmt: skip
            height = slider_for(GenerationRequest, "height", value=size, step=SIZE_MULTIPLE, label="Height",
                                elem_id=f"{tab}_height")  # fmt: skip
        swap = icon_button("⇅", f"{tab}_res_switch_btn")
    swap.click(None, inputs=[width, height], outputs=[width, height], js="(w, h) => [h, w]", queue=False,
               show_progress="hidden")  # fmt: skip
    return width, height


def build_batch_sliders(tab: str) -> tuple[gr.Slider, gr.Slider]:
    count = slider_for(GenerationRequest, "n_iter", label="Batch count", elem_id=f"{tab}_batch_count")
    size = slider_for(GenerationRequest, "batch_size", label="Batch size", elem_id=f"{tab}_batch_size")
    return count, size


def build_cfg(tab: str) -> gr.Slider:
    return slider_for(GenerationRequest, "cfg_scale", step=0.5, label="CFG Scale", elem_id=f"{tab}_cfg_scale")


@dataclass
class GenerationTab:
    """One generation tab's common controls, once built, and the wiring they share."""

    engine: Engine
    tab: str
    top: TopRow
    sampler: gr.Dropdown
    schedule: gr.Dropdown
    steps: gr.Slider
    width: gr.Slider
    height: gr.Slider
    batch_count: gr.Slider
    batch_size: gr.Slider
    cfg: gr.Slider
    seed: SeedRow
    seed_extra: SeedExtra
    scripts: ScriptControls
    override_box: gr.Dropdown
    output: OutputPanel
    checkpoint: gr.Dropdown
    clip_skip: gr.Slider | None = None
    session: gr.State = None
    paste: ParametersPaste | None = None  # set by build_paste
    form: FieldGroup = field(init=False)

    def __post_init__(self):
        from webui.components.field_group import field_defaults

        if self.session is None:
            self.session = gr.State({})
        # The controls that each carry one request field, by the field's name.
        self.form = FieldGroup(
            {"checkpoint": self.checkpoint, "prompt": self.top.box.prompt, "negative_prompt": self.top.box.negative,
             "sampler_name": self.sampler, "scheduler": self.schedule, "steps": self.steps, "width": self.width,
             "height": self.height, "n_iter": self.batch_count, "batch_size": self.batch_size, "cfg_scale": self.cfg,
             "seed": self.seed.seed, "styles": self.top.box.styles},
            field_defaults(GenerationRequest),
        )  # fmt: skip
        wire_token_counters(self.engine, self.top.box, self.steps)

    @property
    def prompt(self) -> gr.Textbox:
        return self.top.box.prompt

    @property
    def message(self) -> gr.HTML:
        return self.output.message

    @property
    def inputs(self) -> set:
        """Every control the common request fields are read from (a set: handlers read by name)."""
        return {*self.form.components, self.session, self.override_box, *self.seed_extra.components,
                self.scripts.dropdown, *self.scripts.components}  # fmt: skip

    @property
    def outputs(self) -> list:
        """What a generation updates (handlers yield dicts {component: value} over these)."""
        return [*self.output.components, self.session]

    def request_fields(self, values: dict) -> dict:
        """The request fields every tab's request has, from an event's {component: value}."""
        script_name, script_args, alwayson = self.scripts.collect(values)
        fields = {**self.form.values(values), **self.seed_extra.request_fields(values)}
        fields["checkpoint"] = fields["checkpoint"] or None  # "": the loaded one
        fields.update(
            save_images=bool(self.engine.settings.get("samples_save")),
            script_name=script_name,
            script_args=script_args,
            alwayson_scripts=alwayson,
            override_settings=overrides_from_entries(self.engine, values[self.override_box]),
        )
        return fields

    async def submit_and_follow(self, state: dict, submit: Callable[[], Job]) -> AsyncIterator[dict]:
        """`submit` builds the request and queues it (run off the event loop: preparing may import
        diffusers); a refused request is shown as a message, a queued one followed to its images."""
        try:
            job = await asyncio.to_thread(submit)
        except (ValidationError, ValueError) as error:
            yield self.refused(state, explain_error(error))
            return
        async for update in self.follow_job(job, state):
            yield update

    def refused(self, state: dict, reason: str) -> dict:
        return self.output.refused(self.session, state, reason)

    def follow_job(self, job: Job, state: dict) -> AsyncIterator[dict]:
        return self.output.follow_job(self.engine, self.session, job, state)

    def wire_common(self) -> None:
        """Interrupt, Skip, Random/Reuse seed and selecting a gallery image."""
        engine = self.engine

        async def stop(state):
            job = engine.queue.get(state.get("job_id", "")) if state else None
            if job is not None and not job.done:
                engine.queue.cancel(job)

        async def skip_batch(state):
            job = engine.queue.get(state.get("job_id", "")) if state else None
            if job is not None and not job.done:
                job.skip()

        self.top.interrupt.click(stop, inputs=self.session, outputs=None, concurrency_limit=None, queue=False)
        self.top.skip.click(skip_batch, inputs=self.session, outputs=None, concurrency_limit=None, queue=False)
        self.seed.random.click(lambda: -1, outputs=self.seed.seed, queue=False)
        self.seed.reuse.click(lambda state: (state or {}).get("last_seed", -1), inputs=self.session,
                              outputs=self.seed.seed, queue=False)  # fmt: skip

        self.output.wire_select(self.session)

    def build_paste(self, extra_outputs: list, extra_updates: Callable[[dict], dict]) -> ParametersPaste:
        """Wire "Read parameters" (and a PNG dropped on the prompt); see webui/components/paste.py."""
        return build_paste(self, extra_outputs, extra_updates)
