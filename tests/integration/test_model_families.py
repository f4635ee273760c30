"""Each model family, as a user downloads it (one original-layout file), is detected, loads offline and
generates the same pixels as the matching diffusers pipeline run on the same loaded modules, seed for seed."""

import numpy as np
import pytest
import requests
import torch
from diffusers import (
    EulerDiscreteScheduler,
    StableDiffusionPipeline,
    StableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLPipeline,
)

from modules.processing.request import Txt2ImgRequest
from tests.conftest import make_engine
from tests.fixtures.tiny_families import save_tiny_family
from tests.server import start_api_server

SIZE, STEPS, SEED, CFG = 64, 4, 11, 6.0
PROMPT, NEGATIVE = "a red cube on a table", "blurry"


@pytest.fixture(scope="module")
def family_engine(tmp_path_factory):
    models = tmp_path_factory.mktemp("family-models")
    folder = models / "Stable-diffusion"
    save_tiny_family("sd2", folder / "sd2-base.safetensors", seed=1)
    # Written with an epsilon scheduler config: A1111's way to say "v-prediction", a config .yaml
    # beside the checkpoint, must be what makes it a v model.
    save_tiny_family("sd2", folder / "sd2-768v.safetensors", seed=2)
    (folder / "sd2-768v.yaml").write_text('model:\n  params:\n    parameterization: "v"\n', encoding="utf-8")
    save_tiny_family("sdxl", folder / "xl-base.safetensors", seed=3)
    save_tiny_family("sdxl_refiner", folder / "xl-refiner.safetensors", seed=4)
    engine = make_engine(tmp_path_factory.mktemp("family-data"), "--models-dir", str(models))
    yield engine
    engine.queue.shutdown()


def generate(engine, checkpoint: str, **fields) -> tuple[np.ndarray, object]:
    base = {
        "prompt": PROMPT,
        "negative_prompt": NEGATIVE,
        "steps": STEPS,
        "width": SIZE,
        "height": SIZE,
        "seed": SEED,
        "cfg_scale": CFG,
        "sampler_name": "Euler",
        "checkpoint": checkpoint,
        "save_images": False,
    }
    request = Txt2ImgRequest(**{**base, **fields})
    result = engine.submit_txt2img(request).outcome()
    return np.asarray(result.images[0].image, dtype=np.int16), result


def pipeline_pixels(pipe, model, **call) -> np.ndarray:
    pipe.set_progress_bar_config(disable=True)
    with torch.inference_mode():
        images = pipe(prompt=PROMPT, negative_prompt=NEGATIVE, num_inference_steps=STEPS, guidance_scale=CFG,
                      generator=torch.Generator().manual_seed(SEED), output_type="np", **call).images  # fmt: skip
    return np.round(images[0] * 255).astype(np.int16)


def euler(model):
    return EulerDiscreteScheduler.from_config(model.scheduler_config)


def loaded(engine, name):
    return engine.models.get(name)


@pytest.mark.parametrize(
    ("name", "family", "prediction"),
    [("sd2-base.safetensors", "sd2", "epsilon"), ("sd2-768v.safetensors", "sd2", "v_prediction")],
)
def test_sd2_matches_stable_diffusion_pipeline(family_engine, name, family, prediction):
    ours, result = generate(family_engine, name)
    model = loaded(family_engine, name)
    assert model.family.name == family and model.prediction_type == prediction
    pipe = StableDiffusionPipeline(vae=model.vae, text_encoder=model.text_encoder, tokenizer=model.tokenizer,
                                   unet=model.unet, scheduler=euler(model), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)  # fmt: skip
    theirs = pipeline_pixels(pipe, model, height=SIZE, width=SIZE)
    assert np.abs(ours - theirs).max() <= 1
    assert ours.std() > 1  # a picture, not a flat field


def test_v_prediction_changes_the_picture(family_engine):
    """The same weights read as epsilon and as v give other pictures: the .yaml is honoured."""
    model = loaded(family_engine, "sd2-768v.safetensors")
    pipe = StableDiffusionPipeline(vae=model.vae, text_encoder=model.text_encoder, tokenizer=model.tokenizer,
                                   unet=model.unet, scheduler=euler(model), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)  # fmt: skip
    as_v = pipeline_pixels(pipe, model, height=SIZE, width=SIZE)
    pipe.scheduler = EulerDiscreteScheduler.from_config({**model.scheduler_config, "prediction_type": "epsilon"})
    as_epsilon = pipeline_pixels(pipe, model, height=SIZE, width=SIZE)
    assert np.abs(as_v - as_epsilon).max() > 8


