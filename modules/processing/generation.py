"""Run a prepared request: one generation, or the chosen Script-menu script, whose run() makes
pictures with `p.process(**overrides)`.

Each p.process call starts again from the untouched request: the overrides make a new request
(validated), prepare() resolves it again (with the job's settings snapshot unless the overrides
change override_settings), and a fresh `p` goes through styles, the hooks and the extra networks.
So N calls with N sets of overrides make exactly the pictures of N separate requests.
"""

from dataclasses import dataclass

from modules.plugins.scripts import args_to_infotext
from modules.processing.context import ProcessingContext
from modules.processing.prepare import PreparedRequest, prepare
from modules.processing.request import GenerationRequest
from modules.processing.result import GenerationResult
from modules.sampling import noise

# Fields of `p` that a script may set before calling p.process() (the contract before overrides
# existed): a changed one counts as an override of the request field of the same name.
SCRIPT_SETTABLE = ("seed", "steps", "cfg_scale", "width", "height", "clip_skip")


@dataclass
class GenerationRun:
    """One job: the request as submitted, its prepared form and the seed picked for it."""

    engine: object
    job: object
    request: GenerationRequest  # untouched, as submitted
    prepared: PreparedRequest
    seed: int  # the base seed (picked once when the request says -1)

    def context(self, prepared: PreparedRequest, seed: int) -> ProcessingContext:
        request = prepared.request
        vaes = getattr(self.engine, "vaes", None)
        if vaes is not None:  # before get(): the model handed out gets this call's VAE at once
            vaes.select_for_job(prepared.settings.get("sd_vae"))
        model = self.engine.models.get(prepared.checkpoint)  # resolved once, by prepare()
        model, precision_params = apply_weight_storage(self.engine, model, prepared.settings)
        vae_params = apply_vae(self.engine, model, prepared.settings)
        p = ProcessingContext(
            request=request,
            model=model,
            settings=prepared.settings,
            models_dir=self.engine.paths.models_dir,
            prompt=prepared.prompt,
            negative_prompt=prepared.negative_prompt,
            clip_skip=request.clip_skip,
            seed=seed,
            steps=request.steps,
            cfg_scale=request.cfg_scale,
            width=request.width,
            height=request.height,
            warnings=list(prepared.warnings),
            job=self.job,
            upscalers=getattr(self.engine, "upscalers", None),
            engine=self.engine,
        )
        p.process = lambda **overrides: self.process(**overrides)
        p.extra_generation_params.update(precision_params)
        p.extra_generation_params.update(vae_params)
        if prepared.script is not None and prepared.script_args is not None:  # the Script-menu choice's keys
            p.extra_generation_params.update(args_to_infotext(prepared.script, prepared.script_args))
        return p

    def process(self, **overrides) -> GenerationResult:
        """Pictures from the untouched request with `overrides` (request field names)."""
        prepared = self.prepared
        if overrides:
            changed = self.request.with_overrides(**overrides)
            settings = None if "override_settings" in overrides else prepared.settings
            prepared = prepare(changed, self.engine, settings)
        same_seed = prepared.request.seed == self.prepared.request.seed
        return self.generate(prepared, self.seed if same_seed else noise.pick_seed(prepared.request.seed))

    def generate(self, prepared: PreparedRequest, seed: int) -> GenerationResult:
        from modules.processing.batch_loop import generate

        return generate(self.context(prepared, seed), self.engine, self.job, prepared)


def run(request: GenerationRequest, prepared: PreparedRequest, engine, job):
    """Run a request (as submitted) through the chosen Script-menu script if any, otherwise one
    generation; `prepared` is what Engine.submit_txt2img resolved for it."""
    vaes = getattr(engine, "vaes", None)
    if vaes is None:
        return _run(request, prepared, engine, job)
    with vaes.for_job(prepared.settings.get("sd_vae")):  # a refiner loaded mid-job gets it too
        return _run(request, prepared, engine, job)


def apply_weight_storage(engine, model, settings, second_pass: bool = False) -> tuple:
    """(the model, infotext keys) after A1111's "FP8 weight" for this model's family: the UNet's
    weights stored in FP8, or read again in full precision when FP8 was turned off."""
    fp8_setting, cache = _optional(settings, "fp8_storage", "Disable"), _optional(settings, "cache_fp16_weight", False)
    if fp8_setting == "Disable" and not _stored_fp8(model):
        return model, {}  # the common case: full precision asked for and kept
    from modules.models.fp8 import prepare_for_job

    return prepare_for_job(engine.models, model, fp8_setting, cache, second_pass=second_pass)


def _stored_fp8(model) -> bool:
    from modules.models.fp8 import weights_in_fp8

    return weights_in_fp8(getattr(model, "unet", None))


def _optional(settings, key: str, default):
    # An option group not joined into the settings yet (or a fake in tests) reads as its default.
    try:
        return settings.get(key)
    except (KeyError, LookupError):
        return default


def apply_vae(engine, model, settings) -> dict:
    """Put the job's "SD VAE" on the model before anything encodes or decodes (hires fix and
    img2img use the same one); the infotext keys it adds: "VAE hash" and "VAE" when a file is used."""
    vaes = getattr(engine, "vaes", None)
    if vaes is None:
        return {}
    info = vaes.apply(model, settings.get("sd_vae"))
    if info is None:
        return {}
    params = {}
    if settings.get("add_vae_hash_to_info"):
        params["VAE hash"] = vaes.sha256(info)[:10]  # A1111: the file's sha256, first 10 hex digits
    if settings.get("add_vae_name_to_info"):
        params["VAE"] = info.infotext_name
    return params


def _run(request: GenerationRequest, prepared: PreparedRequest, engine, job):
    runner = GenerationRun(engine, job, request, prepared, noise.pick_seed(prepared.request.seed))
    if prepared.script is None:
        return runner.generate(prepared, runner.seed)
    p = runner.context(prepared, runner.seed)
    baseline = _script_view(p)
    p.process = lambda **overrides: runner.process(**{**_set_by_script(p, baseline), **overrides})
    script = prepared.script
    try:
        result = script.run(p, prepared.script_args)
    except ValueError as error:  # what the request asked for cannot be done (422), not a failure
        raise ValueError(f"script {script.title!r}: {error}") from error
    except LookupError as error:  # e.g. an unknown checkpoint named in a line
        raise LookupError(f"script {script.title!r}: {error}") from error
    except Exception as error:
        owner = engine.plugins.script_owner.get(script.title, script.title)
        engine.extensions.report_error(owner, f"{script.title}.run: {type(error).__name__}: {error}")
        raise RuntimeError(f"script {script.title!r} failed: {type(error).__name__}: {error}") from error
    return result if result is not None else p.process()


def _script_view(p: ProcessingContext) -> dict:
    return {name: getattr(p, name) for name in (*SCRIPT_SETTABLE, "prompt", "negative_prompt")}


def _set_by_script(p: ProcessingContext, baseline: dict) -> dict:
    """The request fields a script changed by setting them on p (e.g. `p.seed = 5`)."""
    changed = {name: getattr(p, name) for name in SCRIPT_SETTABLE if getattr(p, name) != baseline[name]}
    if (p.prompt, p.negative_prompt) != (baseline["prompt"], baseline["negative_prompt"]):
        # p's prompts already have the styles applied: they replace the request's, without styles.
        changed.update(prompt=p.prompt, negative_prompt=p.negative_prompt, styles=[])
    return changed
