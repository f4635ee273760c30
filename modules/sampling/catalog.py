"""A1111 sampler and schedule-type names mapped onto diffusers schedulers.

Names are A1111's so that pasted infotext and API clients keep working; the schedulers
themselves are diffusers' (no hand-written copies). Where diffusers has no exact twin of an
A1111 sampler, the closest one is used and the spec's `note` says what differs.

Not mapped, because diffusers 0.42 has nothing close: "DPM fast", "DPM adaptive" (adaptive
step size), "Restart", "DDIM CFG++" / "Euler CFG++" (they change how guidance is combined,
not only the step). `DPMSolverSDEScheduler` (A1111's "DPM++ SDE") needs torchsde, which is
not a dependency here, so "DPM++ SDE" uses the singlestep SDE solver instead.
"""

import importlib
import inspect
import math
import time
from dataclasses import dataclass, field

# Every diffusers flag that replaces the sigma schedule; only one may be on at a time, so
# choosing a schedule switches the others off (a model's own config may carry one).
_SIGMA_FLAGS = ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas")


@dataclass(frozen=True)
class ScheduleType:
    """One A1111 schedule type as diffusers config overrides.

    A scheduler supports the type when its constructor takes every overridden key; a key it
    does not take would be dropped by `from_config` without a word, so that is refused instead.
    """

    label: str
    overrides: dict
    meaning: str

    def supported_by(self, scheduler_type) -> bool:
        params = inspect.signature(scheduler_type.__init__).parameters
        return all(key in params for key in self.overrides)


class _ScheduleTypes(dict):
    """label -> ScheduleType; iterating gives the labels, as code that lists choices expects."""


SCHEDULE_TYPES = _ScheduleTypes(
    (s.label, s)
    for s in (
        ScheduleType("Automatic", {}, "the sampler's own choice (A1111's per-sampler default, else the model config)"),
        # A1111's "Uniform" is k-diffusion's get_sigmas: timesteps evenly spaced from 999 to 0.
        ScheduleType("Uniform", {"timestep_spacing": "linspace"}, "timesteps evenly spaced from the last to 0"),
        ScheduleType("Karras", {"use_karras_sigmas": True}, "Karras et al. sigmas, rho 7"),
        ScheduleType("Exponential", {"use_exponential_sigmas": True}, "sigmas evenly spaced in log sigma"),
        # A1111's sgm_uniform spaces n+1 timesteps from 999 to 0 and drops the last one, which is
        # diffusers' "trailing" spacing (starts at the last training timestep).
        ScheduleType("SGM Uniform", {"timestep_spacing": "trailing"}, "trailing timesteps, as SDXL-Turbo/SGM"),
        # diffusers' beta schedule uses alpha = beta = 0.6, A1111's defaults for "Beta".
        ScheduleType("Beta", {"use_beta_sigmas": True}, "sigmas from a beta(0.6, 0.6) distribution"),
    )
)


@dataclass(frozen=True)
class SamplerSpec:
    name: str
    scheduler_class: str
    options: dict = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    # True when the result depends on the generator beyond the initial noise (fresh noise per step).
    ancestral: bool = False
    # What "Automatic" means for this sampler in A1111 (its options' "scheduler"); "" = model config.
    default_schedule: str = ""
    # Set when the scheduler takes a schedule's config keys but does nothing with them.
    only_schedules: tuple[str, ...] = ()
    note: str = ""

    def scheduler_type(self):
        # diffusers resolves its names lazily and swaps its module object in sys.modules when its
        # import finishes: while another thread (the model preload) is importing it, the object
        # we got may be the half-built first one. So look the module up again on every try.
        for _ in range(600):
            try:
                return getattr(importlib.import_module("diffusers"), self.scheduler_class)
            except AttributeError:
                time.sleep(0.05)
        return getattr(importlib.import_module("diffusers"), self.scheduler_class)

    def supports_schedule(self, schedule: str) -> bool:
        if self.only_schedules and schedule not in self.only_schedules:
            return False
        if schedule == "Automatic":
            return True  # every scheduler has its own default: no need to import diffusers
        return SCHEDULE_TYPES[schedule].supported_by(self.scheduler_type())

    def schedules(self) -> list[str]:
        return [label for label in SCHEDULE_TYPES if self.supports_schedule(label)]

    def build(self, base_config: dict, schedule: str = "Automatic"):
        """A fresh scheduler for one job: schedulers keep per-run state, so never share one."""
        # The model's scheduler config was written for another class: keys this one does not
        # take mean nothing here (and diffusers would warn about each on every job).
        accepted = inspect.signature(self.scheduler_type().__init__).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
        config = {k: v for k, v in base_config.items() if k in accepted or (takes_any and not k.startswith("_"))}
        config.update(self.options)
        if schedule == "Automatic" and self.default_schedule:
            schedule = self.default_schedule
        if schedule != "Automatic":
            if not self.supports_schedule(schedule):
                raise UnknownSamplerError(_unsupported(self, schedule))
            for flag in _SIGMA_FLAGS:
                config.pop(flag, None)
            config.update(SCHEDULE_TYPES[schedule].overrides)
        return self.scheduler_type().from_config(config)

    def api_options(self) -> dict[str, str]:
        """Option hints for GET /sdapi/v1/samplers, stringified as A1111 sends them."""
        options = {}
        if self.default_schedule:
            options["scheduler"] = self.default_schedule.lower()
        if self.ancestral:
            options["uses_ensd"] = "True"
        return options