def test_sdxl_matches_the_sdxl_pipeline(family_engine):
    ours, result = generate(family_engine, "xl-base.safetensors")
    model = loaded(family_engine, "xl-base.safetensors")
    assert model.family.name == "sdxl" and model.vae.config.scaling_factor == 0.13025
    pipe = StableDiffusionXLPipeline(vae=model.vae, text_encoder=model.text_encoder, tokenizer=model.tokenizer,
                                     text_encoder_2=model.text_encoder_2, tokenizer_2=model.tokenizer_2,
                                     unet=model.unet, scheduler=euler(model))  # fmt: skip
    theirs = pipeline_pixels(pipe, model, height=SIZE, width=SIZE)
    assert np.abs(ours - theirs).max() <= 1
    # An empty negative prompt is zeros (force_zeros_for_empty_prompt), as both A1111 and diffusers do.
    ours_empty, _ = generate(family_engine, "xl-base.safetensors", negative_prompt="")
    with torch.inference_mode():
        empty = pipe(
            prompt=PROMPT,
            negative_prompt=None,
            num_inference_steps=STEPS,
            guidance_scale=CFG,
            generator=torch.Generator().manual_seed(SEED),
            output_type="np",
            height=SIZE,
            width=SIZE,
        ).images
    assert np.abs(ours_empty - np.round(empty[0] * 255).astype(np.int16)).max() <= 1


def test_sdxl_size_conditioning_follows_the_crop_settings(family_engine):
    plain, _ = generate(family_engine, "xl-base.safetensors")
    cropped, _ = generate(family_engine, "xl-base.safetensors", override_settings={"sdxl_crop_top": 256})
    assert np.abs(plain - cropped).max() > 0


def test_sdxl_refiner_after_the_base_matches_the_two_pipelines(family_engine):
    """Base for the first half of the steps, the refiner (aesthetic-score conditioning) for the rest,
    as diffusers' documented ensemble of experts does with denoising_end / denoising_start."""
    ours, result = generate(family_engine, "xl-base.safetensors", refiner_checkpoint="xl-refiner.safetensors",
                            refiner_switch_at=0.5)  # fmt: skip
    base = loaded(family_engine, "xl-base.safetensors")
    refiner = loaded(family_engine, "xl-refiner.safetensors")
    assert refiner.family.name == "sdxl_refiner" and refiner.text_encoder is None
    first = StableDiffusionXLPipeline(vae=base.vae, text_encoder=base.text_encoder, tokenizer=base.tokenizer,
                                      text_encoder_2=base.text_encoder_2, tokenizer_2=base.tokenizer_2,
                                      unet=base.unet, scheduler=euler(base))  # fmt: skip
    second = StableDiffusionXLImg2ImgPipeline(vae=refiner.vae, text_encoder=None, tokenizer=None,
                                              text_encoder_2=refiner.text_encoder_2, tokenizer_2=refiner.tokenizer_2,
                                              unet=refiner.unet, scheduler=euler(refiner),
                                              requires_aesthetics_score=True)  # fmt: skip
    for pipe in (first, second):
        pipe.set_progress_bar_config(disable=True)
    common = {"prompt": PROMPT, "negative_prompt": NEGATIVE, "num_inference_steps": STEPS, "guidance_scale": CFG}
    with torch.inference_mode():
        latents = first(**common, generator=torch.Generator().manual_seed(SEED), height=SIZE, width=SIZE,
                        denoising_end=0.5, output_type="latent").images  # fmt: skip
        images = second(**common, image=latents, denoising_start=0.5, output_type="np",
                        generator=torch.Generator().manual_seed(SEED)).images  # fmt: skip
    theirs = np.round(images[0] * 255).astype(np.int16)
    assert np.abs(ours - theirs).max() <= 1
    assert "Refiner: xl-refiner.safetensors" in result.images[0].infotext


def test_checkpoints_are_listed_with_their_family(family_engine):
    infos = {info.name: info for info in family_engine.models.checkpoints()}
    labels = {name: family_engine.models.family_of(info).label for name, info in infos.items()}
    assert labels == {"sd2-base.safetensors": "SD 2.x", "sd2-768v.safetensors": "SD 2.x",
                      "xl-base.safetensors": "SDXL", "xl-refiner.safetensors": "SDXL refiner"}  # fmt: skip


def test_a_refiner_of_another_latent_space_is_refused_before_queueing(family_engine):
    with pytest.raises(ValueError, match="xl-refiner.safetensors is an SDXL refiner model and sd2-base.safetensors"):
        generate(family_engine, "sd2-base.safetensors", refiner_checkpoint="xl-refiner.safetensors")


def test_the_api_lists_each_checkpoint_with_its_family(family_engine, tmp_path):
    running = start_api_server(tmp_path / "data", family_engine.paths.models_dir)
    try:
        listed = requests.get(f"{running.url}/sdapi/v1/sd-models", timeout=30).json()
    finally:
        running.stop()
    assert {item["filename"]: item["family"] for item in listed} == {
        "sd2-base.safetensors": "SD 2.x",
        "sd2-768v.safetensors": "SD 2.x",
        "xl-base.safetensors": "SDXL",
        "xl-refiner.safetensors": "SDXL refiner",
    }
