"""A model prediction seen as the clean latent it implies, and back: what inpainting needs to blend
each step's prediction with the init image (A1111 blends k-diffusion's `denoised`; diffusers'
schedulers take the raw model output, so we convert on both sides).

One formula for every scheduler: the noise level of a step is the k-diffusion sigma of its
timestep (from the training schedule's alphas_cumprod, interpolated in log-sigma for fractional
timesteps, as diffusers' sigma-space schedulers map them). Sigma-space schedulers (Euler, LMS,
Heun, DPM2: `init_noise_sigma` > 1) hold latents as x0 + sigma * eps; the others (DDIM, DPM++,
UniPC, ...) as sqrt(alpha) * (x0 + sigma * eps).
"""

from dataclasses import dataclass

import torch


def sigma_at(scheduler, timestep) -> float:
    """The k-diffusion noise level of a (possibly fractional) training timestep."""
    return NoiseLevels.of(scheduler).sigma(timestep)


@dataclass(frozen=True)
class NoiseLevels:
    """A scheduler's training noise levels, computed once per run (each step looks one up)."""

    log_sigmas: torch.Tensor
    sigma_space: bool  # latents held as x0 + sigma * eps (Euler-like), else alpha-scaled

    @classmethod
    def of(cls, scheduler) -> "NoiseLevels":
        alphas = scheduler.alphas_cumprod.double().cpu()
        sigma_space = float(getattr(scheduler, "init_noise_sigma", 1.0)) > 1.0
        return cls(0.5 * torch.log((1 - alphas) / alphas), sigma_space)

    def sigma(self, timestep) -> float:
        t = float(timestep)
        last = len(self.log_sigmas) - 1
        low = min(max(int(t), 0), last)
        high = min(low + 1, last)
        weight = t - low
        return float(torch.exp(self.log_sigmas[low] * (1 - weight) + self.log_sigmas[high] * weight))

    def frame(self, timestep, prediction_type: str = "epsilon") -> "StepFrame":
        sigma = self.sigma(timestep)
        scale = 1.0 if self.sigma_space else (1.0 / (1.0 + sigma * sigma)) ** 0.5
        return StepFrame(sigma, scale, prediction_type)


@dataclass(frozen=True)
class StepFrame:
    """How one step's latents relate to the clean latent: x = scale * (x0 + sigma * eps)."""

    sigma: float
    scale: float  # 1 for sigma-space schedulers, sqrt(alpha) for the others
    prediction_type: str  # "epsilon" or "v_prediction" (the model's)

    @classmethod
    def at(cls, scheduler, timestep, prediction_type: str = "epsilon") -> "StepFrame":
        return NoiseLevels.of(scheduler).frame(timestep, prediction_type)

    def denoised(self, x: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """The clean latent that `output` (the guided model output) predicts for latents `x`."""
        x_k, s = x / self.scale, self.sigma
        if self.prediction_type == "v_prediction":
            return (x_k - s * (1 + s * s) ** 0.5 * output) / (1 + s * s)
        return x_k - s * output

    def output_for(self, x: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
        """The model output that predicts `denoised` for latents `x` (inverse of `denoised`)."""
        x_k, s = x / self.scale, self.sigma
        if self.prediction_type == "v_prediction":
            return (x_k - (1 + s * s) * denoised) / (s * (1 + s * s) ** 0.5)
        return (x_k - denoised) / s

    def noised(self, clean: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """`clean` noised to this step's level, in the scheduler's latent space."""
        return self.scale * (clean + self.sigma * noise)
