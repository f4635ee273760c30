"""The Extras tab: one image through the post-processing steps extensions contribute
(background removal, and upscalers later), each with its own controls."""

import gradio as gr

from modules.engine import Engine
from modules.images.postprocessing import PostprocessingError, parse_step_args, run_steps
from modules.images.uploads import UploadError, read_upload
from webui.components.progress import message_html


def build_extras_tab(engine: Engine) -> gr.Image:
    """Builds the tab; returns its input image (PNG Info's "Send to extras" fills it)."""
    steps = engine.plugins.steps
    with gr.Row():
        with gr.Column():
            source = gr.Image(label="Source", type="pil", elem_id="extras_image", image_mode=None)
            run = gr.Button("Generate", variant="primary", elem_id="extras_generate")
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
            message = gr.HTML(elem_id="extras_message")

    def process(values: dict):
        """`values`: {component: value} for every input (Gradio's set-of-inputs form), read by name.
        Raw values (preprocess=False): the image is read here, within the pixel cap."""
        try:
            image = read_upload(values[source], int(engine.settings.get("image_max_pixels")))
        except UploadError as error:
            return gr.skip(), message_html(str(error), "error")
        if image is None:
            return gr.skip(), message_html("Upload an image first", "error")
        raw: dict[str, dict] = {name: {} for name, checkbox in enables.items() if values[checkbox]}
        if not raw:
            return gr.skip(), message_html("Enable at least one step", "error")
        for (step_name, arg), component in by_slot.items():
            if step_name in raw:
                raw[step_name][arg] = values[component]
        try:
            output = run_steps(engine, image, parse_step_args(engine.plugins, raw))
        except PostprocessingError as error:
            return gr.skip(), message_html(str(error), "error")
        return output, message_html(f"{', '.join(raw)}: {output.width}x{output.height} {output.mode}", "info")

    run.click(process, inputs={source, *enables.values(), *by_slot.values()}, outputs=[result, message],
              preprocess=False)  # fmt: skip
    return source


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
