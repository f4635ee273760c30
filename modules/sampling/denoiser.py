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
from modules.sampling.prediction import NoiseLevels, StepFrame


@dataclass
class DenoiseInputs:
    latents: torch.Tensor  # the initial noise
    guidance: GuidancePlan
    generators: list[torch.Generator]
    # img2img and the hires fix's second pass: start from these latents, noised to where the run
    # starts: `start_step` of the schedule when given (img2img counts as A1111), else the first
    # (1 - strength) of it skipped (the hires pass).
    init_latents: torch.Tensor | None = None
    strength: float = 1.0
    start_step: int | None = None
    noise_multiplier: float = 1.0  # A1111's "Noise multiplier for img2img"
    extra_noise: float = 0.0  # A1111's "Extra noise": more of the same noise on the start latent
    inpaint: "InpaintBlend | None" = None  # inpainting: each step's prediction blended with the init
    options: SamplerOptions | None = None  # eta, s_churn, ... where the scheduler takes them
    switch: "ModelSwitch | None" = None  # the refiner: another UNet from a fraction of the steps on
    # More UNet input channels after the latents: a 9-channel inpainting model's mask and masked
    # image latents, instruct-pix2pix's image latents ([batch, C, h, w]; the plan picks the rows).
    extra_channels: torch.Tensor | None = None


@dataclass
class InpaintBlend:
    """Inpainting's per-step blend: each step's predicted clean latent takes the init latent where
    `keep` is 1 (A1111's `mask`) and stays itself where it is 0; after the last step the result is
    blended the same way. `hook(denoised, sigma, step, total, is_final)` may return a tensor to use
    instead (extensions' mask_blend), or None."""

    init_latent: torch.Tensor
    keep: torch.Tensor  # broadcastable to the latents: 1 keep, 0 inpaint
    prediction_type: str = "epsilon"
    hook: Callable | None = None
    _levels: NoiseLevels | None = None  # the run's scheduler's (one blend per run), made at the first step

    def blend(self, denoised: torch.Tensor, sigma: float, step: int, total: int, is_final: bool) -> torch.Tensor:
        init = self.init_latent.to(denoised.device, denoised.dtype)
        keep = self.keep.to(denoised.device, denoised.dtype)
        if self.hook is not None:
            replaced = self.hook(denoised, init, keep, sigma, step, total, is_final)
            if replaced is not None:
                return replaced.to(denoised.dtype)
        return init * keep + denoised * (1 - keep)

    def apply(self, scheduler, x: torch.Tensor, prediction: torch.Tensor, t, step: int, total: int) -> torch.Tensor:
        """The model output whose clean latent is the blended one."""
        if self._levels is None:
            self._levels = NoiseLevels.of(scheduler)
        frame = self._levels.frame(t, self.prediction_type)
        denoised = frame.denoised(x.float(), prediction.float())
        blended = self.blend(denoised, frame.sigma, step, total, False)
        return frame.output_for(x.float(), blended.float()).to(prediction.dtype)


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
        # Skip the start of the schedule and noise the given latents to the level where it goes on.
        if inputs.start_step is not None:
            start = inputs.start_step
        else:
            start = steps - min(int(steps * inputs.strength), steps)
        timesteps = timesteps[start * scheduler.order :]
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(start * scheduler.order)
        noise = inputs.latents * inputs.noise_multiplier if inputs.noise_multiplier != 1.0 else inputs.latents
        latents = scheduler.add_noise(inputs.init_latents, noise, timesteps[:1])
        if inputs.extra_noise > 0:
            latents = latents + noise * inputs.extra_noise * StepFrame.at(scheduler, timesteps[0]).scale
    plan = inputs.guidance
    # Not every diffusers scheduler takes a generator (only the stochastic ones need one).
    step_kwargs = (
        {"generator": inputs.generators} if "generator" in inspect.signature(scheduler.step).parameters else {}
    )
    step_kwargs.update(sampler_step_kwargs(scheduler, inputs.options))
    total = len(timesteps)
    switch_at = int(total * inputs.switch.fraction) if inputs.switch is not None else None
    extra_channels = inputs.extra_channels
    for index, t in enumerate(timesteps):
        if should_stop():
            return latents, True
        if index == switch_at:
            unet, plan = inputs.switch.load()
            if extra_channels is not None and unet.config.in_channels == latents.shape[1]:
                extra_channels = None  # an inpainting / ip2p base, a plain refiner: latents only
        cond, uncond = plan.contexts(plan.step_for(index, total))
        x = latents
        if step_hooks is not None:
            params = step_hooks.make_before(latents, t, index, total, cond, uncond)
            step_hooks.before(params)
            x, cond, uncond = params.x, params.cond, params.uncond
        context = torch.cat([uncond, cond]) if uncond is not None else cond
        model_input = scheduler.scale_model_input(plan.model_input(x), t)
        if extra_channels is not None:
            channels = plan.extra_channel_rows(extra_channels).to(model_input.device, model_input.dtype)
            model_input = torch.cat([model_input, channels], dim=1)
        with torch.inference_mode():
            output = unet(model_input, t, encoder_hidden_states=context, **plan.unet_kwargs(step_index=index)).sample
            prediction = plan.combine(output)
        if step_hooks is not None:
            after = step_hooks.make_after(prediction, x, t, index, total)
            step_hooks.after(after)
            prediction = after.prediction
        if inputs.inpaint is not None:
            prediction = inputs.inpaint.apply(scheduler, x, prediction, t, index, total)
        latents = scheduler.step(prediction, t, x, **step_kwargs).prev_sample
        on_step(index + 1, total)
        if on_latents is not None:
            on_latents(index + 1, latents)
    if inputs.inpaint is not None:
        latents = inputs.inpaint.blend(latents, 0.0, total, total, True)
    return latents, False
