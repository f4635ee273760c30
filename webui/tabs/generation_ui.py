"""What the txt2img and img2img tabs share: the prompt row, the sampling/size/batch/seed controls
(each built from the request model's field), the output panel with its send-to buttons, the loop
that follows a queued job into the gallery, and "Read parameters" from a pasted infotext.

A tab builds its own layout from these pieces and hands them to a `GenerationTab`, which wires the
common buttons and reads the common fields by name."""

import asyncio
import html
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import gradio as gr
from pydantic import ValidationError

from modules.engine import Engine
from modules.images.infotext import INFOTEXT_SETTINGS
from modules.jobs import Job, JobState
from modules.processing.request import SIZE_MULTIPLE, GenerationRequest, explain_error
from modules.sampling import catalog
from webui.components.extra_networks import build_extra_networks_row
from webui.components.field_group import FieldGroup, number_for, slider_for
from webui.components.progress import message_html, progress_html
from webui.components.prompt_box import PromptBox, build_prompt_box, style_names, wire_token_counters
from webui.components.scripts import ScriptControls
from webui.components.seed_extra import SeedExtra

POLL_SECONDS = 0.25
# Request fields a pasted infotext puts straight into their controls (others need a check or a default).
PASTED_FIELDS = ("prompt", "negative_prompt", "steps", "width", "height", "cfg_scale", "seed")


def default_size(engine: Engine) -> int:
    """The default checkpoint's own training size: a small model looks right only near it."""
    from modules.models.loading import native_resolution

    try:
        return native_resolution(engine.models.default_checkpoint())
    except LookupError:
        return 512


@dataclass(frozen=True)
class ParametersPaste:
    """A tab's "Read parameters" logic, for other tabs' send-to buttons: `apply(infotext)` ->
    {component: update} for every field the infotext names; `outputs`: every component it may update."""

    apply: Callable[[str], dict]
    outputs: list


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
    width = slider_for(GenerationRequest, "width", value=size, step=SIZE_MULTIPLE, label="Width",
                       elem_id=f"{tab}_width")  # fmt: skip
    height = slider_for(GenerationRequest, "height", value=size, step=SIZE_MULTIPLE, label="Height",
                        elem_id=f"{tab}_height")  # fmt: skip
    return width, height


def build_batch_sliders(tab: str) -> tuple[gr.Slider, gr.Slider]:
    count = slider_for(GenerationRequest, "n_iter", label="Batch count", elem_id=f"{tab}_batch_count")
    size = slider_for(GenerationRequest, "batch_size", label="Batch size", elem_id=f"{tab}_batch_size")
    return count, size


def build_cfg(tab: str) -> gr.Slider:
    return slider_for(GenerationRequest, "cfg_scale", step=0.5, label="CFG Scale", elem_id=f"{tab}_cfg_scale")


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


def build_override_box(tab: str) -> gr.Dropdown:
    # Settings a pasted infotext recorded that differ from the current ones ("ENSD: 31337"):
    # applied to the next generations only, as A1111's "Override settings"; remove one to drop it.
    return gr.Dropdown(label="Override settings", choices=[], value=[], multiselect=True, visible=False,
                       elem_id=f"{tab}_override_settings")  # fmt: skip


@dataclass
class OutputPanel:
    gallery: gr.Gallery
    progress: gr.HTML
    preview: gr.Image
    infotext: gr.HTML
    message: gr.HTML
    send_to_img2img: gr.Button
    send_to_inpaint: gr.Button
    send_to_extras: gr.Button


