"""An SD 2.x LoRA in kohya's layout (`lora_te_text_model_encoder_layers_N_...` for the OpenCLIP text
encoder, diffusers' UNet names, as kohya's SD 1/2 trainer writes them) gives the pixels of the same
changes merged by hand into copies of the tiny SD 2.x model, run through diffusers' pipeline."""

import numpy as np
import pytest
import torch
from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline

from modules.processing.request import Txt2ImgRequest
from tests.conftest import make_engine
from tests.extensions.lycoris.family_loras import (
    KOHYA_PREFIX,
    SD_UNET_LAYERS,
    TEXT_LAYERS,
    merged_copies,
    random_changes,
    write_kohya,
)
from tests.fixtures.tiny_families import build_tiny_family, save_tiny_family

SIZE, STEPS, SEED, CFG = 64, 4, 8, 6.0
PROMPT, NEGATIVE = "a stone bridge", "blurry"
CHECKPOINT = "sd2.safetensors"


@pytest.fixture(scope="module")
def sd2(tmp_path_factory):
    models = tmp_path_factory.mktemp("sd2-lora-models")
    save_tiny_family("sd2", models / "Stable-diffusion" / CHECKPOINT, seed=6)
    layers = {"unet": tuple((name, name) for name in SD_UNET_LAYERS),
              "text_encoder": tuple((name, name) for name in TEXT_LAYERS)}  # fmt: skip
    changes = random_changes(build_tiny_family("sd2"), layers, seed=31)
    write_kohya(models / "Lora" / "sd2-style.safetensors", changes, KOHYA_PREFIX["sd"])
    engine = make_engine(tmp_path_factory.mktemp("sd2-lora-data"), "--models-dir", str(models))
    yield engine, changes
    engine.queue.shutdown()


def generate(engine, prompt: str):
    request = Txt2ImgRequest(prompt=prompt, negative_prompt=NEGATIVE, steps=STEPS, width=SIZE, height=SIZE,
                             seed=SEED, cfg_scale=CFG, sampler_name="Euler", checkpoint=CHECKPOINT,
                             save_images=False)  # fmt: skip
    result = engine.submit_txt2img(request).outcome()
    return np.asarray(result.images[0].image, dtype=np.int16), result


def test_kohya_sd2_lora_matches_the_changes_merged_by_hand(sd2):
    engine, changes = sd2
    plain, _ = generate(engine, PROMPT)
    ours, result = generate(engine, f"{PROMPT} <lora:sd2-style:0.9:0.6>")
    assert not result.warnings, result.warnings
    model = engine.models.get(CHECKPOINT)
    assert model.family.name == "sd2"
    parts = merged_copies(model, changes, {"unet": 0.6, "text_encoder": 0.9})
    pipe = StableDiffusionPipeline(vae=model.vae, text_encoder=parts["text_encoder"], tokenizer=model.tokenizer,
                                   unet=parts["unet"], safety_checker=None, feature_extractor=None,
                                   scheduler=EulerDiscreteScheduler.from_config(model.scheduler_config),
                                   requires_safety_checker=False)  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    with torch.inference_mode():
        images = pipe(prompt=PROMPT, negative_prompt=NEGATIVE, num_inference_steps=STEPS, guidance_scale=CFG,
                      generator=torch.Generator().manual_seed(SEED), output_type="np", height=SIZE,
                      width=SIZE).images  # fmt: skip
    theirs = np.round(images[0] * 255).astype(np.int16)
    assert np.abs(ours - plain).max() > 8
    assert np.abs(ours - theirs).max() <= 1
    again, _ = generate(engine, PROMPT)
    assert np.array_equal(again, plain)
