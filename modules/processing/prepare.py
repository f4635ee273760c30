"""The prepare step: every name in a request resolved once, when the job is submitted, and every
problem of the request reported together.

`prepare(request, engine)` gives a PreparedRequest (the sampler, schedules, upscaler, checkpoints,
styled prompts, scripts and their args, the settings snapshot) that the job uses as it is: nothing
is looked up by name a second time inside the job. A request with problems raises one
RequestProblems (a ValueError: the API answers 422) naming all of them.
"""

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from modules.plugins.scripts import Script, parse_script_args
from modules.processing.request import GenerationRequest
from modules.processing.upscalers import LATENT_UPSCALERS, check_upscaler
from modules.sampling import catalog


class RequestProblems(ValueError):
    """Everything wrong with one request (two or more problems; a single one is raised as the
    error it is, e.g. UnknownCheckpointError). `causes`: the errors; str() names them all."""

    def __init__(self, problems: list[tuple[str, Exception]]):
        self.causes = [error for _, error in problems]
        self.problems = [_labelled(label, error) for label, error in problems]
        super().__init__(f"{len(self.problems)} problems: " + "; ".join(self.problems))


def _labelled(label: str, error: Exception) -> str:
    text = str(error)
    return f"{label}: {text}" if label and not text.startswith(label) else text


@dataclass(frozen=True)
class PreparedRequest:
    """A request with its names resolved. `request` has its sizes rounded to multiples of 8 and its
    upscaler name in canonical form; `warnings` say what was adjusted."""

    request: GenerationRequest
    settings: Any  # modules.config.settings.SettingsSnapshot: the job's settings, frozen at submit
    sampler: catalog.SamplerSpec
    schedule: str
    prompt: str  # comments removed and styles applied: what the job starts from
    negative_prompt: str
    hires_sampler: catalog.SamplerSpec | None = None  # None: the hires fix is off
    hires_schedule: str | None = None
    checkpoint: Any = None  # CheckpointInfo when the request names one; None: the loaded model
    refiner: Any = None  # CheckpointInfo of the refiner, None without one
    hires_checkpoint: Any = None  # CheckpointInfo of the hires pass's own checkpoint, None: the first pass's
    script: Script | None = None  # the chosen Script-menu script
    script_args: BaseModel | None = None
    alwayson_args: dict[str, BaseModel] = field(default_factory=dict)  # given always-on args by title
    warnings: tuple[str, ...] = ()


