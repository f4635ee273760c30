"""img2img and inpainting on the generation core: the init images encoded, noised to where the
denoising strength starts (A1111's step count), the mask blended into every step, and the results
laid back over the originals. The batch loop is txt2img's (modules/processing/batch_loop.py): this
stage only changes where sampling starts and what happens to the decoded pictures.

The pixel work before encoding is modules/processing/img2img_init.py. Image-conditioned checkpoints
(9-channel inpainting models, instruct-pix2pix) get their extra UNet input channels here
(modules/processing/inpaint_model.py), and instruct-pix2pix its guidance (`guidance_for`).
"""

import hashlib
import io
from dataclasses import dataclass, field

import torch
from PIL import Image

from modules.atomic import write_bytes_atomic
from modules.images.color_correction import apply_color_correction
from modules.images.infotext import params_from_fields
from modules.images.inpaint_area import composite, place_generated
from modules.images.masks import latent_mask
from modules.images.pixels import to_model_pixels
from modules.images.resize_modes import interpolate_latent
from modules.plugins.types import MaskBlendParams, MaskOverlayParams
from modules.processing import inpaint_model
from modules.processing.hires import encode_images
from modules.processing.img2img_init import LATENT_NOISE, LATENT_NOTHING, InitPlan, img2img_steps, plan_init
from modules.processing.request import INPAINT_AREAS, MASK_MODES, MASKED_CONTENT, RESIZE_MODES
from modules.sampling.denoiser import InpaintBlend
from modules.sampling.guidance import GuidancePlan
from modules.sampling.ip2p_guidance import ip2p_plan_for

OUTPUT_SUBDIR = "img2img-images"
INIT_IMAGES_SUBDIR = "init-images"


def upscaler_for_img2img(name: str, upscalers):
    """The "Upscaler for img2img" setting as resize_image's `upscale` callable: the named upscaler
    of the engine's list (`upscalers`, which also holds Lanczos and Nearest). The setting takes any
    text (the list is only known at run time), so a name not listed raises ValueError here."""
    canonical = upscalers.resolve(name or "Lanczos")
    return lambda image, scale: upscalers.upscale(image, canonical, scale)