def build_output_panel(tab: str) -> OutputPanel:
    gallery = gr.Gallery(label="Output", elem_id=f"{tab}_gallery", columns=2, format="png", interactive=False,
                         height=512)  # fmt: skip
    with gr.Row(elem_id=f"{tab}_send_row"):
        to_img2img = gr.Button("Send to img2img", elem_id=f"{tab}_send_to_img2img", size="sm")
        to_inpaint = gr.Button("Send to inpaint", elem_id=f"{tab}_send_to_inpaint", size="sm")
        to_extras = gr.Button("Send to extras", elem_id=f"{tab}_send_to_extras", size="sm")
    progress = gr.HTML(elem_id=f"{tab}_progress")
    preview = gr.Image(label="Live preview", type="pil", format="png", interactive=False, visible=True,
                       elem_id=f"{tab}_live_preview", height=192)  # fmt: skip
    infotext = gr.HTML(elem_id=f"html_info_{tab}")
    message = gr.HTML(elem_id=f"{tab}_message")
    return OutputPanel(gallery, progress, preview, infotext, message, to_img2img, to_inpaint, to_extras)


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
        """What a generation updates, in the order `follow_job` yields."""
        o = self.output
        return [o.gallery, o.progress, o.infotext, o.message, self.session, o.preview]

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

    async def submit_and_follow(self, state: dict, submit: Callable[[], Job]) -> AsyncIterator[tuple]:
        """`submit` builds the request and queues it (run off the event loop: preparing may import
        diffusers); a refused request is shown as a message, a queued one followed to its images."""
        try:
            job = await asyncio.to_thread(submit)
        except (ValidationError, ValueError) as error:
            yield self.refused(state, explain_error(error))
            return
        async for update in self.follow_job(job, state):
            yield update

    def refused(self, state: dict, reason: str) -> tuple:
        return gr.skip(), "", gr.skip(), message_html(reason, "error"), state, gr.skip()

    async def follow_job(self, job: Job, state: dict) -> AsyncIterator[tuple]:
        """Progress, live previews and finally the pictures of a queued job, as `outputs`."""
        engine = self.engine
        state = {**(state or {}), "job_id": job.id}
        shown = None
        # Polled on the event loop: a browser waiting in the queue holds no worker thread.
        while not job.done:
            await asyncio.sleep(POLL_SECONDS)
            if job.done:
                break
            fresh = job.preview if job.preview is not shown else None
            shown = job.preview
            yield (gr.skip(), progress_html(job, engine.queue.position(job)), gr.skip(), gr.skip(), state,
                   fresh if fresh is not None else gr.skip())  # fmt: skip
        if job.state == JobState.CANCELLED:
            yield gr.skip(), "", gr.skip(), message_html("Interrupted before it started", "info"), state, None
            return
        try:
            result = job.outcome()
        except (LookupError, RuntimeError, ValueError) as error:
            yield gr.skip(), "", gr.skip(), message_html(str(error), "error"), state, None
            return
        images = [(item.image, f"Seed {item.seed}") for item in result.images]
        notes = list(result.warnings)
        if result.interrupted:
            notes.append(f"Interrupted: {len(result.images)} image(s) made")
        save_error = getattr(result, "save_error", None)
        if save_error:  # the pictures are still shown: download them before they are lost
            notes.append(f"Not saved: {save_error}")
        # Each image's own infotext and seed, shown (and reused, and sent on) when it is selected.
        state = {**state, "last_seed": result.seed, "infotexts": result.infotexts, "seeds": result.seeds,
                 "selected": None}  # fmt: skip
        info = infotext_html(result.infotexts[0]) if result.infotexts else ""
        kind = "error" if save_error else "info"
        yield images, "", info, message_html("; ".join(notes), kind), state, None

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

        def show_selected(state, event: gr.SelectData):
            shown, state = selected_image(state, event.index)
            return (gr.skip() if shown is None else infotext_html(shown)), state

        self.output.gallery.select(show_selected, inputs=self.session, outputs=[self.output.infotext, self.session],
                                   queue=False)  # fmt: skip

    def build_paste(self, extra_outputs: list, extra_updates: Callable[[dict], dict]) -> ParametersPaste:
        """Wire "Read parameters" (and a PNG dropped on the prompt): the common fields, plus what
        `extra_updates(fields)` sets among `extra_outputs` (the tab's own controls)."""
        engine, box, clip_skip = self.engine, self.top.box, self.clip_skip
        pasted_fields = {name: self.form.fields[name] for name in PASTED_FIELDS}
        message = self.message
        pasted = [message, self.override_box, self.sampler, self.schedule, box.styles, *pasted_fields.values(),
                  *self.seed_extra.components, *self.scripts.components, *extra_outputs,
                  *([clip_skip] if clip_skip is not None else [])]  # fmt: skip

        def paste_parameters(text):
            """Infotext pasted into the prompt box -> every field it names, scripts' args included."""
            try:
                fields = engine.fields_from_infotext(text or "")
            except ValueError as error:  # e.g. longer than the parser's limit
                return {message: message_html(str(error), "error")}
            if not any(key in fields for key in ("steps", "seed", "sampler_name")):
                return {message: message_html("The prompt holds no generation parameters to read", "error")}
            updates = {message: message_html("Parameters read from the pasted text", "info")}
            updates.update({component: fields[name] for name, component in pasted_fields.items() if name in fields})
            updates.update(extra_updates(fields))
            updates.update(self.seed_extra.pasted_values(fields))
            if "styles" in fields:
                updates[box.styles] = gr.update(choices=style_names(engine), value=fields["styles"])
            if clip_skip is not None:
                updates[clip_skip] = fields.get("clip_skip", 1)
            entries = override_entries_for(engine, fields.get("override_settings", {}))
            updates[self.override_box] = gr.update(choices=entries, value=entries, visible=bool(entries))
            if "sampler_name" in fields:
                try:
                    spec, schedule_type = catalog.resolve(fields["sampler_name"], fields.get("scheduler"))
                    updates.update({self.sampler: spec.name, self.schedule: schedule_type})
                except ValueError as error:
                    updates[message] = message_html(f"Read the rest; sampler not set: {error}", "error")
            alwayson = fields.get("alwayson_scripts", {})
            for (title, name), component in self.scripts.by_slot.items():
                if name in alwayson.get(title, {}):
                    updates[component] = alwayson[title][name]
            return updates

        self.top.paste.click(paste_parameters, inputs=self.prompt, outputs=pasted, queue=False)
        paste = ParametersPaste(paste_parameters, pasted)
        from webui.components.png_drop import wire_png_drop

        wire_png_drop(engine, self.top.png_drop, paste, message)
        return paste


