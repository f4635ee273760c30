"""9-channel inpainting models and instruct-pix2pix against diffusers' own pipelines on the same
modules, scheduler, seed, steps and CFG.

First the sampling core alone (our denoiser with the extra channels and the guidance plan, tiny
modules built in memory), then the whole engine on tiny checkpoints in the original single-file
layout (the loader has to recognise the families for these).

Where our img2img differs from the pipelines by design, the test gives the pipeline our start:
A1111's img2img starts from the init latent noised to the first sigma (the pipelines start a
strength-1 run from pure noise), so the pipeline is handed that start as its `latents`."""

import numpy as np
import pytest
import torch
from diffusers import (
    StableDiffusionInpaintPipeline,
    StableDiffusionInstructPix2PixPipeline,
    StableDiffusionXLInpaintPipeline,
)
from PIL import Image, ImageDraw

from modules.images.infotext import parse_infotext
from modules.images.pixels import to_model_pixels
from modules.processing import inpaint_model
from modules.processing.hires import encode_images
from modules.processing.request import Img2ImgRequest, Txt2ImgRequest
from modules.sampling import catalog
from modules.sampling.denoiser import DenoiseInputs, denoise
from modules.sampling.guidance import GuidancePlan
from modules.sampling.ip2p_guidance import InstructPix2PixPlan
from tests.conftest import make_engine
from tests.fixtures.tiny_families import build_tiny_family, save_family_file

STEPS, CFG, IMAGE_CFG, SEED = 4, 6.0, 1.5, 3


def parts_of(family: str) -> dict:
    """The tiny family's parts, with the VAE posterior's log-variance pinned at its floor (std ~3e-7)
    so that the inpaint pipeline's sampled encode and our mean agree."""
    parts = build_tiny_family(family, seed=0)
    latent = parts["vae"].config.latent_channels
    with torch.no_grad():
        parts["vae"].quant_conv.weight[latent:] = 0
        parts["vae"].quant_conv.bias[latent:] = -30
    return parts


def pipeline_of(kind, parts: dict, scheduler_config: dict):
    return kind(vae=parts["vae"], text_encoder=parts["text_encoder"], tokenizer=parts["tokenizer"],
                unet=parts["unet"], scheduler=euler(scheduler_config), safety_checker=None, feature_extractor=None,
                requires_safety_checker=False)  # fmt: skip


def euler(config: dict):
    return catalog.resolve("Euler")[0].build(dict(config))


def embeds(parts: dict, text: str) -> torch.Tensor:
    tokenizer = parts["tokenizer"]
    ids = tokenizer(text, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids  # fmt: skip
    with torch.no_grad():
        return parts["text_encoder"](ids)[0]


def noise_for(seed: int) -> torch.Tensor:
    return torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(seed))


def picture(seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8))


def box_mask() -> Image.Image:
    mask = Image.new("L", (64, 64))
    ImageDraw.Draw(mask).rectangle((16, 8, 47, 39), fill=255)
    return mask


def our_denoise(parts: dict, plan, extra: torch.Tensor, scheduler_config: dict) -> torch.Tensor:
    inputs = DenoiseInputs(latents=noise_for(SEED), guidance=plan, generators=[torch.Generator().manual_seed(SEED)],
                           extra_channels=extra)  # fmt: skip
    latents, stopped = denoise(parts["unet"], euler(scheduler_config), inputs, STEPS, lambda *_: None, lambda: False)
    assert not stopped
    return latents


def test_denoiser_with_inpainting_channels_matches_the_inpaint_pipeline():
    parts = parts_of("sd1_inpaint")
    config = dict(parts["scheduler"].config)
    cond, uncond = embeds(parts, "a red house"), embeds(parts, "")
    image, mask = picture(1), box_mask()
    pipe = pipeline_of(StableDiffusionInpaintPipeline, parts, config)
    expected = pipe(prompt_embeds=cond, negative_prompt_embeds=uncond, image=image, mask_image=mask, height=64,
                    width=64, strength=1.0, num_inference_steps=STEPS, guidance_scale=CFG, latents=noise_for(SEED),
                    generator=torch.Generator().manual_seed(SEED), output_type="latent").images  # fmt: skip
    extra = inpaint_model.inpainting_channels(parts["vae"], to_model_pixels([image]),
                                              inpaint_model.conditioning_mask(mask), (8, 8))  # fmt: skip
    ours = our_denoise(parts, GuidancePlan.static(cond, uncond, CFG, 1), extra, config)
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=1e-4)
    # The channels matter: without the masked picture the result is another one.
    blank = extra.clone()
    blank[:, 1:] = 0
    assert not torch.allclose(our_denoise(parts, GuidancePlan.static(cond, uncond, CFG, 1), blank, config), expected,
                              atol=1e-3)  # fmt: skip


