"""SDXL LoRAs through the whole engine on a tiny SDXL model: kohya's layout (`lora_te1_`, `lora_te2_`,
UNet layers under the original SGM names) and diffusers' / peft's layout give the pixels of the same
changes merged by hand into copies of the modules, run through diffusers' SDXL pipeline; the refiner,
which has no first text encoder, skips those layers with a note."""

import numpy as np
import pytest
import torch
from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline

from modules.processing.request import Txt2ImgRequest
from tests.conftest import make_engine
from tests.extensions.lycoris.family_loras import (
    KOHYA_PREFIX,
    SDXL_UNET_LAYERS,
    TEXT_LAYERS,
    merged_copies,
    random_changes,
    write_kohya,
    write_peft,
)
from tests.extensions.lycoris_support import weights_hash
from tests.fixtures.tiny_families import build_tiny_family, save_tiny_family

SIZE, STEPS, SEED, CFG = 64, 4, 5, 5.0
PROMPT, NEGATIVE = "a lighthouse at dusk", "blurry"
BASE, REFINER = "xl-base.safetensors", "xl-refiner.safetensors"


def sdxl_changes(seed: int):
    parts = build_tiny_family("sdxl")  # the shapes of the tiny SDXL model
    text = tuple((name, name) for name in TEXT_LAYERS)
    layers = {"unet": SDXL_UNET_LAYERS, "text_encoder": text, "text_encoder_2": text}
    return random_changes(parts, layers, seed)


@pytest.fixture(scope="module")
def xl(tmp_path_factory):
    models = tmp_path_factory.mktemp("xl-lora-models")
    save_tiny_family("sdxl", models / "Stable-diffusion" / BASE, seed=3)
    save_tiny_family("sdxl_refiner", models / "Stable-diffusion" / REFINER, seed=4)
    changes = sdxl_changes(seed=21)
    write_kohya(models / "Lora" / "xl-kohya.safetensors", changes, KOHYA_PREFIX["sdxl"])
    write_peft(models / "Lora" / "xl-peft.safetensors", changes)
    engine = make_engine(tmp_path_factory.mktemp("xl-lora-data"), "--models-dir", str(models))
    yield engine, changes
    engine.queue.shutdown()


def generate(engine, prompt: str, checkpoint: str = BASE):
    request = Txt2ImgRequest(prompt=prompt, negative_prompt=NEGATIVE, steps=STEPS, width=SIZE, height=SIZE,
                             seed=SEED, cfg_scale=CFG, sampler_name="Euler", checkpoint=checkpoint,
                             save_images=False)  # fmt: skip
    result = engine.submit_txt2img(request).outcome()
    return np.asarray(result.images[0].image, dtype=np.int16), result


def pipeline_pixels(model, parts: dict) -> np.ndarray:
    pipe = StableDiffusionXLPipeline(vae=model.vae, text_encoder=parts["text_encoder"], tokenizer=model.tokenizer,
                                     text_encoder_2=parts["text_encoder_2"], tokenizer_2=model.tokenizer_2,
                                     unet=parts["unet"],
                                     scheduler=EulerDiscreteScheduler.from_config(model.scheduler_config))  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    with torch.inference_mode():
        images = pipe(prompt=PROMPT, negative_prompt=NEGATIVE, num_inference_steps=STEPS, guidance_scale=CFG,
                      generator=torch.Generator().manual_seed(SEED), output_type="np", height=SIZE,
                      width=SIZE).images  # fmt: skip
    return np.round(images[0] * 255).astype(np.int16)


def all_weights(model):
    return weights_hash(model.unet, model.text_encoder, model.text_encoder_2)


def test_kohya_sdxl_lora_matches_the_changes_merged_by_hand(xl):
    engine, changes = xl
    plain, _ = generate(engine, PROMPT)
    model = engine.models.get(BASE)
    before = all_weights(model)
    ours, result = generate(engine, f"{PROMPT} <lora:xl-kohya:0.7:1.3>")
    assert not result.warnings, result.warnings
    assert "Lora hashes" in result.images[0].infotext
    theirs = pipeline_pixels(model, merged_copies(model, changes, {"unet": 1.3, "text_encoder": 0.7,
                                                                   "text_encoder_2": 0.7}))  # fmt: skip
    assert np.abs(ours - plain).max() > 8  # the LoRA changes the picture ...
    assert np.abs(ours - theirs).max() <= 1  # ... exactly as the hand-merged model does
    # A job without the tag gives the untouched model's weights and pixels back.
    again, _ = generate(engine, f"{PROMPT} <lora:xl-kohya:0.7:1.3>")
    assert np.array_equal(again, ours)  # the same set again (re-merged after merged_copies' restore)
    again, _ = generate(engine, PROMPT)
    assert all_weights(model) == before
    assert np.array_equal(again, plain)
    assert np.abs(plain - pipeline_pixels(model, merged_copies(model, [], {}))).max() <= 1


