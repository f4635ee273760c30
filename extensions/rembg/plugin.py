"""Background removal: an Extras step, a tab, a setting for generated images, and `POST /rembg`.

Only the extension contract is used (`modules.plugins`, `modules.config.settings`). Nothing heavy
is imported here: OpenCV, onnxruntime, pymatting and Gradio load on first use.
"""

from pydantic import BaseModel, Field, field_validator

from modules.config.settings import SettingSpec
from modules.plugins import PostprocessingStep, TabSpec, hookimpl

from .removal import (
    DEFAULT_METHOD,
    BackgroundRemover,
    MissingModelFile,
    UnreadableModelFile,
    all_methods,
    normalise_method,
)

# The one remover of this extension: it keeps loaded models between the tab, the Extras step,
# generated images and the API, and is handed to each of them explicitly.
_remover = BackgroundRemover()


class QueuedRemover:
    """The remover as the tab and `POST /rembg` use it: each removal runs as a job of kind "rembg"
    on the engine's one queue, so an ONNX session never competes with a generation for memory.
    (The Extras step and the generated-images setting already run inside a job.)"""

    def __init__(self, remover: BackgroundRemover, queue):
        self._remover, self._queue = remover, queue  # queue None (an engine without one): inline

    def remove(self, image, method, models_dir, **options):
        def work():
            return self._remover.remove(image, method, models_dir, **options)

        if self._queue is None:
            return work()
        return self._queue.run(work, f"background removal: {image.width}x{image.height}", "rembg")


SETTING_ON = "rembg_generated"
SETTING_METHOD = "rembg_generated_method"
SECTION = "Background removal"


class RembgArgs(BaseModel):
    """The Extras step's arguments (names as in A1111's rembg extension and `POST /rembg`)."""

    model: str = DEFAULT_METHOD
    return_mask: bool = False
    alpha_matting: bool = False
    alpha_matting_foreground_threshold: int = Field(240, ge=0, le=255)
    alpha_matting_background_threshold: int = Field(10, ge=0, le=255)
    alpha_matting_erode_size: int = Field(10, ge=0, le=100)

    @field_validator("model")
    @classmethod
    def _known_method(cls, value: str) -> str:
        return normalise_method(value)  # an unknown name fails here, listing the known ones


def _run_step(image, args: RembgArgs, context):
    return _remover.remove(
        image,
        args.model,
        context.models_dir,
        alpha_matting=args.alpha_matting,
        fg_threshold=args.alpha_matting_foreground_threshold,
        bg_threshold=args.alpha_matting_background_threshold,
        erode_size=args.alpha_matting_erode_size,
        mask_only=args.return_mask,
    )


def _step_ui():
    from .ui import step_controls

    return step_controls()


@hookimpl
def ui_settings():
    return [
        SettingSpec(SETTING_ON, False, "Remove the background of generated images", SECTION, "checkbox"),
        SettingSpec(
            SETTING_METHOD,
            DEFAULT_METHOD,
            "Method for generated images (a rembg model needs its file in models/rembg/)",
            SECTION,
            "dropdown",
            choices=tuple(all_methods()),
        ),
    ]


@hookimpl
def postprocess_image(p, params):
    if not p.settings.get(SETTING_ON):
        return
    method = p.settings.get(SETTING_METHOD)
    try:
        params.image = _remover.remove(params.image, method, p.models_dir)
    except (MissingModelFile, UnreadableModelFile) as error:
        # The picture is still worth keeping: say why its background stayed.
        if str(error) not in p.warnings:
            p.warnings.append(str(error))
        return
    p.extra_generation_params["Rembg"] = method


@hookimpl
def postprocessing_steps():
    return [PostprocessingStep(name="Background removal", order=20000, run=_run_step, Args=RembgArgs, ui=_step_ui)]


@hookimpl
def ui_tabs(engine):
    def render():
        from .ui import build_tab

        build_tab(
            QueuedRemover(_remover, getattr(engine, "queue", None)),
            lambda: engine.paths.models_dir,
            lambda: int(engine.settings.get("image_max_pixels")),
        )

    return [TabSpec(title="Background removal", elem_id="tab_rembg", render=render)]


@hookimpl
def app_started(app, engine):
    from .api import add_routes

    add_routes(
        app,
        QueuedRemover(_remover, getattr(engine, "queue", None)),
        lambda: engine.paths.models_dir,
        lambda: int(engine.settings.get("image_max_pixels")),
    )