def test_denoiser_with_ip2p_guidance_matches_the_instruct_pix2pix_pipeline():
    parts = parts_of("ip2p")
    config = dict(parts["scheduler"].config)
    cond, uncond = embeds(parts, "make it snowy"), embeds(parts, "")
    image = picture(2)
    pipe = pipeline_of(StableDiffusionInstructPix2PixPipeline, parts, config)
    expected = pipe(prompt_embeds=cond, negative_prompt_embeds=uncond, image=image, num_inference_steps=STEPS,
                    guidance_scale=CFG, image_guidance_scale=IMAGE_CFG, latents=noise_for(SEED),
                    generator=torch.Generator().manual_seed(SEED), output_type="latent").images  # fmt: skip
    extra = inpaint_model.ip2p_image_channels(parts["vae"], to_model_pixels([image]))
    plan = InstructPix2PixPlan.from_plan(GuidancePlan.static(cond, uncond, CFG, 1), IMAGE_CFG)
    ours = our_denoise(parts, plan, extra, config)
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=1e-4)
    plain = our_denoise(parts, GuidancePlan.static(cond, uncond, CFG, 1), extra, config)
    assert not torch.allclose(plain, expected, atol=1e-3)  # the image guidance changes the picture


# --- The whole engine on checkpoint files (needs the loader to know the families).


@pytest.fixture(scope="module")
def family_engines(tmp_path_factory):
    engines = {}
    for family in ("sd1_inpaint", "ip2p", "sdxl_inpaint"):
        root = tmp_path_factory.mktemp(family)
        save_family_file(parts_of(family), root / "models" / "Stable-diffusion" / f"tiny-{family}.safetensors",
                         family)  # fmt: skip
        engines[family] = make_engine(root / "data", "--models-dir", str(root / "models"))
    yield engines
    for engine in engines.values():
        engine.queue.shutdown()


def run(engine, **fields):
    request = Img2ImgRequest(prompt="a red house", negative_prompt="", steps=STEPS, cfg_scale=CFG, seed=SEED,
                             width=64, height=64, sampler_name="Euler", denoising_strength=1.0, save_images=False,
                             **fields)  # fmt: skip
    job = engine.submit_img2img(request)
    job.wait()
    return job.outcome()


def our_start(model, image: Image.Image, scheduler) -> torch.Tensor:
    """A1111's strength-1 start: the init latent noised to the first sigma, as the pipeline's
    `latents` (which it multiplies by init_noise_sigma)."""
    scheduler.set_timesteps(STEPS)
    scheduler.set_begin_index(0)
    start = scheduler.add_noise(encode_images(model, [image]).float(), noise_for(SEED), scheduler.timesteps[:1])
    return start / scheduler.init_noise_sigma


def levels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB")).astype(int)


def test_engine_inpainting_model_matches_the_inpaint_pipeline(family_engines):
    engine = family_engines["sd1_inpaint"]
    image, everything = picture(3), Image.new("L", (64, 64), 255)
    # A mask over the whole picture: the per-step blend with the init (A1111's, which the 9-channel
    # pipeline leaves out) then keeps nothing, so both run the same steps.
    result = run(engine, init_images=[image], mask=everything, mask_blur=0, inpainting_fill=1)
    model = engine.models.get()
    assert inpaint_model.is_inpainting_model(model)
    parts = {"vae": model.vae, "text_encoder": model.text_encoder, "tokenizer": model.tokenizer, "unet": model.unet}
    pipe = pipeline_of(StableDiffusionInpaintPipeline, parts, model.scheduler_config)
    init = pipe.image_processor.preprocess(image, height=64, width=64).float()
    mask_condition = pipe.mask_processor.preprocess(everything, height=64, width=64)
    # The pipeline's own masked picture and encoder, on a contiguous tensor as A1111 and we encode
    # (a flat picture's encoding depends on the memory layout in a tiny random VAE).
    masked_latents = pipe._encode_vae_image((init * (mask_condition < 0.5)).contiguous(), torch.Generator())
    expected = pipe(prompt="a red house", negative_prompt="", image=image, mask_image=everything, height=64, width=64,
                    strength=1.0, num_inference_steps=STEPS, guidance_scale=CFG,
                    latents=our_start(model, image, euler(model.scheduler_config)),
                    masked_image_latents=masked_latents, output_type="pil").images[0]  # fmt: skip
    difference = np.abs(levels(result.images[0].image) - levels(expected))
    assert difference.max() <= 1, difference.max()
    written = parse_infotext(result.images[0].infotext)
    assert float(written["Conditional mask weight"]) == 1.0
    assert "Image CFG scale" not in written


