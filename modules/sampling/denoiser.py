"""The denoising loop: classifier-free guidance over a diffusers scheduler.

It is ours (not a pipeline's) so that later stages can hook in per step; it does only
what a pipeline does per step, so it costs nothing extra.
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class DenoiseInputs:
    latents: torch.Tensor
    cond: torch.Tensor
    uncond: torch.Tensor | None  # None when CFG scale is 1: the unconditional pass is skipped
    cfg_scale: float
    generators: list[torch.Generator]


def denoise(
    unet,
    scheduler,
    inputs: DenoiseInputs,
    steps: int,
    on_step: Callable[[int, int], None],
    should_stop: Callable[[], bool],
    step_hooks=None,
) -> tuple[torch.Tensor, bool]:
    """Run the sampler; returns (latents, stopped_early). `step_hooks` (extensions' cfg_denoiser /
    cfg_denoised, see modules.processing.hooks.StepHooks) may change inputs and prediction."""
    scheduler.set_timesteps(steps, device=inputs.latents.device)
    latents = inputs.latents * scheduler.init_noise_sigma
    batch = latents.shape[0]
    context = _context(inputs.cond, inputs.uncond, batch)
    # Not every diffusers scheduler takes a generator (only the stochastic ones need one).
    step_kwargs = (
        {"generator": inputs.generators} if "generator" in inspect.signature(scheduler.step).parameters else {}
    )
    timesteps = scheduler.timesteps
    total = len(timesteps)
    for index, t in enumerate(timesteps):
        if should_stop():
            return latents, True
        x, step_context = latents, context
        if step_hooks is not None:
            params = step_hooks.make_before(latents, t, index, total, inputs.cond, inputs.uncond)
            step_hooks.before(params)
            x, step_context = params.x, _context(params.cond, params.uncond, batch)
        doubled = torch.cat([x, x]) if inputs.uncond is not None else x
        model_input = scheduler.scale_model_input(doubled, t)
        with torch.inference_mode():
            prediction = unet(model_input, t, encoder_hidden_states=step_context).sample
        if inputs.uncond is not None:
            uncond_pred, cond_pred = prediction.chunk(2)
            prediction = uncond_pred + inputs.cfg_scale * (cond_pred - uncond_pred)
        if step_hooks is not None:
            after = step_hooks.make_after(prediction, x, t, index, total)
            step_hooks.after(after)
            prediction = after.prediction
        latents = scheduler.step(prediction, t, x, **step_kwargs).prev_sample
        on_step(index + 1, total)
    return latents, False


def _context(cond: torch.Tensor, uncond: torch.Tensor | None, batch: int) -> torch.Tensor:
    """The UNet's encoder states: [uncond; cond] for CFG, or cond alone."""
    if uncond is None:
        return cond.expand(batch, -1, -1)
    return torch.cat([uncond.expand(batch, -1, -1), cond.expand(batch, -1, -1)])