@dataclass
class Img2ImgStage:
    """One job's img2img start: the init plan, A1111's step count, and the encoded init latents."""

    plan: InitPlan
    schedule_steps: int  # the length of the schedule the run is a part of
    run_steps: int  # how many of its steps run (from the end)
    noise_multiplier: float
    extra_noise: float
    prediction_type: str = "epsilon"
    unet_channels: int = inpaint_model.LATENT_UNET_CHANNELS  # 9: inpainting model, 8: instruct-pix2pix
    mask_weight: float = 1.0  # inpainting models: the inpainting_mask_weight setting
    image_cfg_scale: float | None = None  # instruct-pix2pix: the request's Image CFG scale
    _latents: dict[int, torch.Tensor] = field(default_factory=dict)  # init picture index -> (1, C, h, w)
    _extra: dict[int, torch.Tensor] = field(default_factory=dict)  # init picture index -> (1, C', h, w)

    @classmethod
    def for_job(cls, p, engine) -> "Img2ImgStage":
        request, settings = p.request, p.settings
        plan = plan_init(
            request,
            p.width,
            p.height,
            color_correction=bool(settings.get("img2img_color_correction")),
            background=str(settings.get("img2img_background_color")),
            upscale=upscaler_for_img2img(str(settings.get("upscaler_for_img2img")), engine.upscalers),
        )
        schedule_steps, run_steps = img2img_steps(p.steps, request.denoising_strength,
                                                  bool(settings.get("img2img_fix_steps")))  # fmt: skip
        multiplier = request.initial_noise_multiplier
        if multiplier is None:
            multiplier = float(settings.get("initial_noise_multiplier"))
        stage = cls(plan, schedule_steps, run_steps, multiplier, float(settings.get("img2img_extra_noise")),
                    p.model.scheduler_config.get("prediction_type") or "epsilon")  # fmt: skip
        stage.unet_channels = inpaint_model.supported_unet_channels(p.model)
        if stage.unet_channels == inpaint_model.INPAINT_UNET_CHANNELS:
            stage.mask_weight = float(settings.get("inpainting_mask_weight"))
        elif stage.unet_channels == inpaint_model.IP2P_UNET_CHANNELS:
            stage.image_cfg_scale = request.image_cfg_scale
        p.extra_generation_params.update(stage.infotext_params(request))
        if settings.get("save_init_img"):
            try:
                digest = _save_init_images(engine, request)
            except OSError as error:  # the job still runs; the user is told why nothing was kept
                p.warnings.append(f"Init images were not saved: {error}")
            else:
                p.extra_generation_params.update(params_from_fields({"init_image_hash": digest}))
        return stage

    def infotext_params(self, request) -> dict:
        """A1111's img2img keys, each only when it says something."""
        values = {"denoising_strength": request.denoising_strength}
        if request.resize_mode:
            values["resize_mode"] = RESIZE_MODES[request.resize_mode]
        section = request.inpainting
        if section is not None:
            blur_x, blur_y = section.mask_blur_x, section.mask_blur_y
            if blur_x == blur_y:
                values["mask_blur"] = blur_x if blur_x > 0 else None
            else:
                values.update(mask_blur_x=blur_x, mask_blur_y=blur_y)
            values["inpainting_fill"] = MASKED_CONTENT[section.inpainting_fill]
            if section.inpaint_full_res:
                values["inpaint_full_res"] = INPAINT_AREAS[1]
                values["inpaint_full_res_padding"] = section.inpaint_full_res_padding
            values["inpainting_mask_invert"] = MASK_MODES[int(section.inpainting_mask_invert)]
        if self.noise_multiplier != 1.0:
            values["initial_noise_multiplier"] = self.noise_multiplier
        if self.extra_noise > 0:
            values["img2img_extra_noise"] = self.extra_noise
        if self.unet_channels == inpaint_model.IP2P_UNET_CHANNELS:
            values["image_cfg_scale"] = self.image_cfg_scale  # A1111: only when an edit model ran
        params = params_from_fields(values)
        if self.unet_channels == inpaint_model.INPAINT_UNET_CHANNELS:
            params[inpaint_model.MASK_WEIGHT_KEY] = self.mask_weight
        return {key: value for key, value in params.items() if value is not None}

    def guidance_for(self, plan: GuidancePlan) -> GuidancePlan:
        """The plan this job samples with: instruct-pix2pix's two-scale plan for an 8-channel model,
        else `plan` unchanged."""
        if self.unet_channels != inpaint_model.IP2P_UNET_CHANNELS:
            return plan
        return ip2p_plan_for(plan, self.image_cfg_scale)

    def start(self, p, batch_index: int, batch_size: int, noise: torch.Tensor, hooks) -> dict:
        """The DenoiseInputs fields that start this batch from its init images (`noise`: the batch's
        initial noise, which also fills the mask for "latent noise")."""
        model = p.model
        init = torch.cat([self._latent(model, batch_index * batch_size + i, p.settings) for i in range(batch_size)])
        init = init.to(noise.device, noise.dtype)
        fields = {
            "init_latents": init,
            "start_step": self.schedule_steps - self.run_steps,
            "noise_multiplier": self.noise_multiplier,
            "extra_noise": self.extra_noise,
        }
        if self.unet_channels != inpaint_model.LATENT_UNET_CHANNELS:
            extra = [self._extra_channels(p, batch_index * batch_size + i, init.shape[-2:]) for i in range(batch_size)]
            fields["extra_channels"] = torch.cat(extra).to(noise.device, noise.dtype)
        if self.plan.processing_mask is None:
            return fields
        height, width = init.shape[-2:]
        nmask = torch.from_numpy(latent_mask(self.plan.processing_mask, width, height, round_mask=p.mask_round))
        nmask = nmask[None, None].to(init.device, init.dtype)
        keep = 1 - nmask
        if self.plan.inpainting_fill == LATENT_NOISE:
            init = init * keep + noise.to(init.dtype) * nmask
        elif self.plan.inpainting_fill == LATENT_NOTHING:
            init = init * keep
        fields["init_latents"] = init
        fields["inpaint"] = InpaintBlend(init, keep, self.prediction_type, _blend_hook(p, hooks))
        return fields

    def _latent(self, model, index: int, settings=None) -> torch.Tensor:
        key = index % len(self.plan.pictures)
        if key not in self._latents:
            latent = encode_images(model, [self.plan.pictures[key].processed], settings=settings)
            if self.plan.latent_resize:
                factor = model.vae_scale_factor
                latent = interpolate_latent(latent.float(), self.plan.width // factor, self.plan.height // factor)
            self._latents[key] = latent
        return self._latents[key]

    def _extra_channels(self, p, index: int, latent_size) -> torch.Tensor:
        """The extra UNet input channels of image `index` (cached per init picture)."""
        key = index % len(self.plan.pictures)
        if key not in self._extra:
            vae, picture = p.model.vae, self.plan.pictures[key].processed
            pixels = to_model_pixels([picture])
            size = tuple(int(n) for n in latent_size)
            if self.unet_channels == inpaint_model.INPAINT_UNET_CHANNELS:
                mask = self.plan.processing_mask
                if mask is not None and mask.size != picture.size:  # latent resize: encoded at its own size
                    mask = mask.resize(picture.size, Image.Resampling.NEAREST)
                weights = None if mask is None else inpaint_model.conditioning_mask(mask, round_mask=p.mask_round)
                channels = inpaint_model.inpainting_channels(vae, pixels, weights, size, self.mask_weight)
            else:  # instruct-pix2pix
                channels = inpaint_model.ip2p_image_channels(vae, pixels)
                if tuple(channels.shape[-2:]) != size:
                    channels = interpolate_latent(channels.float(), size[1], size[0])
            self._extra[key] = channels
        return self._extra[key]

    def finish(self, p, hooks, images: list[Image.Image], first_index: int) -> list[Image.Image]:
        """The decoded pictures of a batch, colour-corrected (setting) and, with a mask, laid back
        over their originals so everything outside the blurred mask is the input's own pixels."""
        finished = []
        for offset, image in enumerate(images):
            index = first_index + offset
            picture = self.plan.picture_for(index)
            if picture.color_reference is not None:
                image = apply_color_correction(picture.color_reference, image)
            if self.plan.overlay is not None:
                placed = place_generated(image, picture.original, self.plan.region)
                params = MaskOverlayParams(image=placed, original=picture.original, mask=self.plan.overlay,
                                           index=index)  # fmt: skip
                replaced = hooks.run("mask_overlay", params=params)
                image = replaced[0] if replaced else composite(placed, picture.original, self.plan.overlay)
            finished.append(image)
        return finished


def _blend_hook(p, hooks):
    """The mask_blend hook as InpaintBlend calls it; None when no extension implements it."""
    if not hooks.engine.extensions.has_impls("mask_blend"):
        return None

    def hook(denoised, init, keep, sigma, step, total, is_final):
        params = MaskBlendParams(
            denoised=denoised, init_latent=init, mask=keep, nmask=1 - keep,
            sigma=torch.full((denoised.shape[0],), float(sigma), device=denoised.device), step=step,
            total_steps=total, is_final=is_final,
        )  # fmt: skip
        results = hooks.run("mask_blend", params=params)
        return results[0] if results else None

    return hook


def _save_init_images(engine, request) -> str:
    """A1111's save_init_img: each init image written once under its MD5 (outputs/init-images);
    the hash of the first is recorded."""
    folder = engine.paths.outputs_dir / INIT_IMAGES_SUBDIR
    first = None
    for image in request.init_images:
        digest = hashlib.md5(image.tobytes()).hexdigest()  # noqa: S324 - a name, as A1111's, not security
        first = first or digest
        path = folder / f"{digest}.png"
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            write_bytes_atomic(path, buffer.getvalue())
    return first
