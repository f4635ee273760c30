"""The demo model recipe: a small SD-family model trained from scratch on drawn shapes.

    python -m modules.training.demo            # all stages, resuming whatever is done
    python -m modules.training.demo --stage eval --eval-count 200

Stages: VAE (4x downsampling, trained once, then frozen) -> latent cache of captioned
scenes -> UNet + CLIP text encoder from scratch -> export as one fp16 .safetensors in
models/Stable-diffusion/. Everything is seeded; stages and the UNet run resume.
"""

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch

from modules.config.paths import BUNDLED_DEMO_MODEL, REPO_ROOT
from modules.images.pixels import to_model_pixels
from modules.memory import prepare_compute_thread
from modules.training import shapes

DEMO_FILE = BUNDLED_DEMO_MODEL
IMAGE_SIZE = 128
SHIPPED_CFG = 7.0  # the app's default; the quick evaluations of the shipped run used 5

VAE_CONFIG = {
    "in_channels": 3,
    "out_channels": 3,
    "block_out_channels": [32, 64, 64],
    "down_block_types": ["DownEncoderBlock2D"] * 3,
    "up_block_types": ["UpDecoderBlock2D"] * 3,
    "layers_per_block": 1,
    "latent_channels": 4,
    "norm_num_groups": 8,  # few groups: many groups normalise flat colour away
    "sample_size": IMAGE_SIZE,
}
UNET_CONFIG = {
    "sample_size": IMAGE_SIZE // 4,
    "in_channels": 4,
    "out_channels": 4,
    "block_out_channels": [48, 96, 96],
    "layers_per_block": 1,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "cross_attention_dim": 64,
    "attention_head_dim": 8,
    "norm_num_groups": 8,
}
TEXT_CONFIG = {
    "vocab_size": 49408,
    "hidden_size": 64,
    "intermediate_size": 256,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "projection_dim": 64,
    "bos_token_id": 0,
    "eos_token_id": 2,
    "pad_token_id": 1,
}


def scene_batch(generator: torch.Generator, count: int, crop: int | None = None) -> torch.Tensor:
    """count rendered training scenes (held-out combinations excluded) as Bx3xHxW in [-1, 1]."""
    rng = random.Random(generator.initial_seed())
    held = shapes.held_out_combos()
    images = []
    for _ in range(count):
        image = shapes.render(shapes.random_scene(rng, held), IMAGE_SIZE, jitter=rng)
        if crop:
            x, y = rng.randrange(IMAGE_SIZE - crop + 1), rng.randrange(IMAGE_SIZE - crop + 1)
            image = image[y : y + crop, x : x + crop]
        images.append(image)
    return to_model_pixels(images)


class CachedLatents:
    """Latent distributions of pre-rendered scenes; each batch samples them afresh."""

    def __init__(self, means: torch.Tensor, stds: torch.Tensor, captions: list[str], scaling: float):
        self.means, self.stds, self.captions, self.scaling = means, stds, captions, scaling

    def batch(self, generator: torch.Generator, size: int) -> tuple[torch.Tensor, list[str]]:
        index = torch.randint(0, len(self.captions), (size,), generator=generator)
        mean, std = self.means[index].float(), self.stds[index].float()
        latents = (mean + std * torch.randn(mean.shape, generator=generator)) * self.scaling
        return latents, [self.captions[i] for i in index.tolist()]


# --- stages ----------------------------------------------------------------------------
def stage_vae(work: Path, steps: int, log) -> None:
    from diffusers import AutoencoderKL

    from modules.training.vae_training import VaeTrainConfig, latent_scaling_factor, train_vae

    if (work / "vae" / "config.json").is_file():
        return
    torch.manual_seed(0)
    vae = AutoencoderKL(**VAE_CONFIG)
    held_images = _held_out_images(16)

    def check(model, step):
        with torch.no_grad():
            recon = model.decode(model.encode(held_images).latent_dist.mean).sample.clamp(-1, 1)
        mse = torch.mean((recon - held_images) ** 2).item()
        return f"vae step {step}: held-out PSNR {10 * np.log10(4 / mse):.1f} dB"

    train_vae(vae, lambda g, n: scene_batch(g, n, crop=64), VaeTrainConfig(steps=steps), check)
    vae.register_to_config(scaling_factor=latent_scaling_factor(vae, scene_batch(torch.Generator().manual_seed(7), 64)))
    vae.save_pretrained(work / "vae")
    log(f"vae saved, scaling factor {vae.config.scaling_factor:.4f}")


def _held_out_images(count: int) -> torch.Tensor:
    from modules.training.evaluation import evaluation_scenes

    rng = random.Random(3)
    images = [shapes.render(s, IMAGE_SIZE, jitter=rng) for s in evaluation_scenes(count, held_out=True)]
    return to_model_pixels(images)


