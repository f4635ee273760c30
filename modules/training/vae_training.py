"""Train an AutoencoderKL on images: reconstruction (MSE) plus a small KL term."""

from collections.abc import Callable
from dataclasses import dataclass

import torch

from modules.training.progress import TrainingProgress

ImageSource = Callable[[torch.Generator, int], torch.Tensor]  # (generator, batch) -> Bx3xHxW in [-1, 1]


@dataclass
class VaeTrainConfig:
    steps: int = 1500
    batch_size: int = 16
    lr: float = 1e-3
    warmup: int = 100
    kl_weight: float = 1e-6
    seed: int = 0


def train_vae(vae, images: ImageSource, config: VaeTrainConfig, evaluate: Callable | None = None, every: int = 250):
    from diffusers.optimization import get_cosine_schedule_with_warmup

    torch.manual_seed(config.seed)
    vae.train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=config.lr, weight_decay=0.0)
    schedule = get_cosine_schedule_with_warmup(optimizer, config.warmup, config.steps)
    progress = TrainingProgress(config.steps, label="vae")
    for step in range(1, config.steps + 1):
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
        batch = images(generator, config.batch_size)
        posterior = vae.encode(batch).latent_dist
        latents = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=generator)
        reconstruction = vae.decode(latents).sample
        loss = torch.nn.functional.mse_loss(reconstruction, batch) + config.kl_weight * posterior.kl().mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        progress.update(step, loss.item())
        if evaluate is not None and (step % every == 0 or step == config.steps):
            vae.eval()
            progress.log(evaluate(vae, step))
            vae.train()
    progress.close()
    vae.eval()
    return vae


@torch.no_grad()
def latent_scaling_factor(vae, images: torch.Tensor) -> float:
    """1/std of the latents, so scaled latents have unit variance as the noise schedule assumes."""
    return float(1.0 / vae.encode(images).latent_dist.mean.std())
