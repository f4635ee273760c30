"""The trainer on a tiny model: the loss goes down, and resuming continues exactly."""

import torch
from diffusers import DDPMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from modules.models.loading import SD1_CONFIG_DIR
from modules.training.trainer import TextToImageTrainer, TrainConfig


class TwoPictures:
    """Two fixed latent 'pictures' with their captions: learnable in a few dozen steps."""

    def __init__(self):
        torch.manual_seed(1)
        self.latents = torch.randn(2, 4, 8, 8)
        self.captions = ["a red circle", "a blue square"]

    def batch(self, generator, size):
        index = torch.randint(0, 2, (size,), generator=generator)
        return self.latents[index], [self.captions[i] for i in index.tolist()]


def make_trainer(output_dir, steps):
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=4,
        norm_num_groups=8,
    )
    text = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=49408,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=77,
        )
    )
    tokenizer = CLIPTokenizer.from_pretrained(SD1_CONFIG_DIR / "tokenizer")
    scheduler = DDPMScheduler.from_pretrained(SD1_CONFIG_DIR / "scheduler")
    config = TrainConfig(
        steps=steps,
        output_dir=output_dir,
        batch_size=8,
        lr=2e-3,
        warmup=2,
        lr_schedule="constant_with_warmup",
        checkpoint_every=3,
        gradient_accumulation=2,
    )
    return TextToImageTrainer(unet, text, tokenizer, scheduler, TwoPictures(), config)


def test_loss_goes_down(tmp_path):
    trainer = make_trainer(tmp_path, steps=40)
    trainer.train()
    first, last = sum(trainer.losses[:8]) / 8, sum(trainer.losses[-8:]) / 8
    assert last < 0.7 * first, (first, last)
    assert trainer.latest_checkpoint().name == "step-0000040"
    unet, _ = trainer.ema_modules()
    live = trainer.accelerator.unwrap_model(trainer.unet)
    assert not torch.equal(unet.conv_in.weight, live.conv_in.weight)  # EMA weights differ from live ones


def test_resume_continues_from_the_same_step_with_the_same_results(tmp_path):
    straight = make_trainer(tmp_path / "a", steps=6)
    straight.train()

    first_half = make_trainer(tmp_path / "b", steps=6)
    for _ in range(3):
        first_half.train_step()
    first_half.save_checkpoint()
    resumed = make_trainer(tmp_path / "b", steps=6)
    assert resumed.resume() and resumed.step == 3
    resumed.train()
    assert resumed.step == 6
    assert resumed.losses == straight.losses
    a = straight.accelerator.unwrap_model(straight.unet).state_dict()
    b = resumed.accelerator.unwrap_model(resumed.unet).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