_SDE = {"algorithm_type": "sde-dpmsolver++"}
# The singlestep solver cannot end on sigma 0 with a full-order last step; diffusers switches
# this on itself, with a warning on every build, when it is left off.
_SINGLESTEP = {"lower_order_final": True}

SAMPLERS: tuple[SamplerSpec, ...] = (
    SamplerSpec(
        "Euler a", "EulerAncestralDiscreteScheduler", aliases=("k_euler_a", "k_euler_ancestral"), ancestral=True
    ),
    SamplerSpec("Euler", "EulerDiscreteScheduler", aliases=("k_euler",)),
    SamplerSpec("LMS", "LMSDiscreteScheduler", aliases=("k_lms",)),
    SamplerSpec("Heun", "HeunDiscreteScheduler", aliases=("k_heun",)),
    SamplerSpec("DPM2", "KDPM2DiscreteScheduler", aliases=("k_dpm_2",)),
    SamplerSpec("DPM2 a", "KDPM2AncestralDiscreteScheduler", aliases=("k_dpm_2_a",), ancestral=True),
    SamplerSpec(
        "DPM++ 2S a",
        "DPMSolverSinglestepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2, **_SINGLESTEP},
        aliases=("k_dpmpp_2s_a",),
        default_schedule="Karras",
        note="diffusers has no ancestral 2S; its deterministic DPM-Solver++(2S) is the closest (diffusers' own "
        "A1111 table says so), so this one draws no per-step noise",
    ),
    SamplerSpec(
        "DPM++ 2M",
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2},
        aliases=("k_dpmpp_2m",),
        default_schedule="Karras",
    ),
    SamplerSpec(
        "DPM++ SDE",
        "DPMSolverSinglestepScheduler",
        {**_SDE, "solver_order": 2, **_SINGLESTEP},
        aliases=("k_dpmpp_sde",),
        ancestral=True,
        default_schedule="Karras",
        note="A1111's is DPMSolverSDEScheduler (Brownian-tree noise, needs torchsde, not installed); this is the "
        "same second-order singlestep SDE DPM-Solver++ with plain per-step Gaussian noise",
    ),
    SamplerSpec(
        "DPM++ 2M SDE",
        "DPMSolverMultistepScheduler",
        {**_SDE, "solver_order": 2},
        aliases=("k_dpmpp_2m_sde",),
        ancestral=True,
        default_schedule="Exponential",
        note="per-step Gaussian noise from the generator instead of k-diffusion's Brownian tree",
    ),
    SamplerSpec(
        "DPM++ 2M SDE Heun",
        "DPMSolverMultistepScheduler",
        {**_SDE, "solver_order": 2, "solver_type": "heun"},
        aliases=("k_dpmpp_2m_sde_heun",),
        ancestral=True,
        default_schedule="Exponential",
    ),
    SamplerSpec(
        "DPM++ 3M SDE",
        "DPMSolverMultistepScheduler",
        {**_SDE, "solver_order": 3},
        aliases=("k_dpmpp_3m_sde",),
        ancestral=True,
        default_schedule="Exponential",
    ),
    SamplerSpec("DDIM", "DDIMScheduler", {"set_alpha_to_one": False}, aliases=("ddim",)),
    SamplerSpec("PLMS", "PNDMScheduler", {"skip_prk_steps": True}, aliases=("plms",)),
    SamplerSpec("UniPC", "UniPCMultistepScheduler", aliases=("unipc",)),
    SamplerSpec(
        "LCM",
        "LCMScheduler",
        aliases=("k_lcm",),
        ancestral=True,
        only_schedules=("Automatic",),
        note="meant for LCM-distilled weights; it picks its own timesteps (timestep_spacing is accepted but "
        "unused), so it has no schedule choice",
    ),
    # Not in A1111, but diffusers has them and they are useful on the same models.
    SamplerSpec("DEIS", "DEISMultistepScheduler", aliases=("deis",)),
    SamplerSpec("DDPM", "DDPMScheduler", aliases=("ddpm",), ancestral=True),
)

