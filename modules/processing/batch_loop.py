"""The one batch loop every generation runs: txt2img, and img2img / inpainting through their stage
(modules/processing/img2img.py): seeds, conditioning, sampling, hires and refiner, decoding, hooks,
saving."""

import contextlib
import dataclasses
from dataclasses import dataclass

from PIL import Image

from modules.images.infotext import build_infotext, params_from_fields
from modules.images.previews import make_preview
from modules.memory import prepare_compute_thread
from modules.memory.placement import compute_device
from modules.plugins.types import ImageSavedParams, PostprocessImageParams
from modules.processing import inpaint_model
from modules.processing.context import ProcessingContext
from modules.processing.hooks import StageHooks
from modules.processing.img2img import OUTPUT_SUBDIR as IMG2IMG_SUBDIR
from modules.processing.img2img import Img2ImgStage
from modules.processing.job_images import JobImages
from modules.processing.latent_codec import decode_latents
from modules.processing.networks import ActiveNetworks, network_state
from modules.processing.prepare import PreparedRequest
from modules.processing.prompting import JobPrompts
from modules.processing.result import GeneratedImage, GenerationResult, JobMeter, tag_output_size
from modules.processing.second_passes import HiresPass, refiner_switch
from modules.prompts.conditioning import encode_prompt
from modules.sampling import catalog, noise
from modules.sampling.denoiser import DenoiseInputs, SpeedOptions, denoise
from modules.sampling.guidance import GuidancePlan
from modules.sampling.token_merging import first_pass_ratio, merged_tokens

OUTPUT_SUBDIR = "txt2img-images"


def generate(p: ProcessingContext, engine, job, prepared: PreparedRequest) -> GenerationResult:
    """One generation with the context's current fields, calling the extension stages. The names
    come resolved in `prepared`: nothing is looked up again here."""
    sampler, schedule = prepared.sampler, prepared.schedule
    meter = JobMeter(getattr(p.model.unet, "device", None))
    hooks = StageHooks.for_job(engine, p, prepared.alwayson_args, "img2img" if p.request.init_images else "txt2img")
    hooks.run("before_process")
    shown_prompt, shown_negative = p.prompt, p.negative_prompt  # infotext keeps the tags, as A1111's does
    seed_plan = _seed_plan(p)
    job_images = JobImages.start(p, seed_plan)
    networks = ActiveNetworks.activate(engine, p)
    try:
        hooks.run("process")
        job_images.encoded_prompt, job_images.encoded_negative = p.prompt, p.negative_prompt
        result = GenerationResult(
            images=[],
            prompt=shown_prompt,
            negative_prompt=shown_negative,
            seed=p.seed,
            width=p.width,
            height=p.height,
            sampler_name=sampler.name,
            scheduler=schedule,
            steps=p.steps,
            cfg_scale=p.cfg_scale,
            batch_size=p.request.batch_size,
            model_name=p.model.info.model_name,
            model_hash=p.model.short_hash,
            subseed_strength=p.request.subseed_strength,
            warnings=p.warnings,
        )
        params = SamplingParams(p.steps, sampler, schedule, p.cfg_scale, p.width, p.height)
        with _precision(engine):  # --precision autocast on a GPU; nothing on a CPU
            _sample_batches(p, engine, job, hooks, result, params, seed_plan, job_images, prepared, networks)
    finally:
        networks.deactivate()
    hooks.run("postprocess", result=result)
    meter.finish(result)
    return result


def _seed_plan(p) -> noise.SeedPlan:
    request = p.request
    return noise.SeedPlan(
        seed=p.seed,
        subseed=request.subseed,
        subseed_strength=request.subseed_strength,
        seed_resize_from_h=request.seed_resize_from_h,
        seed_resize_from_w=request.seed_resize_from_w,
        batch_size=request.batch_size,
    )


