"""The passes after the first: the hires fix's second pass (optionally on its own checkpoint) and the
refiner that takes over part of the way through the steps."""

import dataclasses
from dataclasses import dataclass
from typing import Any

from modules.images.infotext import params_from_fields
from modules.processing import hires, inpaint_model
from modules.processing.hires_size import HiresTarget, target_size
from modules.processing.latent_codec import decode_latents
from modules.processing.networks import network_state
from modules.processing.prepare import PreparedRequest
from modules.processing.prompting import JobPrompts
from modules.prompts.extra_networks import strip_tags
from modules.sampling import catalog, noise
from modules.sampling.denoiser import DenoiseInputs, ModelSwitch, SpeedOptions, denoise
from modules.sampling.token_merging import hires_ratio, merged_tokens


@dataclass
class HiresPass:
    """The hires fix's second pass for one job: upscale, then denoise part of the way."""

    target: HiresTarget
    sampler: catalog.SamplerSpec
    schedule: str
    steps: int  # the schedule's length (hires steps, or the first pass's)
    run_steps: int  # how many of them run: steps x denoising strength, as A1111 counts
    # A1111's "Hires checkpoint": the pass runs on this checkpoint (its own text encoders, VAE and
    # the job's extra networks moved onto it); None: on the first pass's model.
    checkpoint: Any = None
    engine: Any = None
    networks: Any = None
    model_used: Any = None  # the hires checkpoint's model after run(): it decodes the pass's latents

    @classmethod
    def for_request(cls, p, first, prepared: PreparedRequest, engine=None,
                    networks=None) -> "HiresPass":  # fmt: skip
        r = p.request
        sampler, schedule = prepared.hires_sampler, prepared.hires_schedule
        steps = r.hr_second_pass_steps or first.steps
        target = target_size(p.width, p.height, r.hr_scale, r.hr_resize_x, r.hr_resize_y)
        p.extra_generation_params.update(_hires_params(r, target, sampler.name, schedule))
        p.extra_generation_params.update(
            params_from_fields({"token_merging_ratio_hr": hires_ratio(p.settings) or None})
        )
        checkpoint = prepared.hires_checkpoint
        if checkpoint is not None:
            p.extra_generation_params.update(
                params_from_fields({"hr_checkpoint_name": engine.models.title(checkpoint)})
            )
        return cls(target, sampler, schedule, steps, min(int(steps * r.denoising_strength), steps), checkpoint,
                   engine, networks)  # fmt: skip

    def _model_for_pass(self, p, job_prompts):
        """(the model, the JobPrompts) this pass runs with."""
        if self.checkpoint is None:
            return p.model, job_prompts
        model = with_weight_storage(self.engine, p, self.engine.models.get(self.checkpoint, second_pass=True))
        hires_p = dataclasses.replace(p, model=model)
        if self.networks is not None:
            self.networks.switch_model(hires_p)
        return model, JobPrompts(self.engine, hires_p, network_state=network_state(p))

    def restore(self, p) -> None:
        """The job's extra networks back on the first pass's model, for the next batch."""
        if self.checkpoint is not None and self.networks is not None:
            self.networks.switch_model(p)

    def run(self, p, job_prompts, latents, seeds, prompts, negative, step_hooks, on_step, should_stop,
            on_latents=None):  # fmt: skip
        first, r = p.model, p.request
        model, job_prompts = self._model_for_pass(p, job_prompts)
        self.model_used = model if self.checkpoint is not None else None
        factor = model.vae_scale_factor
        size = (self.target.height // factor, self.target.width // factor)
        pictures = None
        if r.hr_upscaler in hires.LATENT_UPSCALERS:
            start = hires.upscale_latents(latents, r.hr_upscaler, size)
        else:
            pictures = hires.upscale_images(
                decode_latents(first, latents, settings=p.settings), r.hr_upscaler, self.target, p.upscalers
            )
            start = hires.encode_images(model, pictures, settings=p.settings).to(latents.dtype)
        if self.run_steps == 0:  # denoising strength 0: the upscale is the result
            return start, False
        hr_prompts = [strip_tags(r.hr_prompt)[0] if r.hr_prompt else text for text in prompts]
        hr_negative = strip_tags(r.hr_negative_prompt)[0] if r.hr_negative_prompt else negative
        plan = job_prompts.plan(hr_prompts, hr_negative, p.cfg_scale, p.steps, hires_steps=self.steps,
                                loop_steps=self.run_steps, size=(self.target.width, self.target.height))  # fmt: skip
        generators = noise.generators_for(seeds)
        inputs = DenoiseInputs(
            latents=noise.initial_noise(generators, (model.latent_channels, *size)).to(start.device, start.dtype),
            guidance=plan,
            generators=generators,
            init_latents=start,
            strength=r.denoising_strength,
            extra_channels=inpaint_model.txt2img_extra_channels(
                model, len(seeds), self.target.width, self.target.height, pictures=pictures,
                mask_weight=float(p.settings.get("inpainting_mask_weight")),
            ),
            speed=SpeedOptions.from_settings(p.settings),
        )  # fmt: skip
        scheduler = self.sampler.build(model.scheduler_config, self.schedule)
        with merged_tokens(model.unet, hires_ratio(p.settings)):  # the pass's own ratio, removed after it
            return denoise(model.unet, scheduler, inputs, self.steps, on_step, should_stop, step_hooks, on_latents)


def _hires_params(r, target: HiresTarget, sampler_name: str, schedule: str) -> dict:
    """Infotext keys of the hires pass (what A1111 writes), each only when it says something."""
    resized = bool(r.hr_resize_x or r.hr_resize_y)
    return params_from_fields({
        "denoising_strength": r.denoising_strength,
        "hr_scale": None if resized else r.hr_scale,
        "hr_resize_x": target.width if resized else None,
        "hr_resize_y": target.height if resized else None,
        "hr_second_pass_steps": r.hr_second_pass_steps or None,
        "hr_upscaler": r.hr_upscaler,
        "hr_sampler_name": sampler_name if r.hr_sampler_name else None,
        "hr_scheduler": schedule if r.hr_scheduler else None,
        "hr_prompt": r.hr_prompt or None,
        "hr_negative_prompt": r.hr_negative_prompt or None,
    })  # fmt: skip


class RefinerSwitch(ModelSwitch):
    """Loads the refiner checkpoint when the sampler reaches the switch point (the manager keeps
    one model in memory, as A1111 does: the base model is loaded again for the next job). The
    job's extra networks (LoRA tags) move to the refiner before its prompts are encoded, as A1111
    applies them to it; `restore()` moves them back for the next batch."""

    def __init__(self, engine, p, prompts: list[str], negative: str, info, networks=None):
        super().__init__(p.request.refiner_switch_at, self._load)
        self.engine, self.p, self.prompts, self.negative, self.info = engine, p, prompts, negative, info
        self.networks = networks
        self.loaded_model = None

    def _load(self):
        p = self.p
        # the CheckpointInfo prepare() resolved
        model = with_weight_storage(self.engine, p, self.engine.models.get(self.info, second_pass=True))
        self.loaded_model = model
        refiner_p = dataclasses.replace(p, model=model)
        if self.networks is not None:
            self.networks.switch_model(refiner_p)
        job_prompts = JobPrompts(self.engine, refiner_p, network_state=network_state(p))
        plan = job_prompts.plan(self.prompts, self.negative, p.cfg_scale, p.steps)
        return model.unet, plan

    def restore(self) -> None:
        if self.networks is not None and self.loaded_model is not None:
            self.networks.switch_model(self.p)


def refiner_switch(engine, p, prompts: list[str], negative: str, info, networks=None) -> RefinerSwitch | None:
    """`info`: the refiner's CheckpointInfo as prepare() resolved it (None: no refiner)."""
    request = p.request
    if info is None:
        return None
    p.extra_generation_params.update(
        params_from_fields(
            {"refiner_checkpoint": engine.models.title(info), "refiner_switch_at": request.refiner_switch_at}
        )  # fmt: skip
    )
    return RefinerSwitch(engine, p, prompts, negative, info, networks)


def with_weight_storage(engine, p, model):
    """A second-pass model (refiner, hires checkpoint) with the job's "FP8 weight" choice applied,
    as the first pass's model got it at job start."""
    from modules.processing.generation import apply_weight_storage

    model, params = apply_weight_storage(engine, model, p.settings, second_pass=True)
    for key, value in params.items():
        p.extra_generation_params.setdefault(key, value)
    return model
