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
from modules.sampling.row_batching import RowBatching


@dataclass(frozen=True)
class SpeedOptions:
    """A1111's sampling speed options, from the job's settings (modules/config/speed_settings.py).
    The defaults give one UNet call per step with every row in it."""

    # "Negative Guidance minimum sigma": on every other step whose sigma is below it, the negative
    # rows are not run (their prediction is taken to be the prompt's); 0 = off.
    s_min_uncond: float = 0.0
    # "Batch cond/uncond": off = the rows go through the UNet a batch of images at a time.
    batch_cond_uncond: bool = True
    # "Pad prompt/negative prompt": off = a prompt and a negative of different lengths are not
    # padded to one, and go through the UNet in separate calls.
    pad_cond_uncond: bool = True

    @classmethod
    def from_settings(cls, settings) -> "SpeedOptions":
        return cls(
            s_min_uncond=float(settings.get("s_min_uncond") or 0),
            batch_cond_uncond=bool(settings.get("batch_cond_uncond")),
            pad_cond_uncond=bool(settings.get("pad_cond_uncond")),
        )


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
    speed: SpeedOptions | None = None  # None: the defaults


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
    speed = inputs.speed or SpeedOptions()
    levels = NoiseLevels.of(scheduler) if speed.s_min_uncond > 0 else None
    batching = RowBatching(None if speed.batch_cond_uncond else max(plan.batch, 1))
    for index, t in enumerate(timesteps):
        if should_stop():
            return latents, True
        if index == switch_at:
            unet, plan = inputs.switch.load()
            if extra_channels is not None and unet.config.in_channels == latents.shape[1]:
                extra_channels = None  # an inpainting / ip2p base, a plain refiner: latents only
        cond, uncond = plan.contexts(plan.step_for(index, total), speed.pad_cond_uncond)
        x = latents
        if step_hooks is not None:
            params = step_hooks.make_before(latents, t, index, total, cond, uncond)
            step_hooks.before(params)
            x, cond, uncond = params.x, params.cond, params.uncond
        model_input = scheduler.scale_model_input(plan.model_input(x), t)
        if extra_channels is not None:
            channels = plan.extra_channel_rows(extra_channels).to(model_input.device, model_input.dtype)
            model_input = torch.cat([model_input, channels], dim=1)
        with torch.inference_mode():
            # A1111's rule: every other model call, and only below the sigma (an edit model never).
            skip_uncond = (
                levels is not None
                and index % 2 == 1
                and uncond is not None
                and plan.can_skip_uncond
                and levels.sigma(t) < speed.s_min_uncond
            )
            kwargs = plan.unet_kwargs(step_index=index)
            output = _predict(unet, model_input, t, cond, uncond, kwargs, plan, batching, skip_uncond)
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


def _predict(unet, model_input, t, cond, uncond, unet_kwargs: dict, plan, batching: RowBatching,
             skip_uncond: bool) -> torch.Tensor:  # fmt: skip
    """The UNet's output for every row (negative rows first), in as few calls as the options allow:
    one when the prompt and negative rows have one width and Batch cond/uncond is on."""
    n_uncond = 0 if uncond is None else uncond.shape[0]
    if skip_uncond:
        output = batching.call(unet, model_input, t, cond, unet_kwargs, n_uncond)
        return torch.cat([output.index_select(0, plan.stand_in_rows().to(output.device)), output])
    if uncond is None:
        groups = [(0, cond)]
    elif uncond.shape[1] == cond.shape[1]:
        groups = [(0, torch.cat([uncond, cond]))]
    else:  # not padded to one length: two calls (A1111 without "Pad prompt/negative prompt")
        groups = [(0, uncond), (n_uncond, cond)]
    outputs = [batching.call(unet, model_input, t, context, unet_kwargs, start) for start, context in groups]
    return outputs[0] if len(outputs) == 1 else torch.cat(outputs)