def _sample_batches(p, engine, job, hooks: StageHooks, result: GenerationResult, params: "SamplingParams",
                    seed_plan: noise.SeedPlan, job_images: JobImages, prepared: PreparedRequest,
                    networks: ActiveNetworks | None = None) -> None:  # fmt: skip
    request = p.request
    job_prompts = JobPrompts(engine, p, network_state=network_state(p))
    # img2img: the init images are prepared after the `process` hook (which may set p.mask_round).
    stage = Img2ImgStage.for_job(p, engine) if request.init_images else None
    # A1111's img2img has no hires pass.
    second = None
    if request.enable_hr and stage is None:
        second = HiresPass.for_request(p, params, prepared, engine, networks)
    noise_settings = NoiseSettings(
        source=str(p.settings.get("randn_source")),
        ensd=int(p.settings.get("eta_noise_seed_delta") or 0),
        options=request.sampler_options(),
    )
    p.extra_generation_params.update(_seed_params(request, seed_plan, noise_settings))
    speed = SpeedOptions.from_settings(p.settings)
    tome_ratio = first_pass_ratio(p.settings, request.override_settings, img2img=stage is not None)
    p.extra_generation_params.update(_speed_params(speed, tome_ratio))
    if stage is None:  # img2img's stage writes its own
        mask_weight = float(p.settings.get("inpainting_mask_weight"))
        p.extra_generation_params.update(inpaint_model.conditioning_infotext(p.model, mask_weight))
    # The preview carries the size the result will have (the hires pass's when there is one): the UI
    # draws it at that size.
    output_size = (second.target.width, second.target.height) if second is not None else (p.width, p.height)
    on_latents = _previewer(p, job, engine, output_size)
    first_steps = stage.run_steps if stage is not None else p.steps
    job.set_total(request.n_iter, first_steps + (second.run_steps if second else 0))
    step_hooks = hooks.step_hooks()
    for batch_index in range(request.n_iter):
        if job.interrupted:
            result.interrupted = True
            break
        batch_plan = seed_plan.for_batch(batch_index)
        job_images.begin_batch(batch_index)
        # The hooks get p's own lists: what they change in place (or set on p) is what is sampled.
        hooks.run("before_process_batch", batch_index=batch_index, prompts=p.prompts, seeds=p.seeds)
        hooks.run("process_batch", batch_index=batch_index, prompts=p.prompts, seeds=p.seeds)
        prompts, negative, seeds, subseeds = job_images.used()
        refiner = refiner_switch(engine, p, prompts, negative, prepared.refiner, networks)
        plan = job_prompts.plan(prompts, negative, p.cfg_scale, p.steps)
        if stage is not None:  # instruct-pix2pix guides by the picture too
            plan = stage.guidance_for(plan)
        with merged_tokens(p.model.unet, tome_ratio):  # removed after the pass: untouched for the next job
            latents, stopped = sample_latents(
                p.model,
                plan,
                seeds,
                params,
                on_step=lambda step, total, b=batch_index: job.report_step(b, step, total),
                should_stop=job.should_stop,
                step_hooks=step_hooks,
                noise_settings=dataclasses.replace(noise_settings, seed_plan=batch_plan),
                on_latents=on_latents,
                switch=refiner,
                img2img=_img2img_start(stage, p, batch_index, len(seeds), hooks),
                speed=speed,
            )
        decoder = refiner.loaded_model if refiner is not None and refiner.loaded_model is not None else p.model
        for replaced in hooks.run("post_sample", latents=latents):
            latents = replaced
        if second is not None and not stopped:
            latents, stopped = second.run(
                p, job_prompts, latents, seeds, prompts, negative, step_hooks,
                on_step=lambda step, total, b=batch_index: job.report_step(b, first_steps + step,
                                                                          first_steps + total),
                should_stop=job.should_stop, on_latents=on_latents,
            )  # fmt: skip
            decoder = second.model_used or decoder
        decoded = decode_latents(decoder, latents, settings=p.settings, taesd=_final_taesd(p, engine, decoder))
        if second is not None:
            second.restore(p)
        if refiner is not None:
            refiner.restore()
        if stage is not None:
            decoded = stage.finish(p, hooks, decoded, batch_index * request.batch_size)
        # A batch stopped before its last step (Interrupt or Skip) is half-denoised noise: shown, not
        # saved, as A1111 does (its save_samples() refuses while interrupted or skipped).
        skipped = stopped and job.take_skip()
        save = request.save_images and not stopped
        made = zip(prompts, seeds, subseeds, decoded, strict=True)
        for prompt, seed, subseed, image in made:
            item = PostprocessImageParams(image=image, seed=seed, index=len(result.images))
            hooks.run("postprocess_image", params=item)
            params_for_image = infotext_params(result, seed, p)
            if request.subseed_strength > 0:
                params_for_image.update(params_from_fields({"subseed": subseed}))
            shown, shown_negative = job_images.record(len(result.images), prompt, negative, seed, subseed)
            infotext = build_infotext(shown, shown_negative, params_for_image)
            folder = IMG2IMG_SUBDIR if stage is not None else OUTPUT_SUBDIR
            path = save_image(engine, result, item.image, seed, infotext, folder) if save else None
            result.images.append(
                GeneratedImage(
                    image=item.image,
                    seed=seed,
                    infotext=infotext,
                    path=path,
                    subseed=subseed,
                    prompt=shown,
                    negative_prompt=shown_negative,
                )
            )
        if stopped and not skipped:  # Skip ends only this batch; Interrupt ends the job
            result.interrupted = True
            break


