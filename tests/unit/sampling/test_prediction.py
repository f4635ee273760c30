"""StepFrame: a model output <-> the clean latent it predicts, for both kinds of diffusers scheduler
(sigma-space and alpha-scaled), checked against the schedulers' own x0 predictions."""

import pytest
import torch
from diffusers import DDIMScheduler, EulerDiscreteScheduler

from modules.sampling.prediction import StepFrame, sigma_at

CONFIG = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000}


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("kind", [EulerDiscreteScheduler, DDIMScheduler])
def test_denoised_matches_the_schedulers_own_prediction_and_inverts(kind, prediction_type):
    extra = {"clip_sample": False} if kind is DDIMScheduler else {}
    scheduler = kind(**CONFIG, prediction_type=prediction_type, **extra)
    scheduler.set_timesteps(10)
    t = scheduler.timesteps[3]
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 8, 8, generator=generator) * float(scheduler.init_noise_sigma)
    output = torch.randn(1, 4, 8, 8, generator=generator)
    frame = StepFrame.at(scheduler, t, prediction_type)
    if kind is EulerDiscreteScheduler:
        scheduler.scale_model_input(x, t)  # sets the step index
    expected = scheduler.step(output, t, x).pred_original_sample
    assert torch.allclose(frame.denoised(x, output), expected, atol=1e-4)
    assert torch.allclose(frame.output_for(x, frame.denoised(x, output)), output, atol=1e-4)


def test_sigma_of_an_integer_timestep_is_the_training_schedules():
    scheduler = DDIMScheduler(**CONFIG)
    alpha = scheduler.alphas_cumprod[500]
    assert sigma_at(scheduler, 500) == pytest.approx(float(((1 - alpha) / alpha) ** 0.5), rel=1e-6)
    # fractional timesteps interpolate log-sigma between the neighbours
    assert sigma_at(scheduler, 500) < sigma_at(scheduler, 500.5) < sigma_at(scheduler, 501)
