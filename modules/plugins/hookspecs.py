"""The extension contract: one hookspec per extension point, documented here.

An extension is a folder in `extensions/` holding `plugin.py`; its module-level functions
decorated with `@hookimpl` and named after a hook below are called at that point:

    from modules.plugins import hookimpl

    @hookimpl
    def before_process(p):
        p.prompt = p.prompt + ", best quality"

Rules that hold for every hook:
- Declare only the arguments you use (pluggy passes them by name); new arguments may be
  added to a hook later, never removed or renamed, so an extension written today keeps working.
- Hooks run in extension load order (see metadata `before`/`after` in docs/EXTENSIONS.md);
  `@hookimpl(tryfirst=True)` / `trylast=True` move one implementation to the front or back.
- An exception in a hook is caught: it is logged and shown on the Extensions tab with the
  extension's name, the other extensions still run and the job goes on.
- `p` in the generation hooks is a `modules.processing.context.ProcessingContext`.
- Hook wrappers (`wrapper=True`) are not part of the contract and are refused at load time.

How pluggy calls them:
- Most hooks change what they are given (`p`, `params`, `result`) and return None; every
  implementation runs, in order.
- `firstresult=True` (`post_sample`, `mask_blend`, `mask_overlay`): the first implementation
  that returns something other than None decides, and the ones after it are not called for that call.
- `historic=True` (`model_loaded`): an implementation registered after the event (a late
  extension, an always-on script) is called at once with the latest model, then with each
  new one.
- The hooks in `CONTRIBUTION_HOOKS` return a list; the app gathers every extension's list and
  remembers which extension gave what (for error messages and the Extensions tab).
- Always-on scripts' stage methods are registered as implementations of the stage hooks of the
  same names (after the extensions' own), so one hook call reaches both.

The annotations are the real types; they are imported only for type checkers, so loading this
module imports neither torch nor the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    import torch
    from fastapi import FastAPI
    from PIL import Image

    from modules.config.settings import SettingSpec
    from modules.engine import Engine
    from modules.models.loading import LoadedModel
    from modules.plugins.scripts import Script
    from modules.plugins.types import (
        DenoisedParams,
        DenoiserParams,
        ExtraNetwork,
        ImageSavedParams,
        MaskBlendParams,
        MaskOverlayParams,
        PostprocessImageParams,
        PostprocessingStep,
        TabSpec,
    )
    from modules.processing.context import ProcessingContext
    from modules.processing.result import GenerationResult

PROJECT = "sdstudio"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# Hooks whose implementations each return a list of contributions, gathered from every extension.
CONTRIBUTION_HOOKS = frozenset({"ui_settings", "ui_tabs", "scripts", "extra_networks", "postprocessing_steps"})


# --- start-up --------------------------------------------------------------------------


@hookspec
def add_cli_flags(parser: argparse.ArgumentParser) -> None:
    """Add command-line flags (an `argparse.ArgumentParser`) before the command line is parsed.
    Use a prefix of your own (`--myext-...`); the parsed values are on `flags` later."""


@hookspec
def ui_settings() -> list[SettingSpec]:
    """Return a list of `modules.config.settings.SettingSpec` to declare options. They appear on
    the Settings tab, in `GET/POST /sdapi/v1/options`, and are read with `p.settings.get(key)`."""


@hookspec
def app_started(app: FastAPI, engine: Engine) -> None:
    """The FastAPI `app` is built and about to serve: add HTTP routes
    (`app.add_api_route(...)` or `app.include_router(...)`). `engine` is the running engine.
    The routes are served only with `--api`, behind the API login, like the core API."""


@hookspec
def ui_tabs(engine: Engine) -> list[TabSpec]:
    """Return a list of `modules.plugins.types.TabSpec`; each becomes a top-level tab of the web UI."""


@hookspec(historic=True)
def model_loaded(model: LoadedModel) -> None:
    """A checkpoint was loaded (`modules.models.loading.LoadedModel`: unet, text_encoder, vae,
    tokenizer, info). Historic: an implementation registered later is called at once with the
    model loaded last (only the latest one is remembered, so a replaced model can be freed)."""


# --- scripts and networks ----------------------------------------------------------------


@hookspec
def scripts() -> list[type[Script]]:
    """Return a list of `modules.plugins.scripts.Script` subclasses (not instances) for the Script
    menu (`alwayson = False`) or to run on every generation (`alwayson = True`). `Script.modes`
    says where each runs ("txt2img", "img2img"). An always-on script's overridden stage methods
    are registered as implementations of the stage hooks below (trylast), with its job args."""


@hookspec
def extra_networks(models_dir: Path) -> list[ExtraNetwork]:
    """Return a list of objects implementing `modules.plugins.types.ExtraNetwork`. Prompt tags
    `<name:...>` whose name is in the object's `names` are stripped and handed to it. Called once
    per engine; `models_dir` is that engine's models folder (for `list_items`). Networks that change
    weights add patches in `activate` (`p.patches.add(...)`); the core merges them (see ExtraNetwork)."""


@hookspec
def postprocessing_steps() -> list[PostprocessingStep]:
    """Return a list of `modules.plugins.types.PostprocessingStep` for the Extras tab and
    `POST /sdapi/v1/extra-single-image`, run in ascending `order`."""


# --- generation stages, in the order they happen ---------------------------------------------


@hookspec
def before_process(p: ProcessingContext) -> None:
    """Before anything: prompts, seeds and settings may still be changed. Extra-network tags
    are still in `p.prompt` here."""


@hookspec
def process(p: ProcessingContext) -> None:
    """Extra networks are active and tags stripped; the prompt is about to be encoded."""


@hookspec
def before_process_batch(p: ProcessingContext, batch_index: int, prompts: list[str], seeds: list[int]) -> None:
    """Before each batch. `prompts` and `seeds` are `p.prompts` and `p.seeds`, this batch's lists
    (tags stripped), mutable: what is left there is sampled and recorded per image."""


@hookspec
def process_batch(p: ProcessingContext, batch_index: int, prompts: list[str], seeds: list[int]) -> None:
    """Each batch, just before sampling starts; the same lists as `before_process_batch`."""


@hookspec
def cfg_denoiser(p: ProcessingContext, params: DenoiserParams) -> None:
    """Every sampling step, before the UNet call: `params` is a `DenoiserParams`."""


@hookspec
def cfg_denoised(p: ProcessingContext, params: DenoisedParams) -> None:
    """Every sampling step, after guidance: `params` is a `DenoisedParams`."""


@hookspec(firstresult=True)
def post_sample(p: ProcessingContext, latents: torch.Tensor) -> torch.Tensor | None:
    """After sampling a batch, before decoding. Return a tensor to replace the latents, or None
    to leave them. First result wins: once an implementation returns a tensor, the ones after it
    are not called for this batch (order them with `tryfirst` / `trylast`, or `before`/`after`)."""


@hookspec(firstresult=True)
def mask_blend(p: ProcessingContext, params: MaskBlendParams) -> torch.Tensor | None:
    """Inpainting: each step (and once after the last, `params.is_final`), the denoised latent is
    blended with the init latent through the mask. Return a tensor to use instead of the default
    blend, or None. First result wins (soft inpainting uses this)."""


@hookspec(firstresult=True)
def mask_overlay(p: ProcessingContext, params: MaskOverlayParams) -> Image.Image | None:
    """Inpainting: each generated picture is put back over the original through the blurred mask
    (after colour correction, before `postprocess_image`). Return a picture to use instead of the
    default composite, or None. First result wins."""


@hookspec
def postprocess_image(p: ProcessingContext, params: PostprocessImageParams) -> None:
    """Each decoded image (`params` is a `PostprocessImageParams`; set `params.image`)."""


@hookspec
def postprocess(p: ProcessingContext, result: GenerationResult) -> None:
    """The job finished: `result` is the `GenerationResult` about to be returned."""


@hookspec
def image_saved(params: ImageSavedParams) -> None:
    """An image was written to disk (`params` is an `ImageSavedParams`, with its infotext)."""


@hookspec
def infotext_pasted(infotext: str, params: dict[str, Any]) -> None:
    """Infotext is being turned into UI/API fields: `params` is the parsed dict
    (`{"Prompt": ..., "Steps": 20, ...}`); add or change keys in place."""