def test_engine_ip2p_matches_the_instruct_pix2pix_pipeline(family_engines):
    engine = family_engines["ip2p"]
    image = picture(4)
    result = run(engine, init_images=[image], image_cfg_scale=IMAGE_CFG)
    model = engine.models.get()
    assert inpaint_model.is_ip2p_model(model)
    parts = {"vae": model.vae, "text_encoder": model.text_encoder, "tokenizer": model.tokenizer, "unet": model.unet}
    pipe = pipeline_of(StableDiffusionInstructPix2PixPipeline, parts, model.scheduler_config)
    start = our_start(model, image, euler(model.scheduler_config))
    expected = pipe(prompt="a red house", negative_prompt="", image=image, num_inference_steps=STEPS,
                    guidance_scale=CFG, image_guidance_scale=IMAGE_CFG, latents=start,
                    output_type="pil").images[0]  # fmt: skip
    difference = np.abs(levels(result.images[0].image) - levels(expected))
    assert difference.max() <= 1, difference.max()
    written = parse_infotext(result.images[0].infotext)
    assert float(written["Image CFG scale"]) == IMAGE_CFG
    assert "Conditional mask weight" not in written
    other = run(engine, init_images=[image], image_cfg_scale=1.0)
    assert np.abs(levels(other.images[0].image) - levels(expected)).max() > 1  # the slider changes the picture


def test_engine_txt2img_on_an_inpainting_model_is_a_full_mask_over_grey(family_engines):
    """A1111's txt2img_image_conditioning: the whole picture masked, the masked picture mid-grey.
    The inpaint pipeline given a grey picture and a full mask conditions the same way, and its
    strength-1 run starts from the seed's noise as txt2img does."""
    engine = family_engines["sd1_inpaint"]
    request = Txt2ImgRequest(prompt="a red house", negative_prompt="", steps=STEPS, cfg_scale=CFG, seed=SEED,
                             width=64, height=64, sampler_name="Euler", save_images=False)  # fmt: skip
    job = engine.submit_txt2img(request)
    job.wait()
    result = job.outcome()
    model = engine.models.get()
    parts = {"vae": model.vae, "text_encoder": model.text_encoder, "tokenizer": model.tokenizer, "unet": model.unet}
    pipe = pipeline_of(StableDiffusionInpaintPipeline, parts, model.scheduler_config)
    grey, everything = Image.new("RGB", (64, 64), (128, 128, 128)), Image.new("L", (64, 64), 255)
    masked_latents = pipe._encode_vae_image(torch.zeros(1, 3, 64, 64), torch.Generator())  # contiguous, see above
    expected = pipe(prompt="a red house", negative_prompt="", image=grey, mask_image=everything, height=64, width=64,
                    strength=1.0, num_inference_steps=STEPS, guidance_scale=CFG, masked_image_latents=masked_latents,
                    generator=torch.Generator().manual_seed(SEED), output_type="pil").images[0]  # fmt: skip
    difference = np.abs(levels(result.images[0].image) - levels(expected))
    assert difference.max() <= 1, difference.max()


def test_engine_txt2img_on_ip2p_runs_without_a_picture(family_engines):
    """No picture to edit: the image channels are zeros (what its "no image" rows see)."""
    engine = family_engines["ip2p"]
    request = Txt2ImgRequest(prompt="a red house", steps=2, seed=SEED, width=64, height=64, save_images=False)
    job = engine.submit_txt2img(request)
    job.wait()
    result = job.outcome()
    assert result.images[0].image.size == (64, 64)
    assert "Image CFG scale" not in parse_infotext(result.images[0].infotext)


def test_engine_sdxl_inpainting_model_matches_the_sdxl_inpaint_pipeline(family_engines):
    """SDXL's 9-channel inpainting model: the same extra channels, with SDXL's two encoders, pooled
    output and size conditioning (an empty negative prompt is zeros in both)."""
    engine = family_engines["sdxl_inpaint"]
    image, everything = picture(5), Image.new("L", (64, 64), 255)
    result = run(engine, init_images=[image], mask=everything, mask_blur=0, inpainting_fill=1)
    model = engine.models.get()
    assert model.family.name == "sdxl_inpaint" and inpaint_model.is_inpainting_model(model)
    pipe = StableDiffusionXLInpaintPipeline(vae=model.vae, text_encoder=model.text_encoder, tokenizer=model.tokenizer,
                                            text_encoder_2=model.text_encoder_2, tokenizer_2=model.tokenizer_2,
                                            unet=model.unet, scheduler=euler(model.scheduler_config))  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    init = pipe.image_processor.preprocess(image, height=64, width=64).float()
    mask_condition = pipe.mask_processor.preprocess(everything, height=64, width=64)
    masked_latents = pipe._encode_vae_image((init * (mask_condition < 0.5)).contiguous(), torch.Generator())
    expected = pipe(prompt="a red house", negative_prompt=None, image=image, mask_image=everything, height=64,
                    width=64, strength=1.0, num_inference_steps=STEPS, guidance_scale=CFG,
                    latents=our_start(model, image, euler(model.scheduler_config)),
                    masked_image_latents=masked_latents, output_type="pil").images[0]  # fmt: skip
    difference = np.abs(levels(result.images[0].image) - levels(expected))
    assert difference.max() <= 1, difference.max()
