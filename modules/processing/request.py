"""The one typed request that the UI and the API both build: a frozen GenerationRequest.

Design: the A1111 flat field names stay on the request (the API bodies and the UI tabs use them, so
the edge stays a plain field copy); the sections are read through views (`request.hires`,
`request.refiner`, `request.scripts`, and for img2img `request.init` and `request.inpainting`,
which gather the flat `init_images` and `mask` pictures with their knobs). Each field that the
infotext records declares its key once, with `infotext("Key")`; modules/images/infotext.py derives
the writer, the paste reader and the UI labels from those declarations.
"""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modules.processing.hires_size import target_size
from modules.sampling import catalog

MAX_STEPS = 150
MIN_SIZE, MAX_SIZE = 64, 2048
SIZE_MULTIPLE = 8
# Pixels of one batch at its final size (batch_size x width x height, after hires): what one
# job may hold in memory at once. 16 Mpx: e.g. 4 pictures at 2048x2048.
MAX_BATCH_PIXELS = 4 * MAX_SIZE * MAX_SIZE
MAX_INIT_IMAGES = 8
MAX_NAME_LENGTH = 1024  # a checkpoint name: looked up among the listed files, never opened
SAME_CHECKPOINT = "Use same checkpoint"  # A1111's hires checkpoint choice meaning "the first pass's"
# NaN or Infinity in a knob is never meant: refuse it, naming the field, instead of generating noise.
FINITE = ConfigDict(allow_inf_nan=False)


def infotext(key: str) -> dict:
    """The declaration that a field is recorded in the infotext under `key` (and read back from it
    on paste): pass as a Field's json_schema_extra."""
    return {"infotext": key}


# The limits of each knob, shared by every request type (UI, API) so they cannot drift apart.
Steps = Annotated[int, Field(ge=1, le=MAX_STEPS)]
CfgScale = Annotated[float, Field(ge=1.0, le=30.0)]
Size = Annotated[int, Field(ge=MIN_SIZE, le=MAX_SIZE)]
Seed = Annotated[int, Field(ge=-1, le=2**32 - 1)]
BatchSize = Annotated[int, Field(ge=1, le=8)]
BatchCount = Annotated[int, Field(ge=1, le=100)]
Strength = Annotated[float, Field(ge=0.0, le=1.0)]


class GenerationKnobs(BaseModel):
    """The knobs every way of asking for a picture shares, with one set of limits."""

    model_config = FINITE

    prompt: str = Field("", json_schema_extra=infotext("Prompt"))
    negative_prompt: str = Field("", json_schema_extra=infotext("Negative prompt"))
    cfg_scale: CfgScale = Field(7.0, json_schema_extra=infotext("CFG scale"))
    width: Size = 512  # infotext "Size" (WxH): see infotext.COMPOSITE_KEYS
    height: Size = 512
    seed: Seed = Field(-1, json_schema_extra=infotext("Seed"))
    batch_size: BatchSize = 1
    n_iter: BatchCount = 1


class SeedKnobs(BaseModel):
    """Variation seeds and sampler parameters (A1111's field names), shared by request and API."""

    model_config = FINITE

    subseed: Seed = Field(-1, json_schema_extra=infotext("Variation seed"))
    subseed_strength: float = Field(0.0, ge=0.0, le=1.0, json_schema_extra=infotext("Variation seed strength"))
    seed_resize_from_h: int = Field(0, ge=-1, le=MAX_SIZE)  # <= 0: off; infotext "Seed resize from" (WxH)
    seed_resize_from_w: int = Field(0, ge=-1, le=MAX_SIZE)
    eta: float | None = Field(None, ge=0.0, le=1.0, json_schema_extra=infotext("Eta"))  # None: the sampler's own
    s_churn: float = Field(0.0, ge=0.0, le=100.0)
    s_tmin: float = Field(0.0, ge=0.0)
    s_tmax: float | None = Field(None, ge=0.0)  # None: infinity
    s_noise: float = Field(1.0, ge=0.0, le=2.0)

    def sampler_options(self):
        import math

        from modules.sampling.catalog import SamplerOptions

        s_tmax = math.inf if self.s_tmax is None else self.s_tmax
        return SamplerOptions(self.eta, self.s_churn, self.s_tmin, s_tmax, self.s_noise)


