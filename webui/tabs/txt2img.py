"""The txt2img tab, laid out as A1111 users know it."""

import asyncio
import html
from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr
from pydantic import ValidationError

from modules.engine import Engine
from modules.images.infotext import INFOTEXT_SETTINGS
from modules.jobs import JobState
from modules.processing.request import SIZE_MULTIPLE, Txt2ImgRequest, explain_error
from modules.sampling import catalog
from webui.components.extra_networks import build_extra_networks_row
from webui.components.field_group import FieldGroup, field_defaults, number_for, slider_for
from webui.components.hires import build_hires_controls
from webui.components.progress import message_html, progress_html
from webui.components.prompt_box import build_prompt_box, style_names, wire_token_counters
from webui.components.scripts import build_script_controls
from webui.components.seed_extra import build_seed_extra

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
    """The tab's "Read parameters" logic for other tabs' "Send to txt2img": `apply(infotext)` ->
    {component: update} for every field the infotext names; `outputs`: every component it may update."""

    apply: Callable[[str], dict]
    outputs: list


def build_txt2img_tab(engine: Engine, checkpoint: gr.Dropdown, clip_skip: gr.Slider | None = None) -> ParametersPaste:
    size = default_size(engine)
    with gr.Row(elem_id="txt2img_toprow"):
        box = build_prompt_box(engine, "txt2img")
        prompt, negative = box.prompt, box.negative
        with gr.Column(scale=1, min_width=160):
            generate = gr.Button("Generate", variant="primary", elem_id="txt2img_generate")
            with gr.Row():
                interrupt = gr.Button("Interrupt", elem_id="txt2img_interrupt", min_width=60)
                skip = gr.Button("Skip", elem_id="txt2img_skip", min_width=60)
            paste = gr.Button("Read parameters from prompt", elem_id="txt2img_paste", size="sm")
    build_extra_networks_row(engine, prompt, "txt2img")
    with gr.Row():
        with gr.Column(scale=1):
            with gr.Row():
                sampler = gr.Dropdown(
                    label="Sampling method",
                    choices=catalog.sampler_names(),
                    value=catalog.DEFAULT_SAMPLER,
                    elem_id="txt2img_sampling",
                )
                schedule = gr.Dropdown(
                    label="Schedule type",
                    choices=list(catalog.SCHEDULE_TYPES),
                    value="Automatic",
                    elem_id="txt2img_scheduler",
                )
            steps = slider_for(Txt2ImgRequest, "steps", label="Sampling steps", elem_id="txt2img_steps")
            wire_token_counters(engine, box, steps)
            with gr.Row():
                with gr.Column(scale=4):
                    width = slider_for(Txt2ImgRequest, "width", value=size, step=SIZE_MULTIPLE, label="Width",
                                       elem_id="txt2img_width")  # fmt: skip
                    height = slider_for(Txt2ImgRequest, "height", value=size, step=SIZE_MULTIPLE, label="Height",
                                        elem_id="txt2img_height")  # fmt: skip
                with gr.Column(scale=1, min_width=120):
                    batch_count = slider_for(Txt2ImgRequest, "n_iter", label="Batch count",
                                             elem_id="txt2img_batch_count")  # fmt: skip
                    batch_size = slider_for(Txt2ImgRequest, "batch_size", label="Batch size",
                                            elem_id="txt2img_batch_size")  # fmt: skip
            cfg = slider_for(Txt2ImgRequest, "cfg_scale", step=0.5, label="CFG Scale", elem_id="txt2img_cfg_scale")
            with gr.Row():
                seed = number_for(Txt2ImgRequest, "seed", label="Seed", elem_id="txt2img_seed", scale=4)
                random_seed = gr.Button("Random", elem_id="txt2img_random_seed", scale=0, min_width=72, size="sm")
                reuse_seed = gr.Button("Reuse", elem_id="txt2img_reuse_seed", scale=0, min_width=72, size="sm")
            seed_extra = build_seed_extra("txt2img")
            hires = build_hires_controls("txt2img")
            scripts = build_script_controls(engine, "txt2img")
            # Settings a pasted infotext recorded that differ from the current ones ("ENSD: 31337"):
            # applied to the next generations only, as A1111's "Override settings"; remove one to drop it.
            override_box = gr.Dropdown(label="Override settings", choices=[], value=[], multiselect=True,
                                       visible=False, elem_id="txt2img_override_settings")  # fmt: skip
        with gr.Column(scale=1):
            gallery = gr.Gallery(
                label="Output", elem_id="txt2img_gallery", columns=2, format="png", interactive=False, height=512
            )
            progress = gr.HTML(elem_id="txt2img_progress")
            preview = gr.Image(label="Live preview", type="pil", format="png", interactive=False, visible=True,
                               elem_id="txt2img_live_preview", height=192)  # fmt: skip
            infotext = gr.HTML(elem_id="html_info_txt2img")
            message = gr.HTML(elem_id="txt2img_message")
    session = gr.State({})
    # The controls that each carry one request field, by the field's name.
    form = FieldGroup(
        {"checkpoint": checkpoint, "prompt": prompt, "negative_prompt": negative, "sampler_name": sampler,
         "scheduler": schedule, "steps": steps, "width": width, "height": height, "n_iter": batch_count,
         "batch_size": batch_size, "cfg_scale": cfg, "seed": seed, "styles": box.styles},
        field_defaults(Txt2ImgRequest),
    )  # fmt: skip

    async def run(values: dict):
        """`values`: {component: value} for every input (Gradio's set-of-inputs form), read by field."""
        state = values[session]
        script_name, script_args, alwayson = scripts.collect(values)
        request_fields = {**form.values(values), **seed_extra.request_fields(values), **hires.request_fields(values)}
        request_fields["checkpoint"] = request_fields["checkpoint"] or None  # "": the loaded one
        try:
            request = Txt2ImgRequest(
                **request_fields,
                save_images=bool(engine.settings.get("samples_save")),
                script_name=script_name,
                script_args=script_args,
                alwayson_scripts=alwayson,
                override_settings=overrides_from_entries(engine, values[override_box]),
            )
            # Off the event loop: preparing may import diffusers (seconds, once) to check a schedule.
            job = await asyncio.to_thread(engine.submit_txt2img, request)
        except (ValidationError, ValueError) as error:
            yield gr.skip(), "", gr.skip(), message_html(explain_error(error), "error"), state, gr.skip()
            return
        state = {**state, "job_id": job.id}
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
        # Each image's own infotext and seed, shown (and reused) when it is selected in the gallery.
        state = {**state, "last_seed": result.seed, "infotexts": result.infotexts, "seeds": result.seeds}
        info = _infotext_html(result.infotexts[0]) if result.infotexts else ""
        kind = "error" if save_error else "info"
        yield images, "", info, message_html("; ".join(notes), kind), state, None

    async def stop(state):
        job = engine.queue.get(state.get("job_id", "")) if state else None
        if job is not None and not job.done:
            engine.queue.cancel(job)

    inputs = {*form.components, session, override_box, *seed_extra.components, *hires.components, scripts.dropdown,
              *scripts.components}  # fmt: skip
    outputs = [gallery, progress, infotext, message, session, preview]
    # Many browsers may wait at once: the engine's own FIFO queue orders them.
    generate.click(run, inputs=inputs, outputs=outputs, concurrency_limit=None, show_progress="hidden")
    prompt.submit(run, inputs=inputs, outputs=outputs, concurrency_limit=None, show_progress="hidden")
    interrupt.click(stop, inputs=session, outputs=None, concurrency_limit=None, queue=False)

    async def skip_batch(state):
        job = engine.queue.get(state.get("job_id", "")) if state else None
        if job is not None and not job.done:
            job.skip()

    skip.click(skip_batch, inputs=session, outputs=None, concurrency_limit=None, queue=False)
    random_seed.click(lambda: -1, outputs=seed, queue=False)
    # The request fields a pasted infotext sets directly; sampler, schedule and styles are checked first.
    pasted_fields = {name: form.fields[name] for name in PASTED_FIELDS}
    pasted = [message, override_box, sampler, schedule, box.styles, *pasted_fields.values(), *seed_extra.components,
              *hires.components, *scripts.components, *([clip_skip] if clip_skip is not None else [])]  # fmt: skip

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
        updates.update(hires.pasted_values(fields))
        updates.update(seed_extra.pasted_values(fields))
        if "styles" in fields:
            updates[box.styles] = gr.update(choices=style_names(engine), value=fields["styles"])
        if clip_skip is not None:
            updates[clip_skip] = fields.get("clip_skip", 1)
        entries = override_entries_for(engine, fields.get("override_settings", {}))
        updates[override_box] = gr.update(choices=entries, value=entries, visible=bool(entries))
        if "sampler_name" in fields:
            try:
                spec, schedule_type = catalog.resolve(fields["sampler_name"], fields.get("scheduler"))
                updates.update({sampler: spec.name, schedule: schedule_type})
            except ValueError as error:
                updates[message] = message_html(f"Read the rest; sampler not set: {error}", "error")
        alwayson = fields.get("alwayson_scripts", {})
        for (title, name), component in scripts.by_slot.items():
            if name in alwayson.get(title, {}):
                updates[component] = alwayson[title][name]
        return updates

    paste.click(paste_parameters, inputs=prompt, outputs=pasted, queue=False)
    reuse_seed.click(lambda state: (state or {}).get("last_seed", -1), inputs=session, outputs=seed, queue=False)

    def show_selected(state, event: gr.SelectData):
        shown, state = selected_image(state, event.index)
        return (gr.skip() if shown is None else _infotext_html(shown)), state

    gallery.select(show_selected, inputs=session, outputs=[infotext, session], queue=False)
    return ParametersPaste(paste_parameters, pasted)


def selected_image(state: dict | None, index) -> tuple[str | None, dict]:
    """Gallery image `index` chosen: its infotext (None when unknown) and the session state with
    its seed as the one "Reuse" puts back, as A1111 does for the selected image."""
    state = dict(state or {})
    infotexts, seeds = state.get("infotexts") or [], state.get("seeds") or []
    if not isinstance(index, int) or not 0 <= index < len(infotexts):
        return None, state
    if index < len(seeds):
        state["last_seed"] = seeds[index]
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


def _infotext_html(text: str) -> str:
    return f'<div class="infotext">{html.escape(text).replace(chr(10), "<br>")}</div>'
