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
"""

import pluggy

PROJECT = "sdstudio"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --- start-up --------------------------------------------------------------------------


@hookspec
def add_cli_flags(parser):
    """Add command-line flags (an `argparse.ArgumentParser`) before the command line is parsed.
    Use a prefix of your own (`--myext-...`); the parsed values are on `flags` later."""


@hookspec
def ui_settings():
    """Return a list of `modules.config.settings.SettingSpec` to declare options. They appear on
    the Settings tab, in `GET/POST /sdapi/v1/options`, and are read with `p.settings.get(key)`."""


@hookspec
def app_started(app, engine):
    """The FastAPI `app` is built and about to serve: add HTTP routes
    (`app.add_api_route(...)` or `app.include_router(...)`). `engine` is the running engine.
    The routes are served only with `--api`, behind the API login, like the core API."""


@hookspec
def ui_tabs(engine):
    """Return a list of `modules.plugins.types.TabSpec`; each becomes a top-level tab of the web UI."""


@hookspec
def model_loaded(model):
    """A checkpoint was loaded (`modules.models.loading.LoadedModel`: unet, text_encoder, vae,
    tokenizer, info)."""


# --- scripts and networks ----------------------------------------------------------------


@hookspec
def scripts():
    """Return a list of `modules.plugins.scripts.Script` subclasses (not instances) for the Script
    menu (`alwayson = False`) or to run on every generation (`alwayson = True`)."""


@hookspec
def extra_networks(models_dir):
    """Return a list of objects implementing `modules.plugins.types.ExtraNetwork`. Prompt tags
    `<name:...>` whose name is in the object's `names` are stripped and handed to it. Called once
    per engine; `models_dir` is that engine's models folder (for `list_items`)."""


@hookspec
def postprocessing_steps():
    """Return a list of `modules.plugins.types.PostprocessingStep` for the Extras tab and
    `POST /sdapi/v1/extra-single-image`, run in ascending `order`."""


# --- generation stages, in the order they happen ---------------------------------------------


@hookspec
def before_process(p):
    """Before anything: prompts, seeds and settings may still be changed. Extra-network tags
    are still in `p.prompt` here."""


@hookspec
def process(p):
    """Extra networks are active and tags stripped; the prompt is about to be encoded."""


@hookspec
def before_process_batch(p, batch_index, prompts, seeds):
    """Before each batch. `prompts` and `seeds` are `p.prompts` and `p.seeds`, this batch's lists
    (tags stripped), mutable: what is left there is sampled and recorded per image."""


@hookspec
def process_batch(p, batch_index, prompts, seeds):
    """Each batch, just before sampling starts; the same lists as `before_process_batch`."""


@hookspec
def cfg_denoiser(p, params):
    """Every sampling step, before the UNet call: `params` is a `DenoiserParams`."""


@hookspec
def cfg_denoised(p, params):
    """Every sampling step, after guidance: `params` is a `DenoisedParams`."""


@hookspec
def post_sample(p, latents):
    """After sampling a batch, before decoding. Return a tensor to replace the latents."""


@hookspec
def postprocess_image(p, params):
    """Each decoded image (`params` is a `PostprocessImageParams`; set `params.image`)."""


@hookspec
def postprocess(p, result):
    """The job finished: `result` is the `GenerationResult` about to be returned."""


@hookspec
def image_saved(params):
    """An image was written to disk (`params` is an `ImageSavedParams`, with its infotext)."""


@hookspec
def infotext_pasted(infotext, params):
    """Infotext is being turned into UI/API fields: `params` is the parsed dict
    (`{"Prompt": ..., "Steps": 20, ...}`); add or change keys in place."""