class HiresKnobs(BaseModel):
    """Hires fix (A1111's field names): a second pass at a larger size. Shared by the request
    and the API body."""

    model_config = FINITE

    enable_hr: bool = False
    hr_scale: float = Field(2.0, ge=1.0, le=8.0, json_schema_extra=infotext("Hires upscale"))
    # None (A1111 clients): Latent. The name is resolved by prepare() (unknown: refused there).
    hr_upscaler: str | None = Field("Latent", json_schema_extra=infotext("Hires upscaler"))
    hr_second_pass_steps: int = Field(0, ge=0, le=MAX_STEPS, json_schema_extra=infotext("Hires steps"))  # 0: steps
    # Infotext "Hires resize" (WxH). The final size is checked too: see check_output_size.
    hr_resize_x: int = Field(0, ge=0, le=MAX_SIZE)
    hr_resize_y: int = Field(0, ge=0, le=MAX_SIZE)
    denoising_strength: float = Field(0.7, ge=0.0, le=1.0, json_schema_extra=infotext("Denoising strength"))
    hr_sampler_name: str | None = Field(None, json_schema_extra=infotext("Hires sampler"))  # None: the first pass's
    hr_scheduler: str | None = Field(None, json_schema_extra=infotext("Hires schedule type"))
    hr_prompt: str = Field("", json_schema_extra=infotext("Hires prompt"))  # "": the first pass's
    hr_negative_prompt: str = Field("", json_schema_extra=infotext("Hires negative prompt"))
    # Another checkpoint for the hires pass (A1111's "Hires checkpoint"); None: the first pass's.
    hr_checkpoint_name: str | None = Field(None, max_length=MAX_NAME_LENGTH,
                                           json_schema_extra=infotext("Hires checkpoint"))  # fmt: skip

    @field_validator("hr_checkpoint_name")
    @classmethod
    def _same_checkpoint(cls, value: str | None) -> str | None:
        return None if not value or value.strip() == SAME_CHECKPOINT else value

    @field_validator("hr_upscaler")
    @classmethod
    def _default_upscaler(cls, value: str | None) -> str:
        return value or "Latent"


class RefinerKnobs(BaseModel):
    """Switch to a second checkpoint for the last part of the steps (A1111's field names)."""

    model_config = FINITE

    refiner_checkpoint: str | None = Field(None, json_schema_extra=infotext("Refiner"))
    refiner_switch_at: float = Field(0.8, ge=0.01, le=1.0, json_schema_extra=infotext("Refiner switch at"))


class ScriptsSection(BaseModel):
    """The Script-menu choice and its arguments (named dict, or a positional list from A1111
    clients), and always-on scripts' arguments keyed by title. A view of the request's fields."""

    model_config = ConfigDict(frozen=True)

    script_name: str | None = None
    script_args: Any = None
    alwayson_scripts: dict[str, Any] = Field(default_factory=dict)


# A1111's labels, in value order: the UI radios and the infotext use them; the fields take either.
RESIZE_MODES = ("Just resize", "Crop and resize", "Resize and fill", "Just resize (latent upscale)")
MASKED_CONTENT = ("fill", "original", "latent noise", "latent nothing")
INPAINT_AREAS = ("Whole picture", "Only masked")
MASK_MODES = ("Inpaint masked", "Inpaint not masked")


def _index_of(labels: tuple[str, ...], value: Any) -> Any:
    """A label (any case) -> its index; anything else is left for the field's own validation."""
    if isinstance(value, str):
        for index, label in enumerate(labels):
            if value.strip().lower() == label.lower():
                return index
    return value


class Img2ImgKnobs(BaseModel):
    """img2img's and inpainting's knobs (A1111's flat field names), shared by request and API body.
    They are read only when the request has init images (and a mask, for the mask ones)."""

    model_config = FINITE

    resize_mode: int = Field(0, ge=0, le=3, json_schema_extra=infotext("Resize mode"))
    mask_blur: int = Field(4, ge=0, le=64, json_schema_extra=infotext("Mask blur"))
    # None: mask_blur. A1111 clients may blur the two directions differently.
    mask_blur_x: int | None = Field(None, ge=0, le=64, json_schema_extra=infotext("Mask blur x"))
    mask_blur_y: int | None = Field(None, ge=0, le=64, json_schema_extra=infotext("Mask blur y"))
    inpainting_fill: int = Field(1, ge=0, le=3, json_schema_extra=infotext("Masked content"))
    inpaint_full_res: bool = Field(False, json_schema_extra=infotext("Inpaint area"))  # True: only masked
    inpaint_full_res_padding: int = Field(32, ge=0, le=256, json_schema_extra=infotext("Masked area padding"))
    inpainting_mask_invert: bool = Field(False, json_schema_extra=infotext("Mask mode"))  # True: not masked
    # None: the initial_noise_multiplier setting
    initial_noise_multiplier: float | None = Field(None, ge=0.0, le=1.5, json_schema_extra=infotext("Noise multiplier"))
    # instruct-pix2pix only (written to the infotext only when such a model ran): how strongly the
    # result follows the init picture. None (A1111's API default): no image guidance, as 1.
    image_cfg_scale: float | None = Field(1.5, ge=0.0, le=30.0, json_schema_extra=infotext("Image CFG scale"))

    @field_validator("resize_mode", mode="before")
    @classmethod
    def _resize_label(cls, value: Any) -> Any:
        return _index_of(RESIZE_MODES, value)

    @field_validator("inpainting_fill", mode="before")
    @classmethod
    def _fill_label(cls, value: Any) -> Any:
        return _index_of(MASKED_CONTENT, value)

    @field_validator("inpaint_full_res", mode="before")
    @classmethod
    def _area_label(cls, value: Any) -> Any:
        return bool(_index_of(INPAINT_AREAS, value)) if isinstance(value, str) and value in INPAINT_AREAS else value

    @field_validator("inpainting_mask_invert", mode="before")
    @classmethod
    def _mode_label(cls, value: Any) -> Any:
        return bool(_index_of(MASK_MODES, value)) if isinstance(value, str) and value in MASK_MODES else value

    @property
    def blur_xy(self) -> tuple[int, int]:
        """(x, y) mask blur: the per-direction values where given, else mask_blur."""
        x = self.mask_blur if self.mask_blur_x is None else self.mask_blur_x
        y = self.mask_blur if self.mask_blur_y is None else self.mask_blur_y
        return x, y