def stage_cache(work: Path, count: int, log) -> CachedLatents:
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(work / "vae").eval()
    cache = work / "latents.pt"
    if not cache.is_file():
        means, stds, captions = [], [], []
        held = shapes.held_out_combos()
        rng = random.Random(12345)
        with torch.no_grad():
            for start in range(0, count, 64):
                scenes = [shapes.random_scene(rng, held) for _ in range(min(64, count - start))]
                batch = to_model_pixels([shapes.render(s, IMAGE_SIZE, jitter=rng) for s in scenes])
                posterior = vae.encode(batch).latent_dist
                means.append(posterior.mean.half())
                stds.append(posterior.std.half())
                captions += [s.caption for s in scenes]
        tmp = cache.with_suffix(".tmp")
        torch.save({"means": torch.cat(means), "stds": torch.cat(stds), "captions": captions}, tmp)
        tmp.rename(cache)
        log(f"cached latents of {count} scenes")
    data = torch.load(cache, weights_only=True)
    return CachedLatents(data["means"], data["stds"], data["captions"], vae.config.scaling_factor)


def build_text_models(seed: int = 0):
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(**UNET_CONFIG), CLIPTextModel(CLIPTextConfig(**TEXT_CONFIG))


def stage_unet(work: Path, data: CachedLatents, steps: int, batch: int, eval_every: int, log, train: bool = True):
    from diffusers import DDPMScheduler
    from transformers import CLIPTokenizer

    from modules.models.loading import SD1_CONFIG_DIR
    from modules.training.trainer import TextToImageTrainer, TrainConfig

    unet, text_encoder = build_text_models()
    tokenizer = CLIPTokenizer.from_pretrained(SD1_CONFIG_DIR / "tokenizer")
    noise_scheduler = DDPMScheduler.from_pretrained(SD1_CONFIG_DIR / "scheduler")
    config = TrainConfig(steps=steps, output_dir=work / "unet", batch_size=batch, checkpoint_every=250)
    trainer = TextToImageTrainer(unet, text_encoder, tokenizer, noise_scheduler, data, config)
    if trainer.resume():
        log(f"resumed at step {trainer.step}")

    def quick_eval(t: TextToImageTrainer) -> str:
        from modules.training.evaluation import EvalSettings, evaluate, evaluation_scenes, format_scores

        model = assemble(work, *t.ema_modules())
        settings = EvalSettings(cfg_scale=SHIPPED_CFG)
        seen, _ = evaluate(model, evaluation_scenes(24, held_out=False), settings)
        held, _ = evaluate(model, evaluation_scenes(24, held_out=True), settings)
        return f"step {t.step}: " + format_scores("seen", seen) + " | " + format_scores("held-out", held)

    if train:
        trainer.train(quick_eval, every=eval_every)
    return trainer


def assemble(work: Path, unet, text_encoder):
    """A LoadedModel over in-memory modules, to generate with the app's own sampling code."""
    from diffusers import AutoencoderKL
    from transformers import CLIPTokenizer

    from modules.models.discovery import CheckpointInfo
    from modules.models.loading import SD1_CONFIG_DIR, LoadedModel

    return LoadedModel(
        info=CheckpointInfo(work, "training", False),
        sha256="0" * 64,
        family="sd1",
        unet=unet.eval(),
        vae=AutoencoderKL.from_pretrained(work / "vae").eval(),
        text_encoder=text_encoder.eval(),
        tokenizer=CLIPTokenizer.from_pretrained(SD1_CONFIG_DIR / "tokenizer"),
        scheduler_config=json.loads((SD1_CONFIG_DIR / "scheduler" / "scheduler_config.json").read_text()),
    )


def stage_export(work: Path, trainer, target: Path, log) -> None:
    from diffusers import AutoencoderKL

    from modules.models.ldm_layout import save_single_file

    unet, text_encoder = trainer.ema_modules()
    vae = AutoencoderKL.from_pretrained(work / "vae").eval()
    save_single_file(unet, vae, text_encoder, target, dtype=torch.float16)
    log(f"exported {target} ({target.stat().st_size / 2**20:.1f} MiB)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / ".cache" / "demo-training")
    parser.add_argument("--vae-steps", type=int, default=1500)
    parser.add_argument("--cache-scenes", type=int, default=16000)
    parser.add_argument("--unet-steps", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--out", type=Path, default=DEMO_FILE)
    parser.add_argument("--export-only", action="store_true", help="export the latest checkpoint, train nothing")
    args = parser.parse_args(argv)
    prepare_compute_thread()  # tiny activations late in training turn subnormal: ~15x slower
    args.work_dir.mkdir(parents=True, exist_ok=True)
    began = time.time()

    def log(message: str) -> None:
        print(f"[demo {time.strftime('%H:%M:%S')} +{(time.time() - began) / 60:.1f} min] {message}", flush=True)

    stage_vae(args.work_dir, args.vae_steps, log)
    # Exporting needs no training data: skip loading the latent cache.
    data = None if args.export_only else stage_cache(args.work_dir, args.cache_scenes, log)
    trainer = stage_unet(
        args.work_dir, data, args.unet_steps, args.batch_size, args.eval_every, log, train=not args.export_only
    )
    stage_export(args.work_dir, trainer, args.out, log)
    log("done")


if __name__ == "__main__":
    main()
