"""Text-to-image training of an SD-family model (UNet + CLIP text encoder) on latents.

From scratch or fine-tuning, with caption dropout (so CFG and negative prompts work),
min-SNR loss weighting, EMA weights, gradient accumulation, mixed precision where the
device has it, and checkpoints that resume bit for bit: every step draws its batch and
noise from a generator seeded by (seed, step), so a resumed run sees what it would have.
"""

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import torch

from modules.training.progress import TrainingProgress


class LatentSource(Protocol):
    """Where training batches come from: (scaled latents Bx4xhxw, captions)."""

    def batch(self, generator: torch.Generator, size: int) -> tuple[torch.Tensor, list[str]]: ...


@dataclass
class TrainConfig:
    steps: int
    output_dir: Path
    batch_size: int = 32
    gradient_accumulation: int = 1
    lr: float = 1e-3
    lr_schedule: str = "cosine"  # any diffusers.optimization schedule name
    warmup: int = 200
    weight_decay: float = 1e-2
    caption_dropout: float = 0.1
    snr_gamma: float | None = 5.0  # min-SNR weighting; None = plain MSE
    ema_decay: float = 0.999
    mixed_precision: str = "no"  # "fp16"/"bf16" where the device supports it
    train_text_encoder: bool = True
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    seed: int = 0
    extra: dict = field(default_factory=dict)


def usable_precision(requested: str) -> str:
    """Half precision only on a GPU: on CPUs without native bf16/fp16 it is many times slower."""
    return requested if requested != "no" and torch.cuda.is_available() else "no"


