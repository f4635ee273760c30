"""Run a txt2img request to a result on a given engine."""

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from modules.images.infotext import build_infotext
from modules.memory import prepare_compute_thread
from modules.processing.request import Txt2ImgRequest
from modules.processing.result import GeneratedImage, GenerationResult
from modules.prompts.conditioning import encode_prompt
from modules.sampling import catalog, noise
from modules.sampling.denoiser import DenoiseInputs, denoise

OUTPUT_SUBDIR = "txt2img-images"


def run(request: Txt2ImgRequest, engine, job) -> GenerationResult:
    request, warnings = request.size_adjustments()
    sampler, schedule = catalog.resolve(request.sampler_name, request.scheduler)
    model = engine.models.get(request.checkpoint)
    base_seed = noise.pick_seed(request.seed)
    result = GenerationResult(
        images=[],
        prompt=request.prompt,
        negative_prompt=request.negative_prompt,
        seed=base_seed,
        width=request.width,
        height=request.height,
        sampler_name=sampler.name,
        scheduler=schedule,
        steps=request.steps,
        cfg_scale=request.cfg_scale,
        batch_size=request.batch_size,
        model_name=model.info.model_name,
        model_hash=model.short_hash,
        warnings=warnings,
    )
    conditioning = encode_conditioning(model, request.prompt, request.negative_prompt, request.cfg_scale)
    job.set_total(request.n_iter, request.steps)
    for batch_index in range(request.n_iter):
        if job.should_stop():
            result.interrupted = True
            break
        seeds = [base_seed + batch_index * request.batch_size + i for i in range(request.batch_size)]
        images, stopped = sample_images(
            model,
            conditioning,
            seeds,
            SamplingParams(request.steps, sampler, schedule, request.cfg_scale, request.width, request.height),
            on_step=lambda step, total, b=batch_index: job.report_step(b, step, total),
            should_stop=job.should_stop,
        )
        for seed, image in zip(seeds, images, strict=True):
            infotext = build_infotext(request.prompt, request.negative_prompt, infotext_params(result, seed))
            path = None
            if request.save_images:
                path = engine.saver.save(image, engine.paths.outputs_dir / OUTPUT_SUBDIR, seed, infotext)
            result.images.append(GeneratedImage(image=image, seed=seed, infotext=infotext, path=path))
        if stopped:
            result.interrupted = True
            break
    return result


@dataclass(frozen=True)
class SamplingParams:
    steps: int
    sampler: catalog.SamplerSpec
    schedule: str
    cfg_scale: float
    width: int
    height: int


def encode_conditioning(model, prompt: str, negative_prompt: str, cfg_scale: float):
    """(cond, uncond); uncond is None at CFG 1, where the unconditional pass is skipped."""
    dtype = model.unet.dtype
    cond = encode_prompt(model, prompt).to(dtype)
    uncond = encode_prompt(model, negative_prompt).to(dtype) if cfg_scale != 1 else None
    return cond, uncond


def sample_images(model, conditioning, seeds: list[int], params: SamplingParams, on_step=None, should_stop=None):
    """One batch, one image per seed: (images, stopped_early). Shared by txt2img and evaluations."""
    prepare_compute_thread()
    cond, uncond = conditioning
    generators = noise.generators_for(seeds)
    shape = (model.latent_channels, params.height // model.vae_scale_factor, params.width // model.vae_scale_factor)
    inputs = DenoiseInputs(
        latents=noise.initial_noise(generators, shape).to(model.unet.device, model.unet.dtype),
        cond=cond,
        uncond=uncond,
        cfg_scale=params.cfg_scale,
        generators=generators,
    )
    latents, stopped = denoise(
        model.unet,
        params.sampler.build(model.scheduler_config, params.schedule),
        inputs,
        params.steps,
        on_step=on_step or (lambda step, total: None),
        should_stop=should_stop or (lambda: False),
    )
    return decode_latents(model, latents), stopped


def infotext_params(result: GenerationResult, seed: int) -> dict:
    return {
        "Steps": result.steps,
        "Sampler": result.sampler_name,
        "Schedule type": result.scheduler if result.scheduler != "Automatic" else None,
        "CFG scale": result.cfg_scale,
        "Seed": seed,
        "Size": f"{result.width}x{result.height}",
        "Model hash": result.model_hash,
        "Model": result.model_name,
    }


def decode_latents(model, latents: torch.Tensor) -> list[Image.Image]:
    vae = model.vae
    with torch.inference_mode():
        pixels = vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor).sample
    pixels = ((pixels.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    array = pixels.permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(np.ascontiguousarray(item)) for item in array]
