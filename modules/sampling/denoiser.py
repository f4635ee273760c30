"""The denoising loop: guidance (CFG, AND parts, scheduled prompts) over a diffusers scheduler.

It is ours (not a pipeline's) so that extensions hook in per step and the conditioning can
change between steps; in the plain case it does only what a pipeline does per step, so it
costs nothing extra.
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch

from modules.sampling.catalog import SamplerOptions
from modules.sampling.catalog import step_kwargs as sampler_step_kwargs
from modules.sampling.guidance import GuidancePlan


@dataclass
class DenoiseInputs:
    latents: torch.Tensor  # the initial noise
    guidance: GuidancePlan
    generators: list[torch.Generator]
    # img2img (hires fix's second pass): start from these latents, noised to `strength`.
    init_latents: torch.Tensor | None = None
    strength: float = 1.0
    options: SamplerOptions | None = None  # eta, s_churn, ... where the scheduler takes them
    switch: "ModelSwitch | None" = None  # the refiner: another UNet from a fraction of the steps on


@dataclass
class ModelSwitch:
    """At `fraction` of the steps, `load()` gives (unet, GuidancePlan) to finish with."""

    fraction: float
    load: Callable[[], tuple]


def denoise(
    unet,
    scheduler,
    inputs: DenoiseInputs,
    steps: int,
    on_step: Callable[[int, int], None],
    should_stop: Callable[[], bool],
    step_hooks=None,
    on_latents: Callable[[int, torch.Tensor], None] | None = None,
) -> tuple[torch.Tensor, bool]:
    """Run the sampler; returns (latents, stopped_early). `step_hooks` (extensions' cfg_denoiser /
    cfg_denoised, see modules.processing.hooks.StepHooks) may change inputs and prediction."""
    scheduler.set_timesteps(steps, device=inputs.latents.device)
    timesteps = scheduler.timesteps
    if inputs.init_latents is None:
        latents = inputs.latents * scheduler.init_noise_sigma
    else:
        # As diffusers' img2img: skip the first (1 - strength) of the schedule and noise the
        # given latents to the level where it starts.
        start = steps - min(int(steps * inputs.strength), steps)
        timesteps = timesteps[start * scheduler.order :]
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(start * scheduler.order)
        latents = scheduler.add_noise(inputs.init_latents, inputs.latents, timesteps[:1])
    plan = inputs.guidance
    # Not every diffusers scheduler takes a generator (only the stochastic ones need one).
    step_kwargs = (
        {"generator": inputs.generators} if "generator" in inspect.signature(scheduler.step).parameters else {}
    )
    step_kwargs.update(sampler_step_kwargs(scheduler, inputs.options))
    total = len(timesteps)
    switch_at = int(total * inputs.switch.fraction) if inputs.switch is not None else None
    for index, t in enumerate(timesteps):
        if should_stop():
            return latents, True
        if index == switch_at:
            unet, plan = inputs.switch.load()
        cond, uncond = plan.contexts(plan.step_for(index, total))
        x = latents
        if step_hooks is not None:
            params = step_hooks.make_before(latents, t, index, total, cond, uncond)
            step_hooks.before(params)
            x, cond, uncond = params.x, params.cond, params.uncond
        context = torch.cat([uncond, cond]) if uncond is not None else cond
        model_input = scheduler.scale_model_input(plan.model_input(x), t)
        with torch.inference_mode():
            prediction = plan.combine(unet(model_input, t, encoder_hidden_states=context).sample)
        if step_hooks is not None:
            after = step_hooks.make_after(prediction, x, t, index, total)
            step_hooks.after(after)
            prediction = after.prediction
        latents = scheduler.step(prediction, t, x, **step_kwargs).prev_sample
        on_step(index + 1, total)
        if on_latents is not None:
            on_latents(index + 1, latents)
    return latents, False