class TextToImageTrainer:
    def __init__(self, unet, text_encoder, tokenizer, noise_scheduler, data: LatentSource, config: TrainConfig):
        from accelerate import Accelerator
        from diffusers.optimization import get_scheduler
        from diffusers.training_utils import EMAModel

        self.config = config
        self.tokenizer = tokenizer
        self.noise_scheduler = noise_scheduler
        self.data = data
        self.step = 0
        self.losses: list[float] = []
        self.accelerator = Accelerator(
            gradient_accumulation_steps=config.gradient_accumulation,
            mixed_precision=usable_precision(config.mixed_precision),
            cpu=not torch.cuda.is_available(),
        )
        torch.manual_seed(config.seed)
        text_encoder.requires_grad_(config.train_text_encoder)
        params = list(unet.parameters()) + (list(text_encoder.parameters()) if config.train_text_encoder else [])
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        lr_scheduler = get_scheduler(
            config.lr_schedule, optimizer, num_warmup_steps=config.warmup, num_training_steps=config.steps
        )
        self.unet, self.text_encoder, self.optimizer, self.lr_scheduler = self.accelerator.prepare(
            unet, text_encoder, optimizer, lr_scheduler
        )
        self.ema = EMAModel(self._trained_parameters(), decay=config.ema_decay, use_ema_warmup=True)

    # --- the loop ----------------------------------------------------------------------
    def train(self, evaluate: Callable[["TextToImageTrainer"], str] | None = None, every: int = 0) -> None:
        config = self.config
        progress = TrainingProgress(config.steps, start=self.step, label="unet")
        self.unet.train()
        self.text_encoder.train(config.train_text_encoder)
        while self.step < config.steps:
            loss = self.train_step()
            progress.update(self.step, loss, lr=f"{self.lr_scheduler.get_last_lr()[0]:.2e}")
            if self.step % config.checkpoint_every == 0 or self.step == config.steps:
                self.save_checkpoint()
            if evaluate is not None and every and (self.step % every == 0 or self.step == config.steps):
                progress.log(evaluate(self))
                self.unet.train()
                self.text_encoder.train(config.train_text_encoder)
        progress.close()

    def train_step(self) -> float:
        """One optimizer step (over `gradient_accumulation` micro-batches); returns the mean loss."""
        config = self.config
        total = 0.0
        for micro in range(config.gradient_accumulation):
            generator = torch.Generator().manual_seed(
                (config.seed * 1_000_003 + self.step) * 64 + micro
            )  # the same batch and noise on a resumed run
            with self.accelerator.accumulate(self.unet, self.text_encoder):
                loss = self._loss(generator)
                self.accelerator.backward(loss)
                if self.accelerator.sync_gradients:
                    self.accelerator.clip_grad_norm_(self._trained_parameters(), 1.0)
                self.optimizer.step()
                self.lr_scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
            total += loss.item()
        self.ema.step(self._trained_parameters())
        self.step += 1
        mean = total / config.gradient_accumulation
        self.losses.append(mean)
        return mean

    def _loss(self, generator: torch.Generator) -> torch.Tensor:
        from diffusers.training_utils import compute_snr

        config = self.config
        latents, captions = self.data.batch(generator, config.batch_size)
        drop = torch.rand(len(captions), generator=generator) < config.caption_dropout
        captions = ["" if dropped else caption for caption, dropped in zip(captions, drop.tolist(), strict=True)]
        device = self.accelerator.device
        ids = self.tokenizer(
            captions, padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True,
            return_tensors="pt",
        ).input_ids.to(device)  # fmt: skip
        context = self.text_encoder(ids)[0]
        noise = torch.randn(latents.shape, generator=generator)
        timesteps = torch.randint(
            0, self.noise_scheduler.config.num_train_timesteps, (len(captions),), generator=generator
        )
        latents, noise, timesteps = latents.to(device), noise.to(device), timesteps.to(device)
        noisy = self.noise_scheduler.add_noise(latents, noise, timesteps)
        prediction = self.unet(noisy, timesteps, context).sample
        per_sample = torch.nn.functional.mse_loss(prediction.float(), noise.float(), reduction="none").mean((1, 2, 3))
        if config.snr_gamma:
            snr = compute_snr(self.noise_scheduler, timesteps)
            per_sample = per_sample * torch.clamp(snr, max=config.snr_gamma) / snr
        return per_sample.mean()

    def _trained_parameters(self) -> list[torch.nn.Parameter]:
        params = list(self.unet.parameters())
        if self.config.train_text_encoder:
            params += list(self.text_encoder.parameters())
        return params

    # --- weights out -------------------------------------------------------------------
    def ema_modules(self):
        """(unet, text_encoder) carrying the EMA weights; the live weights are left untouched."""
        import copy

        unet = copy.deepcopy(self.accelerator.unwrap_model(self.unet))
        text_encoder = copy.deepcopy(self.accelerator.unwrap_model(self.text_encoder))
        params = list(unet.parameters()) + (list(text_encoder.parameters()) if self.config.train_text_encoder else [])
        self.ema.copy_to(params)
        return unet.eval(), text_encoder.eval()

    # --- checkpoints -------------------------------------------------------------------
    @property
    def checkpoint_root(self) -> Path:
        return Path(self.config.output_dir) / "checkpoints"

    def save_checkpoint(self) -> Path:
        target = self.checkpoint_root / f"step-{self.step:07d}"
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        self.accelerator.save_state(str(partial))
        torch.save(self.ema.state_dict(), partial / "ema.pt")
        meta = {"step": self.step, "config": {k: str(v) for k, v in asdict(self.config).items()}}
        (partial / "trainer.json").write_text(json.dumps({**meta, "losses": self.losses[-1000:]}))
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)  # a checkpoint folder exists only once it is complete
        for old in sorted(self.checkpoint_root.glob("step-???????"))[: -self.config.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)
        return target

    def latest_checkpoint(self) -> Path | None:
        found = sorted(self.checkpoint_root.glob("step-???????")) if self.checkpoint_root.is_dir() else []
        return found[-1] if found else None

    def resume(self, checkpoint: Path | None = None) -> bool:
        checkpoint = checkpoint or self.latest_checkpoint()
        if checkpoint is None:
            return False
        self.accelerator.load_state(str(checkpoint))
        self.ema.load_state_dict(torch.load(checkpoint / "ema.pt", weights_only=True))
        meta = json.loads((checkpoint / "trainer.json").read_text())
        self.step = meta["step"]
        self.losses = list(meta.get("losses", []))
        return True