class InitSection(BaseModel):
    """A view of img2img's start: the init images (PIL), how they are fitted to the size (0 just
    resize, 1 crop and resize, 2 resize and fill, 3 latent upscale) and how far they are denoised."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    images: list[Any]
    resize_mode: int
    denoising_strength: float


class MaskSection(BaseModel):
    """A view of inpainting's mask (PIL, white = inpaint) and its options (A1111's names)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    image: Any
    mask_blur_x: int
    mask_blur_y: int
    inpainting_fill: int
    inpaint_full_res: bool
    inpaint_full_res_padding: int
    inpainting_mask_invert: bool


class GenerationRequest(GenerationKnobs, SeedKnobs, HiresKnobs, RefinerKnobs, Img2ImgKnobs):
    """One picture request, frozen: change it with `with_overrides(**fields)` (a new, validated
    request). Names (sampler, schedule, upscaler, checkpoints, styles, scripts) are checked by
    prepare(), which reports every problem of a request together."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    steps: Steps = Field(20, json_schema_extra=infotext("Steps"))
    sampler_name: str = Field(catalog.DEFAULT_SAMPLER, json_schema_extra=infotext("Sampler"))
    scheduler: str = Field("Automatic", json_schema_extra=infotext("Schedule type"))
    # None: the loaded (or default) checkpoint
    checkpoint: str | None = Field(None, json_schema_extra=infotext("Model"))
    save_images: bool = True
    styles: list[str] = Field(default_factory=list)  # names from styles.csv, applied in order
    # None: the CLIP_stop_at_last_layers setting
    clip_skip: int | None = Field(None, ge=1, le=12, json_schema_extra=infotext("Clip skip"))
    # Settings for this request only ({key: value}, checked against the declared options when the
    # job is submitted); with restore_afterwards False they are also saved once the job has run.
    override_settings: dict[str, Any] = Field(default_factory=dict)
    override_settings_restore_afterwards: bool = True

    # Scripts (extensions): see ScriptsSection (read them together as `request.scripts`).
    script_name: str | None = None
    script_args: Any = None
    alwayson_scripts: dict[str, Any] = Field(default_factory=dict)

    # img2img: the init images (PIL; decoded within the pixel cap by whoever built the request)
    # and the inpainting mask (PIL, white = inpaint; alpha masks are converted by the caller).
    # Read them together with their knobs as `request.init` and `request.inpainting`.
    init_images: list[Any] = Field(default_factory=list, max_length=MAX_INIT_IMAGES)
    mask: Any = None

    @model_validator(mode="after")
    def _output_within_limits(self) -> "GenerationRequest":
        check_init_images(self)
        check_output_size(self)
        return self

    @property
    def init(self) -> InitSection | None:
        """The init section, None on a txt2img request."""
        if not self.init_images:
            return None
        return InitSection.model_construct(images=list(self.init_images), resize_mode=self.resize_mode,
                                           denoising_strength=self.denoising_strength)  # fmt: skip

    @property
    def inpainting(self) -> MaskSection | None:
        """The mask section, None without a mask."""
        if self.mask is None:
            return None
        blur_x, blur_y = self.blur_xy
        return MaskSection.model_construct(
            image=self.mask, mask_blur_x=blur_x, mask_blur_y=blur_y, inpainting_fill=self.inpainting_fill,
            inpaint_full_res=self.inpaint_full_res, inpaint_full_res_padding=self.inpaint_full_res_padding,
            inpainting_mask_invert=self.inpainting_mask_invert,
        )  # fmt: skip

    @property
    def hires(self) -> HiresKnobs | None:
        """The hires section, None when the hires fix is off."""
        return HiresKnobs.model_construct(**self._fields_of(HiresKnobs)) if self.enable_hr else None

    @property
    def refiner(self) -> RefinerKnobs | None:
        """The refiner section, None when there is no refiner."""
        return RefinerKnobs.model_construct(**self._fields_of(RefinerKnobs)) if self.refiner_checkpoint else None

    @property
    def scripts(self) -> ScriptsSection:
        return ScriptsSection.model_construct(**self._fields_of(ScriptsSection))

    def _fields_of(self, section: type[BaseModel]) -> dict:
        return {name: getattr(self, name) for name in section.model_fields}

    def with_overrides(self, **overrides) -> "GenerationRequest":
        """A new request: this one with `overrides` (field names), validated as a new request is."""
        unknown = sorted(set(overrides) - set(type(self).model_fields))
        if unknown:
            raise ValueError(f"unknown request field(s): {', '.join(unknown)}")
        if not overrides:
            return self
        return type(self).model_validate({**self._fields_of(type(self)), **overrides})

    def size_adjustments(self) -> tuple["GenerationRequest", list[str]]:
        """Round width/height to multiples of 8 (the VAE's stride), saying what changed."""
        messages, sizes = [], {}
        for name in ("width", "height"):
            value = getattr(self, name)
            rounded = max(MIN_SIZE, round(value / SIZE_MULTIPLE) * SIZE_MULTIPLE)
            sizes[name] = rounded
            if rounded != value:
                messages.append(f"{name} {value} is not a multiple of {SIZE_MULTIPLE}: used {rounded}")
        return self.model_copy(update=sizes), messages


class Txt2ImgRequest(GenerationRequest):
    """A GenerationRequest without init images (same fields and limits)."""

    @model_validator(mode="after")
    def _no_init_images(self) -> "Txt2ImgRequest":
        if self.init_images or self.mask is not None:
            raise ValueError("init_images: a txt2img request has no init images or mask (use img2img)")
        return self


class Img2ImgRequest(GenerationRequest):
    """A GenerationRequest with init images (same fields and limits); a mask makes it inpainting."""

    @model_validator(mode="after")
    def _has_init_images(self) -> "Img2ImgRequest":
        if not self.init_images:
            raise ValueError("init_images: img2img needs at least one init image")
        return self


def output_size(request: "GenerationRequest") -> tuple[int, int]:
    """The size of the pictures a request makes: the hires target when the hires fix is on
    (computed by the rule the hires pass uses), otherwise width x height rounded as generated."""
    width, height = (max(MIN_SIZE, round(v / SIZE_MULTIPLE) * SIZE_MULTIPLE) for v in (request.width, request.height))
    if not request.enable_hr:
        return width, height
    target = target_size(width, height, request.hr_scale, request.hr_resize_x, request.hr_resize_y)
    return target.width, target.height


def check_init_images(request: "GenerationRequest") -> None:
    """Init images and mask are pictures; a mask needs init images and has their size (A1111 fits
    both to the output the same way, so a mask of another size would mark the wrong pixels)."""
    from PIL import Image

    for index, image in enumerate(request.init_images):
        if not isinstance(image, Image.Image):
            raise ValueError(f"init_images[{index}]: expected a picture, got {type(image).__name__}")
    if request.mask is None:
        return
    if not isinstance(request.mask, Image.Image):
        raise ValueError(f"mask: expected a picture, got {type(request.mask).__name__}")
    if not request.init_images:
        raise ValueError("mask: an inpainting mask needs init images (init_images)")
    for index, image in enumerate(request.init_images):
        if image.size != request.mask.size:
            raise ValueError(
                f"mask: the mask is {request.mask.width}x{request.mask.height} but init_images[{index}] is "
                f"{image.width}x{image.height}; they must be the same size"
            )


def check_output_size(request: "GenerationRequest") -> None:
    """Refuse, before anything is queued, a request whose pictures would exceed the size limits:
    each side at most MAX_SIZE, a batch at most MAX_BATCH_PIXELS. ValueError names the fields."""
    width, height = output_size(request)
    if request.enable_hr and max(width, height) > MAX_SIZE:
        fields = "hr_resize_x/hr_resize_y" if request.hr_resize_x or request.hr_resize_y else "hr_scale"
        raise ValueError(
            f"the hires fix would make {width}x{height} pictures ({fields} with width {request.width}, "
            f"height {request.height}); each side must be at most {MAX_SIZE}"
        )
    if request.batch_size * width * height > MAX_BATCH_PIXELS:
        raise ValueError(
            f"batch_size {request.batch_size} x {width}x{height} is {request.batch_size * width * height} pixels "
            f"per batch, more than the limit of {MAX_BATCH_PIXELS}: lower batch_size or the size"
        )


def explain_error(error: Exception) -> str:
    """A one-line reason for a rejected request, naming the offending field."""
    if hasattr(error, "errors"):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'request'}: {e['msg']}" for e in error.errors())
    return str(error)