def _precision(engine):
    memory = getattr(engine, "memory", None)
    return memory.autocast() if memory is not None else contextlib.nullcontext()


def _final_taesd(p, engine, model):
    """The TAESD decoder when "VAE type for decode" is TAESD (its latent space's), else None."""
    if p.settings.get("sd_vae_decode_method") != "TAESD":
        return None
    return engine.taesd_for(model.family.latent_space)


def _img2img_start(stage, p, batch_index: int, batch_size: int, hooks):
    """sample_latents' `img2img` callable for this batch, or None for txt2img."""
    if stage is None:
        return None
    return lambda noise: (stage.schedule_steps, stage.start(p, batch_index, batch_size, noise, hooks))


def save_image(engine, result: GenerationResult, image: Image.Image, seed: int, infotext: str,
                folder: str = OUTPUT_SUBDIR):  # fmt: skip
    """Save one image to the outputs folder; its path, or None once saving has failed in this job.
    A failed save (full disk, read-only folder) keeps the image in the result and records why, so
    the job still hands back everything it made; later images of the job are not tried."""
    if result.save_error is not None:
        return None
    try:
        path = engine.saver.save(image, engine.paths.outputs_dir / folder, seed, infotext)
    except OSError as error:
        result.save_error = str(error)
        result.warnings.append(f"Images were not saved: {error}")
        return None
    engine.extensions.call("image_saved", params=ImageSavedParams(image=image, path=path, infotext=infotext, seed=seed))
    return path


def _seed_params(request, seed_plan: noise.SeedPlan, settings: "NoiseSettings") -> dict:
    """Infotext keys for the seed and sampler extras, only when they are in use."""
    resized = request.seed_resize_from_w > 0 and request.seed_resize_from_h > 0
    return params_from_fields({
        "subseed_strength": request.subseed_strength if request.subseed_strength > 0 else None,
        "seed_resize_from_w": request.seed_resize_from_w if resized else None,
        "seed_resize_from_h": request.seed_resize_from_h if resized else None,
        "eta": request.eta,
        "eta_noise_seed_delta": settings.ensd or None,
        "randn_source": settings.source if settings.source != "CPU" else None,
    })  # fmt: skip


def _speed_params(speed: SpeedOptions, tome_ratio: float) -> dict:
    """Infotext keys of the speed options that change the picture, only when not at their defaults."""
    return params_from_fields({
        "token_merging_ratio": tome_ratio or None,
        "s_min_uncond": speed.s_min_uncond or None,
        "batch_cond_uncond": None if speed.batch_cond_uncond else False,
        "pad_cond_uncond": None if speed.pad_cond_uncond else False,
    })  # fmt: skip


@dataclass(frozen=True)
class SamplingParams:
    steps: int
    sampler: catalog.SamplerSpec
    schedule: str
    cfg_scale: float
    width: int
    height: int


def encode_conditioning(model, prompt: str, negative_prompt: str, cfg_scale: float):
    """(cond, uncond) with the default encode options; uncond is None at CFG 1."""
    cond = encode_prompt(model, prompt)
    uncond = encode_prompt(model, negative_prompt) if cfg_scale != 1 else None
    return cond, uncond


def sample_images(model, conditioning, seeds: list[int], params: SamplingParams, on_step=None, should_stop=None):
    """One batch from (cond, uncond) tensors: (images, stopped_early). Used by evaluations."""
    plan = GuidancePlan.static(*conditioning, params.cfg_scale, len(seeds))
    latents, stopped = sample_latents(model, plan, seeds, params, on_step, should_stop)
    return decode_latents(model, latents), stopped


@dataclass(frozen=True)
class NoiseSettings:
    """Where a batch's noise comes from: its seed plan (variation seed, resize-from), the RNG
    source, ENSD for ancestral step noise, and the sampler's options."""

    seed_plan: noise.SeedPlan | None = None
    source: str = "CPU"
    ensd: int = 0
    options: catalog.SamplerOptions | None = None