def selected_image(state: dict | None, index) -> tuple[str | None, dict]:
    """Gallery image `index` chosen: its infotext (None when unknown) and the session state with
    its seed as the one "Reuse" puts back, as A1111 does for the selected image, and its index as
    the one the send-to buttons send."""
    state = dict(state or {})
    infotexts, seeds = state.get("infotexts") or [], state.get("seeds") or []
    if not isinstance(index, int) or not 0 <= index < len(infotexts):
        return None, state
    if index < len(seeds):
        state["last_seed"] = seeds[index]
    state["selected"] = index
    return infotexts[index], state


def override_entries_for(engine: Engine, overrides: dict) -> list[str]:
    """Pasted settings as "Infotext key: value" entries, those equal to the current settings left out."""
    labels = {setting: key for key, setting in INFOTEXT_SETTINGS.items()}
    return [f"{labels[k]}: {v}" for k, v in overrides.items() if k in labels and engine.settings.get(k) != v]


def overrides_from_entries(engine: Engine, entries) -> dict:
    """The entries kept in the Override settings box -> the request's override_settings."""
    raw = {}
    for entry in entries or []:
        key, _, value = str(entry).partition(": ")
        if key in INFOTEXT_SETTINGS:
            raw[INFOTEXT_SETTINGS[key]] = value
    return engine.readable_overrides(raw)


def infotext_html(text: str) -> str:
    return f'<div class="infotext">{html.escape(text).replace(chr(10), "<br>")}</div>'
