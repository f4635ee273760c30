"""img2img's pixel side, before anything is encoded (A1111 v1.10's StableDiffusionProcessingImg2Img
.init): each init image flattened, fitted to the output by the resize mode (or cut to the "Only
masked" region), its masked area filled for "fill"; the mask inverted, blurred, cut and fitted the
same way; what the results are laid back onto. No torch here: it is all pictures.
"""

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageColor

from modules.images.color_correction import color_reference
from modules.images.inpaint_area import Box, crop_for_processing, only_masked_region, overlay_mask
from modules.images.masked_fill import fill_masked_area
from modules.images.masks import blur_mask, invert_mask
from modules.images.resize_modes import ResizeMode, Upscale, centred_offset, fit_size, resize_image

FILL, ORIGINAL, LATENT_NOISE, LATENT_NOTHING = range(4)


@dataclass(frozen=True)
class InitPicture:
    """One init image made ready: `processed` is what is encoded (width x height, or the image's own
    size for the latent resize mode), `original` what the result is laid back onto (RGB)."""

    processed: Image.Image
    original: Image.Image
    color_reference: np.ndarray | None  # Lab pixels to match, when colour correction is on


@dataclass(frozen=True)
class InitPlan:
    """A job's init images and mask, ready to encode. `processing_mask` ("L", width x height) is the
    blurred mask the latent mask comes from; `overlay` ("L", the originals' size) the one the
    originals are composited back through; `region` the Only-masked crop (None: whole picture)."""

    pictures: list[InitPicture]
    width: int
    height: int
    resize_mode: int
    processing_mask: Image.Image | None = None
    overlay: Image.Image | None = None
    region: Box | None = None
    inpainting_fill: int = ORIGINAL

    @property
    def latent_resize(self) -> bool:
        return self.resize_mode == ResizeMode.LATENT_RESIZE and self.region is None

    def picture_for(self, index: int) -> InitPicture:
        """Image `index` of the job uses init image index mod their count (one image: every one)."""
        return self.pictures[index % len(self.pictures)]


def background_color(value: str) -> tuple[int, int, int]:
    """The img2img_background_color setting as RGB; white when it is not a colour."""
    try:
        return ImageColor.getrgb(value or "#ffffff")[:3]
    except ValueError:
        return 255, 255, 255


def flatten(image: Image.Image, color: tuple[int, int, int]) -> Image.Image:
    """An init image as RGB: transparent parts laid over `color` (A1111's images.flatten)."""
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        canvas = Image.new("RGBA", image.size, (*color, 255))
        canvas.alpha_composite(image.convert("RGBA"))
        return canvas.convert("RGB")
    return image.convert("RGB")


def plan_init(request, width: int, height: int, *, color_correction: bool = False, background: str = "#ffffff",
              upscale: Upscale | None = None) -> InitPlan:  # fmt: skip
    """Everything about the init images and mask of `request` that is decided in pixel space, for a
    width x height processing size (multiples of 8)."""
    mode = request.resize_mode
    section = request.inpainting
    region = processing_mask = overlay = None
    fill = ORIGINAL
    if section is not None:
        fill = section.inpainting_fill
        mask = section.image.convert("L")
        if section.inpainting_mask_invert:
            mask = invert_mask(mask)
        if section.mask_blur_x > 0 or section.mask_blur_y > 0:
            mask = blur_mask(mask, section.mask_blur_x, section.mask_blur_y)
        if section.inpaint_full_res:
            region = only_masked_region(mask, section.inpaint_full_res_padding, width, height)
        if region is not None:
            overlay = overlay_mask(mask, only_masked=True)
            processing_mask = crop_for_processing(mask, region, width, height)
        else:
            processing_mask = resize_image(mask, mode, width, height)
            if mode == ResizeMode.RESIZE_AND_FILL:
                processing_mask = with_bars_masked(processing_mask, mask.size)
            overlay = overlay_mask(processing_mask, only_masked=False)
    color = background_color(background)
    pictures = []
    for image in request.init_images:
        image = flatten(image, color)
        if region is not None:  # Only masked: the original keeps its size, the crop is processed
            original = image
            processed = crop_for_processing(image, region, width, height)
        elif mode == ResizeMode.LATENT_RESIZE:  # encoded at its own size; laid back at the output's
            original = resize_image(image, ResizeMode.JUST_RESIZE, width, height, upscale)
            processed = image
        else:
            original = processed = resize_image(image, mode, width, height, upscale)
        if processing_mask is not None and fill != ORIGINAL:
            mask_here = processing_mask if processing_mask.size == processed.size else processing_mask.resize(
                processed.size, Image.Resampling.BICUBIC)  # fmt: skip
            processed = fill_masked_area(processed, mask_here)
        reference = color_reference(processed) if color_correction else None
        pictures.append(InitPicture(processed, original, reference))
    return InitPlan(pictures, width, height, mode, processing_mask, overlay, region, fill)


def with_bars_masked(fitted: Image.Image, source_size: tuple[int, int]) -> Image.Image:
    """Outpainting by canvas: with "Resize and fill" the bars around the fitted picture are new
    area, so inpainting paints them (they are masked) whatever the mask's own edge held."""
    scaled_w, scaled_h = fit_size(*source_size, fitted.width, fitted.height)
    left, top = centred_offset(scaled_w, scaled_h, fitted.width, fitted.height)
    picture = (slice(top, top + scaled_h), slice(left, left + scaled_w))
    levels = np.full((fitted.height, fitted.width), 255, dtype=np.uint8)
    levels[picture] = np.asarray(fitted)[picture]
    return Image.fromarray(levels)


def img2img_steps(steps: int, strength: float, exact: bool) -> tuple[int, int]:
    """(schedule length, steps run) as A1111 counts them: `int(min(strength, 0.999) * steps) + 1`
    steps from the matching point of a `steps`-long schedule (16 of 20 at 0.75); with the
    exact-steps setting, `steps` steps of a schedule of `int(steps / min(strength, 0.999))`.
    Strength 0 runs none (the init image comes back after a VAE round trip)."""
    if strength <= 0:
        return steps, 0
    capped = min(strength, 0.999)
    if exact:
        return max(int(steps / capped), steps), steps
    return steps, int(capped * steps) + 1