def sample_latents(model, plan: GuidancePlan, seeds, params: SamplingParams, on_step=None, should_stop=None,
                   step_hooks=None, noise_settings: NoiseSettings | None = None, on_latents=None,
                   switch=None, img2img=None, speed: SpeedOptions | None = None):  # fmt: skip
    """Sample one batch. `img2img(initial_noise) -> (schedule steps, DenoiseInputs fields)` starts
    it from init latents instead of pure noise (modules/processing/img2img.py). `speed`: the job's
    speed options (None: the defaults)."""
    prepare_compute_thread()
    settings = noise_settings or NoiseSettings()
    device = compute_device(model.unet)
    generators = noise.generators_for(seeds, source=settings.source, device=device)
    factor = model.vae_scale_factor
    shape = (model.latent_channels, params.height // factor, params.width // factor)
    if settings.seed_plan is not None:
        initial = settings.seed_plan.noise(shape, scale_factor=factor, source=settings.source, device=device,
                                           generators=generators)  # fmt: skip
    else:
        initial = noise.initial_noise(generators, shape)
    if settings.ensd:  # A1111: ancestral samplers draw their step noise from seed + ENSD
        generators = noise.generators_for(catalog.ancestral_seeds(seeds, settings.ensd), source=settings.source,
                                          device=device)  # fmt: skip
    initial = initial.to(device, model.unet.dtype)
    schedule_steps, start = params.steps, {}
    if img2img is None:  # txt2img on an inpainting model: A1111's grey picture, all masked
        extra = inpaint_model.txt2img_extra_channels(model, initial.shape[0], params.width, params.height)
        if extra is not None:
            start = {"extra_channels": extra}
    else:
        schedule_steps, start = img2img(initial)
        if start["start_step"] >= schedule_steps:  # denoising strength 0: no step runs
            return start["init_latents"], False
    inputs = DenoiseInputs(
        latents=initial,
        guidance=plan,
        generators=generators,
        options=settings.options,
        switch=switch,
        speed=speed,
        **start,
    )
    return denoise(
        model.unet,
        params.sampler.build(model.scheduler_config, params.schedule),
        inputs,
        schedule_steps,
        on_step=on_step or (lambda step, total: None),
        should_stop=should_stop or (lambda: False),
        step_hooks=step_hooks,
        on_latents=on_latents,
    )


def _previewer(p, job, engine, output_size: tuple[int, int]):
    """Every N steps (setting), a preview of the latents for the progress display, tagged with
    `output_size` (width, height); None when off."""
    every = int(p.settings.get("show_progress_every_n_steps") or 0)
    if every <= 0:
        return None
    method = p.settings.get("show_progress_type")
    taesd = engine.taesd_for(p.model.family.latent_space) if method == "TAESD" else None

    def on_latents(step: int, latents) -> None:
        if step % every == 0:
            job.set_preview(tag_output_size(make_preview(method, p.model, latents, taesd), output_size))
            if taesd is not None and taesd.problem and taesd.problem not in p.warnings:
                p.warnings.append(taesd.problem)  # the job still runs, with cheap previews

    return on_latents


def infotext_params(result: GenerationResult, seed: int, p: ProcessingContext | None = None) -> dict:
    """The infotext keys of one image: the request fields it was made with (keys declared on the
    fields), then what the job and the extensions added to p.extra_generation_params."""
    params = params_from_fields({
        "steps": result.steps,
        "sampler_name": result.sampler_name,
        "scheduler": result.scheduler if result.scheduler != "Automatic" else None,
        "cfg_scale": result.cfg_scale,
        "seed": seed,
        "width": result.width,
        "height": result.height,
        "model_hash": result.model_hash,
        "checkpoint": result.model_name,
        **(_prompt_options(p) if p is not None else {}),
    })  # fmt: skip
    return {**params, **(p.extra_generation_params if p is not None else {})}


def _prompt_options(p: ProcessingContext) -> dict:
    """Prompt settings that change the picture, written only when not at their defaults."""
    clip_skip = int(p.clip_skip or p.settings.get("CLIP_stop_at_last_layers"))
    emphasis = p.settings.get("emphasis")
    return {"clip_skip": clip_skip if clip_skip > 1 else None, "emphasis": emphasis if emphasis != "Original" else None}