def test_each_sdxl_part_is_reached(xl):
    """Text-encoder-only and UNet-only strengths each change the picture: te1, te2 and the
    SGM-named UNet layers are all found (none is reported as matching nothing)."""
    engine, changes = xl
    plain, _ = generate(engine, PROMPT)
    te_only, result = generate(engine, f"{PROMPT} <lora:xl-kohya:1:0>")
    unet_only, _ = generate(engine, f"{PROMPT} <lora:xl-kohya:0:1>")
    assert not result.warnings
    assert np.abs(te_only - plain).max() > 0 and np.abs(unet_only - plain).max() > 0
    model = engine.models.get(BASE)
    only_te2 = [change for change in changes if change.component == "text_encoder_2"]
    theirs = pipeline_pixels(model, merged_copies(model, only_te2, {"text_encoder_2": 1.0}))
    # te2 alone is a real part of the te-only picture: leaving te1 out gives another picture.
    assert np.abs(te_only - theirs).max() > 0


def test_peft_layout_sdxl_lora_gives_the_same_picture(xl):
    engine, _ = xl
    kohya, _ = generate(engine, f"{PROMPT} <lora:xl-kohya:0.8>")
    peft, result = generate(engine, f"{PROMPT} <lora:xl-peft:0.8>")
    assert not result.warnings, result.warnings
    assert np.abs(kohya - peft).max() <= 1


def test_sdxl_lora_on_the_refiner_skips_the_first_text_encoder_with_a_note(xl):
    engine, changes = xl
    plain, _ = generate(engine, PROMPT, checkpoint=REFINER)
    refiner = engine.models.get(REFINER)
    assert refiner.text_encoder is None
    before = weights_hash(refiner.unet, refiner.text_encoder_2)
    image, result = generate(engine, f"{PROMPT} <lora:xl-kohya:1:0>", checkpoint=REFINER)
    te1 = sum(change.component == "text_encoder" for change in changes)
    notes = [warning for warning in result.warnings if "first text encoder" in warning]
    assert len(notes) == 1 and f"{te1} layer(s)" in notes[0] and "this model (SDXL refiner) has none" in notes[0]
    assert np.abs(image - plain).max() > 0  # the second encoder's layers were applied
    again, _ = generate(engine, PROMPT, checkpoint=REFINER)  # the next job without the tag restores
    assert weights_hash(refiner.unet, refiner.text_encoder_2) == before
    assert np.array_equal(again, plain)


def test_a_lora_reaches_the_refiner_that_takes_over_mid_job(xl):
    """A1111 applies the prompt's LoRAs to the refiner too: the switch moves them there (te1 layers
    skipped with a note, it has no first encoder) and back, so the next batch and the next job are
    unchanged."""
    engine, _ = xl

    def hashes():
        return [weights_hash(*engine.models.get(name).modules().values()) for name in (REFINER, BASE)]

    before = hashes()

    def refined(prompt: str, batches: int = 1, seed: int = SEED):
        request = Txt2ImgRequest(prompt=prompt, negative_prompt=NEGATIVE, steps=STEPS, width=SIZE, height=SIZE,
                                 seed=seed, cfg_scale=CFG, sampler_name="Euler", checkpoint=BASE, n_iter=batches,
                                 refiner_checkpoint=REFINER, refiner_switch_at=0.5, save_images=False)  # fmt: skip
        result = engine.submit_txt2img(request).outcome()
        return [np.asarray(image.image, dtype=np.int16) for image in result.images], result.warnings

    tag = " <lora:xl-kohya:0.7:1.3>"
    (plain,), _ = refined(PROMPT)
    tagged, warnings = refined(PROMPT + tag, batches=2)
    assert np.abs(tagged[0] - plain).max() > 8
    assert any("first text encoder" in w and "SDXL refiner" in w for w in warnings), warnings
    (second_alone,), _ = refined(PROMPT + tag, seed=SEED + 1)
    assert np.array_equal(tagged[1], second_alone)  # batch 2 ran with the LoRA on the base again
    assert np.array_equal(refined(PROMPT)[0][0], plain)
    assert hashes() == before
