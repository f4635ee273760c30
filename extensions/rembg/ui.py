"""Gradio controls: the "Background removal" tab and the Extras step's controls.

Imported only from inside the web UI's calls (`TabSpec.render`, `PostprocessingStep.ui`), so the
headless engine never imports Gradio through this extension.
"""

import logging
import time
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from modules.images.uploads import UploadError, read_upload

from .onnx_models import MODELS, RELEASES
from .removal import (
    DEFAULT_METHOD,
    BackgroundRemover,
    MissingModelFile,
    UnknownMethod,
    UnreadableModelFile,
    all_methods,
    available_methods,
    missing_models,
)

log = logging.getLogger("sdstudio.extensions.rembg")


def matting_controls(prefix: str) -> tuple[gr.Checkbox, gr.Slider, gr.Slider, gr.Slider]:
    """The alpha-matting checkbox and its three sliders, shown only while it is ticked."""
    label = "Alpha matting (refine soft edges: hair, fur)"
    enabled = gr.Checkbox(label=label, value=False, elem_id=f"{prefix}_matting")
    with gr.Group(visible=False) as sliders:
        foreground = gr.Slider(0, 255, value=240, step=1, label="Foreground threshold", elem_id=f"{prefix}_fg")
        background = gr.Slider(0, 255, value=10, step=1, label="Background threshold", elem_id=f"{prefix}_bg")
        erode = gr.Slider(0, 40, value=10, step=1, label="Erode size", elem_id=f"{prefix}_erode")
    enabled.change(lambda on: gr.update(visible=on), inputs=enabled, outputs=sliders)
    return enabled, foreground, background, erode


def step_controls() -> dict:
    """Controls of the Extras step, named after the step's Args fields.

    The step's `ui()` is given no models folder, so every method is offered; one whose file is
    missing fails with a message naming the file to put in place.
    """
    model = gr.Dropdown(all_methods(), value=DEFAULT_METHOD, label="Method", elem_id="extras_rembg_model")
    return_mask = gr.Checkbox(label="Return mask", value=False, elem_id="extras_rembg_mask")
    matting, foreground, background, erode = matting_controls("extras_rembg")
    return {
        "model": model,
        "return_mask": return_mask,
        "alpha_matting": matting,
        "alpha_matting_foreground_threshold": foreground,
        "alpha_matting_background_threshold": background,
        "alpha_matting_erode_size": erode,
    }


def missing_note(models_dir: Path | None) -> str:
    missing = missing_models(models_dir)
    if not missing:
        return "All rembg models are installed."
    folder = Path(models_dir) / "rembg" if models_dir is not None else Path("models") / "rembg"
    listed = ", ".join(f"{name} ({MODELS[name].about})" for name in missing)
    return (
        f"Not installed: {listed}. To use one, put its file (e.g. `u2net.onnx`) in `{folder}`; "
        f"files are at {RELEASES}/`<name>`.onnx. Then press Refresh."
    )


def run_removal(remover: BackgroundRemover, models_dir: Path | None, image, method, matting, fg, bg, erode, mask_only):
    """The Remove button: (result image or None, message). Never raises: errors become the message."""
    if image is None:
        return None, "Upload an image first."
    started = time.perf_counter()
    try:
        output = remover.remove(
            image,
            method,
            models_dir,
            alpha_matting=bool(matting),
            fg_threshold=int(fg),
            bg_threshold=int(bg),
            erode_size=int(erode),
            mask_only=bool(mask_only),
        )
    except (UnknownMethod, MissingModelFile, UnreadableModelFile) as error:
        return None, f"**Error:** {error}"
    except Exception as error:  # noqa: BLE001 - the user sees why; the log keeps the traceback
        log.exception("background removal failed")
        return None, f"**Error:** background removal failed: {type(error).__name__}: {error}"
    what = "mask" if mask_only else "cutout"
    return output, f"{what} {output.width}x{output.height} with {method} in {time.perf_counter() - started:.1f} s"


def build_tab(remover: BackgroundRemover, models_dir: Callable[[], Path | None], max_pixels: Callable[[], int]) -> None:
    """Build the tab's components in the current Gradio context."""
    with gr.Row():
        with gr.Column():
            source = gr.Image(label="Source", type="pil", image_mode=None, elem_id="rembg_source")
            with gr.Row():
                methods = available_methods(models_dir())
                method = gr.Dropdown(methods, value=DEFAULT_METHOD, label="Method", elem_id="rembg_method", scale=4)
                refresh = gr.Button("Refresh", elem_id="rembg_refresh", scale=1)
            note = gr.Markdown(missing_note(models_dir()), elem_id="rembg_note")
            mask_only = gr.Checkbox(label="Mask only", value=False, elem_id="rembg_mask_only")
            matting, foreground, background, erode = matting_controls("rembg")
            remove = gr.Button("Remove background", variant="primary", elem_id="rembg_remove")
        with gr.Column():
            result = gr.Image(
                label="Result", type="pil", format="png", image_mode=None, interactive=False, elem_id="rembg_result"
            )
            message = gr.Markdown(elem_id="rembg_message")

    def on_remove(upload, *values):
        # Raw upload (preprocess=False): read within the app's pixel cap, never decoded by Gradio first.
        try:
            image = read_upload(upload, max_pixels())
        except UploadError as error:
            return None, str(error)
        return run_removal(remover, models_dir(), image, *values)

    def on_refresh(current):
        choices = available_methods(models_dir())
        value = current if current in choices else DEFAULT_METHOD
        return gr.update(choices=choices, value=value), missing_note(models_dir())

    remove.click(
        on_remove,
        inputs=[source, method, matting, foreground, background, erode, mask_only],
        outputs=[result, message],
        preprocess=False,
    )
    refresh.click(on_refresh, inputs=method, outputs=[method, note])
