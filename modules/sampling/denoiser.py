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
) -> tuple[torch.Tensor, bool]:
    """Run the sampler; returns (latents, stopped_early)."""
    scheduler.set_timesteps(steps, device=inputs.latents.device)
    latents = inputs.latents * scheduler.init_noise_sigma
    batch = latents.shape[0]
    if inputs.uncond is not None:
        context = torch.cat([inputs.uncond.expand(batch, -1, -1), inputs.cond.expand(batch, -1, -1)])
    else:
        context = inputs.cond.expand(batch, -1, -1)
    # Not every diffusers scheduler takes a generator (only the stochastic ones need one).
    step_kwargs = (
        {"generator": inputs.generators} if "generator" in inspect.signature(scheduler.step).parameters else {}
    )
    timesteps = scheduler.timesteps
    total = len(timesteps)
    for index, t in enumerate(timesteps):
        if should_stop():
            return latents, True
        doubled = torch.cat([latents, latents]) if inputs.uncond is not None else latents
        model_input = scheduler.scale_model_input(doubled, t)
        with torch.inference_mode():
            prediction = unet(model_input, t, encoder_hidden_states=context).sample
        if inputs.uncond is not None:
            uncond_pred, cond_pred = prediction.chunk(2)
            prediction = uncond_pred + inputs.cfg_scale * (cond_pred - uncond_pred)
        latents = scheduler.step(prediction, t, latents, **step_kwargs).prev_sample
        on_step(index + 1, total)
    return latents, False
