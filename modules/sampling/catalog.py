"""A1111 sampler and schedule-type names mapped onto diffusers schedulers.

Names are A1111's so that pasted infotext and API clients keep working; the schedulers
themselves are diffusers' (no hand-written copies).
"""

import inspect
from dataclasses import dataclass, field

SCHEDULE_TYPES = {
    # A1111 label -> diffusers flag that selects that sigma schedule ("" = scheduler default)
    "Automatic": "",
    "Karras": "use_karras_sigmas",
    "Exponential": "use_exponential_sigmas",
    "Beta": "use_beta_sigmas",
}


@dataclass(frozen=True)
class SamplerSpec:
    name: str
    scheduler_class: str
    options: dict = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    ancestral: bool = False

    def scheduler_type(self):
        import diffusers

        return getattr(diffusers, self.scheduler_class)

    def supports_schedule(self, schedule: str) -> bool:
        flag = SCHEDULE_TYPES[schedule]
        if not flag:
            return True
        return flag in inspect.signature(self.scheduler_type().__init__).parameters

    def build(self, base_config: dict, schedule: str = "Automatic"):
        """A fresh scheduler for one job: schedulers keep per-run state, so never share one."""
        config = {k: v for k, v in base_config.items() if not k.startswith("_")}
        config.update(self.options)
        flag = SCHEDULE_TYPES[schedule]
        if flag:
            config[flag] = True
        return self.scheduler_type().from_config(config)


SAMPLERS: tuple[SamplerSpec, ...] = (
    SamplerSpec("Euler a", "EulerAncestralDiscreteScheduler", aliases=("k_euler_a",), ancestral=True),
    SamplerSpec("Euler", "EulerDiscreteScheduler", aliases=("k_euler",)),
    SamplerSpec("LMS", "LMSDiscreteScheduler", aliases=("k_lms",)),
    SamplerSpec("Heun", "HeunDiscreteScheduler", aliases=("k_heun",)),
    SamplerSpec("DPM2", "KDPM2DiscreteScheduler", aliases=("k_dpm_2",)),
    SamplerSpec("DPM2 a", "KDPM2AncestralDiscreteScheduler", aliases=("k_dpm_2_a",), ancestral=True),
    SamplerSpec(
        "DPM++ 2M",
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2},
        aliases=("k_dpmpp_2m",),
    ),
    SamplerSpec(
        "DPM++ 2M SDE",
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "sde-dpmsolver++", "solver_order": 2},
        aliases=("k_dpmpp_2m_sde",),
        ancestral=True,
    ),
    SamplerSpec("UniPC", "UniPCMultistepScheduler"),
    SamplerSpec("DDIM", "DDIMScheduler", {"set_alpha_to_one": False}),
    SamplerSpec("PLMS", "PNDMScheduler", {"skip_prk_steps": True}),
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
    lowered = wanted.lower()
    for spec in SAMPLERS:
        if lowered == spec.name.lower() or lowered in spec.aliases:
            return spec, _check_schedule(spec, schedule)
    for label in SCHEDULE_TYPES:
        suffix = " " + label.lower()
        if label != "Automatic" and lowered.endswith(suffix):
            spec, _ = resolve(wanted[: -len(suffix)], "Automatic")
            return spec, _check_schedule(spec, label)
    raise UnknownSamplerError(f"unknown sampler {wanted!r}; choose one of: {', '.join(sampler_names())}")


def _check_schedule(spec: SamplerSpec, schedule: str) -> str:
    match = next((label for label in SCHEDULE_TYPES if label.lower() == schedule.strip().lower()), None)
    if match is None:
        raise UnknownSamplerError(f"unknown schedule type {schedule!r}; choose one of: {', '.join(SCHEDULE_TYPES)}")
    if not spec.supports_schedule(match):
        raise UnknownSamplerError(f"sampler {spec.name!r} does not support the {match} schedule")
    return match
