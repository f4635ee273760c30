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
    alphas = scheduler.alphas_cumprod.double().cpu()
    log_sigmas = 0.5 * torch.log((1 - alphas) / alphas)
    t = float(timestep)
    low = min(max(int(t), 0), len(alphas) - 1)
    high = min(low + 1, len(alphas) - 1)
    weight = t - low
    return float(torch.exp(log_sigmas[low] * (1 - weight) + log_sigmas[high] * weight))


@dataclass(frozen=True)
class StepFrame:
    """How one step's latents relate to the clean latent: x = scale * (x0 + sigma * eps)."""

    sigma: float
    scale: float  # 1 for sigma-space schedulers, sqrt(alpha) for the others
    prediction_type: str  # "epsilon" or "v_prediction" (the model's)

    @classmethod
    def at(cls, scheduler, timestep, prediction_type: str = "epsilon") -> "StepFrame":
        sigma = sigma_at(scheduler, timestep)
        sigma_space = float(getattr(scheduler, "init_noise_sigma", 1.0)) > 1.0
        scale = 1.0 if sigma_space else (1.0 / (1.0 + sigma * sigma)) ** 0.5
        return cls(sigma, scale, prediction_type)

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