DEFAULT_SAMPLER = "Euler a"


class UnknownSamplerError(ValueError):
    pass


def sampler_names() -> list[str]:
    return [spec.name for spec in SAMPLERS]


def resolve(name: str, schedule: str | None = "Automatic") -> tuple[SamplerSpec, str]:
    """Find a sampler by name or alias; old combined names ("DPM++ 2M Karras") set the schedule."""
    schedule = schedule or "Automatic"
    wanted = (name or DEFAULT_SAMPLER).strip()
    spec = _find(wanted)
    if spec is not None:
        return spec, _check_schedule(spec, schedule)
    # Longest label first, so "Euler SGM Uniform" is not read as "Euler SGM" + "Uniform".
    for label in sorted(SCHEDULE_TYPES, key=len, reverse=True):
        suffix = " " + label.lower()
        if label != "Automatic" and wanted.lower().endswith(suffix):
            spec = _find(wanted[: -len(suffix)].strip())
            if spec is not None:
                return spec, _check_schedule(spec, label)
    raise UnknownSamplerError(f"unknown sampler {wanted!r}; choose one of: {', '.join(sampler_names())}")


def _find(name: str) -> SamplerSpec | None:
    lowered = name.lower()
    for spec in SAMPLERS:
        if lowered == spec.name.lower() or lowered in (alias.lower() for alias in spec.aliases):
            return spec
    return None


def _unsupported(spec: SamplerSpec, schedule: str) -> str:
    return f"sampler {spec.name!r} does not support the {schedule} schedule; it supports: {', '.join(spec.schedules())}"


def _check_schedule(spec: SamplerSpec, schedule: str) -> str:
    match = next((label for label in SCHEDULE_TYPES if label.lower() == schedule.strip().lower()), None)
    if match is None:
        raise UnknownSamplerError(f"unknown schedule type {schedule!r}; choose one of: {', '.join(SCHEDULE_TYPES)}")
    if not spec.supports_schedule(match):
        raise UnknownSamplerError(_unsupported(spec, match))
    return match


@dataclass(frozen=True)
class SamplerOptions:
    """A1111's sampler parameters, with its defaults (eta None = the sampler's own).

    Which diffusers schedulers honour them (their step() takes the keyword):
    eta - DDIM only (0 by default, as A1111's "Eta for DDIM"); the ancestral schedulers
    (Euler a, DPM2 a, the SDE ones, LCM, DDPM) have their noise amount fixed, at A1111's
    default eta of 1, so a different eta is not applied to them.
    s_churn, s_tmin, s_tmax, s_noise - Euler only (diffusers' Heun step has no churn).
    `step_kwargs` drops what a scheduler cannot take; `ignored_options` names it for a warning.
    """

    eta: float | None = None
    s_churn: float = 0.0
    s_tmin: float = 0.0
    s_tmax: float = math.inf
    s_noise: float = 1.0


_OPTION_DEFAULTS = SamplerOptions()


def step_kwargs(scheduler, options: SamplerOptions | None) -> dict:
    """The options as keyword arguments for `scheduler.step()`, only those it accepts."""
    if options is None:
        return {}
    accepted = inspect.signature(scheduler.step).parameters
    values = {
        "eta": options.eta,
        "s_churn": options.s_churn,
        "s_tmin": options.s_tmin,
        "s_tmax": options.s_tmax,
        "s_noise": options.s_noise,
    }
    return {key: value for key, value in values.items() if key in accepted and value is not None}


def ignored_options(scheduler, options: SamplerOptions) -> list[str]:
    """Options set away from their defaults that this scheduler cannot take (to warn about)."""
    accepted = inspect.signature(scheduler.step).parameters
    changed = [key for key in ("eta", "s_churn", "s_tmin", "s_tmax", "s_noise")
               if getattr(options, key) != getattr(_OPTION_DEFAULTS, key)]  # fmt: skip
    return [key for key in changed if key not in accepted]


def ancestral_seeds(seeds: list[int], ensd: int) -> list[int]:
    """Seeds for the per-step noise of ancestral samplers under A1111's "Eta noise seed delta".

    A1111 seeds the generator of the noise added at each step with seed + ENSD (infotext
    "ENSD: 31337" is the NovelAI habit), while the initial noise keeps the plain seed. So with
    ENSD 0 both come from one seed, and only ancestral samplers change when ENSD changes.
    """
    return [seed + ensd for seed in seeds]