def prepare(request: GenerationRequest, engine, settings=None) -> PreparedRequest:
    """Resolve every name of `request` on `engine`. `settings`: a snapshot to reuse (e.g. the job's,
    for a p.process() call that does not change override_settings); None: one taken now."""
    problems: list[tuple[str, Exception]] = []

    def attempt(label: str, resolve, fallback=None):
        try:
            return resolve()
        except (ValueError, LookupError) as error:
            problems.append((label, error))
            return fallback

    if settings is None:
        settings = attempt("", lambda: engine.settings.snapshot(request.override_settings))
        live_settings = settings or engine.settings.snapshot()
    else:
        live_settings = settings
    request, warnings = request.size_adjustments()
    sampler, schedule = attempt(
        "sampler_name/scheduler", lambda: catalog.resolve(request.sampler_name, request.scheduler), (None, None)
    )
    hires_sampler = hires_schedule = None
    upscalers = getattr(engine, "upscalers", None)  # the model upscalers the engine lists
    upscaler = attempt("hr_upscaler", lambda: check_upscaler(request.hr_upscaler, upscalers))  # checked even when off
    if upscaler:
        request = request.model_copy(update={"hr_upscaler": upscaler})
    if request.enable_hr and sampler is not None:
        hires_sampler, hires_schedule = attempt(
            "hr_sampler_name/hr_scheduler",
            lambda: catalog.resolve(request.hr_sampler_name or sampler.name, request.hr_scheduler or schedule),
            (None, None),
        )
    checkpoint = None  # None: the loaded model when the job runs (a switch queued before it counts)
    if request.checkpoint:
        checkpoint = attempt("checkpoint", lambda: engine.models.resolve(request.checkpoint))
    refiner = None
    if request.refiner_checkpoint and request.refiner_switch_at < 1.0:
        refiner = attempt("refiner_checkpoint", lambda: engine.models.resolve(request.refiner_checkpoint))
    elif request.refiner_checkpoint:  # switch at 1.0: never used, but a wrong name is still wrong
        attempt("refiner_checkpoint", lambda: engine.models.resolve(request.refiner_checkpoint))
    if refiner is not None:
        attempt("refiner_checkpoint", lambda: _check_same_latents(engine, checkpoint, refiner, "refine"))
    hires_checkpoint = None
    if request.hr_checkpoint_name:  # checked even when the hires fix is off: a wrong name is wrong
        hires_checkpoint = attempt("hr_checkpoint_name", lambda: engine.models.resolve(request.hr_checkpoint_name))
        if not request.enable_hr:
            hires_checkpoint = None
    if hires_checkpoint is not None and request.hr_upscaler in LATENT_UPSCALERS:  # latents go on as they are
        attempt("hr_checkpoint_name", lambda: _check_same_latents(engine, checkpoint, hires_checkpoint,
                                                                  "continue (with a latent upscaler)"))  # fmt: skip
    vaes = getattr(engine, "vaes", None)
    if vaes is not None and settings is not None:  # a VAE named in override_settings must be listed
        attempt("override_settings", lambda: vaes.setting_value(str(settings.get("sd_vae") or "Automatic")))
    prompts = attempt("styles", lambda: engine.prepare_prompts(request.prompt, request.negative_prompt,
                                                                request.styles, live_settings))  # fmt: skip
    script, script_args = _selected_script(engine, request, attempt)
    alwayson = _alwayson_args(engine, request, attempt)
    if len(problems) == 1:
        raise problems[0][1]
    if problems:
        raise RequestProblems(problems)
    prepared = PreparedRequest(
        request=request,
        settings=settings,
        sampler=sampler,
        schedule=schedule,
        prompt=prompts[0],
        negative_prompt=prompts[1],
        hires_sampler=hires_sampler,
        hires_schedule=hires_schedule,
        checkpoint=checkpoint,
        refiner=refiner,
        hires_checkpoint=hires_checkpoint,
        script=script,
        script_args=script_args,
        alwayson_args=alwayson,
        warnings=tuple(warnings),
    )
    # Last, once the request is known to be valid: a job that would exceed the memory cap is
    # refused (MemoryCapExceeded, a ValueError) before anything is queued. Imported here: the
    # memory package brings torch, which the job imports anyway but a bare prepare() need not.
    from modules.memory import budget

    budget.check(prepared, engine)
    return prepared


def _check_same_latents(engine, checkpoint, second, what: str) -> None:
    """A second checkpoint that goes on from the first one's latents (a refiner, a hires checkpoint
    after a latent upscale) must share its latent space: an SDXL refiner after an SDXL base, any
    SD 1.x / 2.x model after another. Checked from headers, before the job runs; a family not known
    without loading (a pickled file) is checked by nothing here."""
    models = engine.models
    try:
        base_info = checkpoint or models.resolve(None)
    except LookupError:
        return
    base, other = models.family_of(base_info), models.family_of(second)
    if base is not None and other is not None and base.latent_space != other.latent_space:
        raise ValueError(
            f"{second.name} is an {other.label} model and {base_info.name} an {base.label} model: their latents "
            f"differ, so one cannot {what} the other's picture"
        )


def _selected_script(engine, request: GenerationRequest, attempt) -> tuple[Script | None, BaseModel | None]:
    if not request.script_name:
        return None, None
    script = attempt("script_name", lambda: engine.plugins.find_script(request.script_name, _mode(request)))
    if script is None:
        return None, None
    if script.alwayson:
        attempt("script_name", lambda: _refuse(f"script {script.title!r} is always-on: pass it in alwayson_scripts"))
        return None, None
    return script, attempt("script_args", lambda: parse_script_args(script, request.script_args))


def _alwayson_args(engine, request: GenerationRequest, attempt) -> dict[str, BaseModel]:
    found = {}
    for title, raw in (request.alwayson_scripts or {}).items():
        script = attempt("alwayson_scripts", lambda t=title: engine.plugins.find_script(t, _mode(request)))
        if script is None:
            continue
        if not script.alwayson:
            attempt("alwayson_scripts", lambda s=script: _refuse(f"script {s.title!r} is not always-on: pass it as "
                                                                   "script_name"))  # fmt: skip
            continue
        args = attempt("alwayson_scripts", lambda s=script, r=raw: parse_script_args(s, r))
        if args is not None:
            found[script.title] = args
    return found


def _mode(request: GenerationRequest) -> str:
    """The tab a request belongs to, for the scripts that run only in one."""
    return "txt2img" if request.init is None else "img2img"


def _refuse(message: str):
    raise ValueError(message)
