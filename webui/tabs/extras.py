"""The Extras tab: pictures (Single image, Batch process, Batch from directory) upscaled with the
engine's upscalers and then through the post-processing steps extensions contribute (background
removal...), as one job on the engine's queue."""

import gradio as gr

from modules.engine import Engine
from modules.images.postprocessing import (
    EXTRAS_FOLDER,
    MAX_EXTRAS_IMAGES,
    RESIZE_MODES,
    UpscaleOptions,
    parse_step_args,
    submit_extras,
    submit_extras_folder,
)
from modules.images.uploads import UploadError, read_upload
from webui.components.progress import message_html

SOURCES = ("Single image", "Batch process", "Batch from directory")
NOTHING_CHOSEN = "Enable at least one step, or choose Upscaler 1"


def build_extras_tab(engine: Engine) -> gr.Image:
    """Builds the tab; returns its input image (PNG Info's "Send to extras" fills it)."""
    steps = engine.plugins.steps
    upscaler_names = engine.upscalers.names()
    defaults = UpscaleOptions()
    with gr.Row():
        with gr.Column():
            # Radios rather than nested tabs: which source and which resize mode are plain values.
            source_kind = gr.Radio(list(SOURCES), value=SOURCES[0], label="Source", elem_id="extras_source")
            with gr.Group(visible=True) as single_group:
                source = gr.Image(label="Source", type="pil", elem_id="extras_image", image_mode=None)
            with gr.Group(visible=False) as batch_group:
                batch_files = gr.File(label="Batch process", file_count="multiple", file_types=["image"],
                                      elem_id="extras_image_batch")  # fmt: skip
            with gr.Group(visible=False) as folder_group:
                input_dir = gr.Textbox(label="Input directory", elem_id="extras_batch_input_dir")
                output_dir = gr.Textbox(label="Output directory (empty: outputs/extras-images)",
                                        elem_id="extras_batch_output_dir")  # fmt: skip
            groups = (single_group, batch_group, folder_group)
            source_kind.change(lambda kind: [gr.update(visible=kind == name) for name in SOURCES],
                               inputs=source_kind, outputs=list(groups), queue=False)  # fmt: skip
            run = gr.Button("Generate", variant="primary", elem_id="extras_generate")
            with gr.Accordion("Upscale", open=True, elem_id="extras_upscale"):
                resize_mode = gr.Radio(list(RESIZE_MODES), value=RESIZE_MODES[0], label="Resize mode",
                                       elem_id="extras_resize_mode")  # fmt: skip
                with gr.Row():
                    resize = gr.Slider(1.0, 8.0, value=defaults.upscaling_resize, step=0.05, label="Resize",
                                       elem_id="extras_upscaling_resize")  # fmt: skip
                    size = {"precision": 0, "minimum": 1, "maximum": 8192}
                    width = gr.Number(value=defaults.upscaling_resize_w, label="Width",
                                      elem_id="extras_upscaling_resize_w", **size)  # fmt: skip
                    height = gr.Number(value=defaults.upscaling_resize_h, label="Height",
                                       elem_id="extras_upscaling_resize_h", **size)  # fmt: skip
                    crop = gr.Checkbox(value=defaults.upscaling_crop, label="Crop to fit",
                                       elem_id="extras_upscaling_crop")  # fmt: skip
                with gr.Row():
                    upscaler_1 = gr.Dropdown(upscaler_names, value="None", label="Upscaler 1",
                                             elem_id="extras_upscaler_1")  # fmt: skip
                    upscaler_2 = gr.Dropdown(upscaler_names, value="None", label="Upscaler 2",
                                             elem_id="extras_upscaler_2")  # fmt: skip
                    visibility = gr.Slider(0.0, 1.0, value=0.0, step=0.001, label="Upscaler 2 visibility",
                                           elem_id="extras_upscaler_2_visibility")  # fmt: skip
            enables, by_slot = {}, {}  # step name -> its checkbox; (step name, arg name) -> its control
            if not steps:
                gr.HTML(message_html("No post-processing steps: every extension providing one is disabled", "info"))
            for step in steps:
                with gr.Accordion(step.name, open=True, elem_id=f"extras_step_{_slug(step.name)}"):
                    enables[step.name] = gr.Checkbox(label=f"Enable {step.name}", value=False,
                                                     elem_id=f"extras_enable_{_slug(step.name)}")  # fmt: skip
                    for name, component in _step_ui(engine, step).items():
                        if name in step.Args.model_fields:
                            by_slot[(step.name, name)] = component
        with gr.Column():
            result = gr.Image(label="Result", type="pil", format="png", elem_id="extras_result", interactive=False)
            gallery = gr.Gallery(label="Results", format="png", elem_id="extras_gallery", columns=4)
            message = gr.HTML(elem_id="extras_message")

    async def process(values: dict):
        """`values`: {component: value} for every input (Gradio's set-of-inputs form), read by name.
        Raw values (preprocess=False): uploads are read here, within the pixel cap."""
        kind = SOURCES.index(values[source_kind]) if values[source_kind] in SOURCES else 0
        raw: dict[str, dict] = {name: {} for name, checkbox in enables.items() if values[checkbox]}
        for (step_name, arg), component in by_slot.items():
            if step_name in raw:
                raw[step_name][arg] = values[component]
        try:
            upscale = UpscaleOptions(
                resize_mode=RESIZE_MODES.index(values[resize_mode]) if values[resize_mode] in RESIZE_MODES else 0,
                upscaling_resize=float(values[resize]),
                upscaling_resize_w=int(values[width] or 1),
                upscaling_resize_h=int(values[height] or 1),
                upscaling_crop=bool(values[crop]),
                upscaler_1=values[upscaler_1] or "None",
                upscaler_2=values[upscaler_2] or "None",
                extras_upscaler_2_visibility=float(values[visibility] or 0),
            )
        except ValueError as error:
            return gr.skip(), gr.skip(), message_html(f"Upscale: {error}", "error")
        if not raw and not upscale.active:
            return gr.skip(), gr.skip(), message_html(NOTHING_CHOSEN, "error")
        try:
            chosen = parse_step_args(engine.plugins, raw)
            if kind == 2:
                job = submit_extras_folder(engine, values[input_dir] or "", values[output_dir] or "", upscale, chosen)
            else:
                images = _uploaded(engine, values[source] if kind == 0 else None, values[batch_files], kind)
                if isinstance(images, str):
                    return gr.skip(), gr.skip(), message_html(images, "error")
                # A1111 saves every Extras result made in the UI (the API saves nothing).
                job = submit_extras(engine, images, upscale, chosen, save_to=engine.paths.outputs_dir / EXTRAS_FOLDER)
        except ValueError as error:
            return gr.skip(), gr.skip(), message_html(str(error), "error")
        await job.wait_async()  # on the event loop: waiting holds no thread
        try:
            outputs = job.outcome() or []
        except (ValueError, OSError) as error:
            return gr.skip(), gr.skip(), message_html(str(error), "error")
        if not outputs:
            return gr.skip(), gr.skip(), message_html("Interrupted: nothing was made", "info")
        first = outputs[0].image
        what = ", ".join([*(["upscale"] if upscale.active else []), *raw])
        text = f"{what}: {len(outputs)} image(s), {first.width}x{first.height} {first.mode}"
        if outputs[0].infotext:
            text += f" ({outputs[0].infotext})"
        if outputs[0].saved is not None:
            text += f"; saved to {outputs[0].saved.parent}"
        gallery_images = [(output.image, output.name or None) for output in outputs]
        return first, gallery_images, message_html(text, "info")

    inputs = {source_kind, source, batch_files, input_dir, output_dir, resize_mode, resize, width, height, crop,
              upscaler_1, upscaler_2, visibility, *enables.values(), *by_slot.values()}  # fmt: skip
    run.click(process, inputs=inputs, outputs=[result, gallery, message], preprocess=False)
    return source


def _uploaded(engine: Engine, single, batch, kind: int) -> list | str:
    """[(name, image)] from the Single image or Batch process upload, or the message saying why not."""
    limit = int(engine.settings.get("image_max_pixels"))
    uploads = [single] if kind == 0 else list(batch or [])
    if len(uploads) > MAX_EXTRAS_IMAGES:
        return f"{len(uploads)} pictures is more than {MAX_EXTRAS_IMAGES} in one batch"
    images = []
    for upload in uploads:
        try:
            image = read_upload(upload, limit)
        except UploadError as error:
            return str(error)
        if image is not None:
            name = upload.get("orig_name", "") if isinstance(upload, dict) else ""
            images.append((name or "", image))
    if not images:
        return "Upload an image first"
    return images


def _step_ui(engine: Engine, step) -> dict:
    if step.ui is None:
        return {}
    try:
        return step.ui() or {}
    except Exception as error:  # noqa: BLE001 - a broken step UI must not take the tab down
        engine.extensions.report_error(engine.plugins.step_owner.get(step.name, step.name), f"ui: {error}")
        gr.HTML(message_html(f"{step.name}: its controls failed to build ({error})", "error"))
        return {}


def _slug(title: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in title.lower())
