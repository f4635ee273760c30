"""Request and response bodies in A1111's shape. Unknown fields are ignored, as A1111 does.

Request bodies follow what A1111's clients rely on: every field may be left out or sent as an
explicit null (meaning its default), numbers and strings are coerced as A1111's pydantic did
("20" -> 20, 20.0 -> 20, 5 -> "5"), and NaN or Infinity is refused, naming the field.
"""

import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modules.images.postprocessing import UpscaleKnobs
from modules.processing.request import (
    MASK_MODES,
    MAX_INIT_IMAGES,
    GenerationKnobs,
    HiresKnobs,
    Img2ImgKnobs,
    Img2ImgRequest,
    RefinerKnobs,
    SeedKnobs,
    Steps,
    Txt2ImgRequest,
)

BODY_CONFIG = ConfigDict(allow_inf_nan=False, coerce_numbers_to_str=True)


def accepts_none(annotation: Any) -> bool:
    if annotation is Any or annotation is None or annotation is type(None):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(accepts_none(arg) for arg in typing.get_args(annotation))
    return False


class RequestBody(BaseModel):
    """Base of every request body: an explicit null for a field that has no null value means
    "use the default" (webuiapi and other clients send nulls for what they leave unset)."""

    model_config = BODY_CONFIG

    @model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        return {
            key: value
            for key, value in data.items()
            if value is not None or (key in fields and accepts_none(fields[key].annotation))
        }


SHARED_FIELDS = {
    name for knobs in (GenerationKnobs, SeedKnobs, HiresKnobs, RefinerKnobs) for name in knobs.model_fields
}


class GenerationBody(RequestBody):
    """The fields A1111's txt2img and img2img bodies share besides the knobs: sampler names, what to
    send back and save, settings overrides, styles, scripts, the client's task id."""

    model_config = ConfigDict(extra="ignore", **BODY_CONFIG)

    steps: Steps = 50  # A1111's API default
    sampler_name: str | None = None
    sampler_index: str = "Euler"  # older clients name the sampler here
    scheduler: str | None = None
    send_images: bool = True
    save_images: bool = False  # A1111's API default: clients opt in to files on disk
    override_settings: dict[str, Any] = Field(default_factory=dict)
    override_settings_restore_afterwards: bool = True  # A1111: False keeps the overrides as the settings
    styles: list[str] = Field(default_factory=list)
    script_name: str | None = None
    script_args: Any = Field(default_factory=list)
    alwayson_scripts: dict[str, Any] = Field(default_factory=dict)
    force_task_id: str | None = None  # the client's own job id (A1111); None: one is made up

    def common_request_fields(self) -> dict[str, Any]:
        """The request fields these body fields become (the same for txt2img and img2img)."""
        return {
            "steps": self.steps,
            "sampler_name": self.sampler_name or self.sampler_index,
            "scheduler": self.scheduler or "Automatic",
            # The checkpoint is the request's own; every other override is checked against the
            # declared settings when the job is submitted (unknown key or bad value: 422).
            "checkpoint": self.override_settings.get("sd_model_checkpoint") or None,
            "override_settings": {k: v for k, v in self.override_settings.items() if k != "sd_model_checkpoint"},
            "override_settings_restore_afterwards": self.override_settings_restore_afterwards,
            "styles": self.styles,
            "save_images": self.save_images,
            "script_name": self.script_name or None,
            "script_args": self.script_args,
            "alwayson_scripts": self.alwayson_scripts,
        }


class Txt2ImgBody(GenerationBody, GenerationKnobs, SeedKnobs, HiresKnobs, RefinerKnobs):
    model_config = ConfigDict(extra="ignore", **BODY_CONFIG)

    def to_request(self) -> Txt2ImgRequest:
        return Txt2ImgRequest(**self.model_dump(include=SHARED_FIELDS), **self.common_request_fields())


# The img2img body's knobs copied onto the request as they are; the mask blur is resolved apart.
IMG2IMG_SHARED_FIELDS = {
    name for knobs in (GenerationKnobs, SeedKnobs, RefinerKnobs, Img2ImgKnobs) for name in knobs.model_fields
} - {"mask_blur", "mask_blur_x", "mask_blur_y", "inpainting_mask_invert"}


class Img2ImgBody(GenerationBody, GenerationKnobs, SeedKnobs, RefinerKnobs, Img2ImgKnobs):
    """A1111 v1.10's StableDiffusionImg2ImgProcessingAPI: the images as base64 strings (raw or
    data: URLs; decoded by the route within the pixel cap) and A1111's API defaults, which differ
    from the UI's (fill, "Only masked" with no padding). Like A1111's, it has no hires fields: they
    are ignored as any unknown field is."""

    model_config = ConfigDict(extra="ignore", **BODY_CONFIG)

    init_images: list[str] = Field(min_length=1, max_length=MAX_INIT_IMAGES)
    mask: str | None = None
    denoising_strength: float = Field(0.75, ge=0.0, le=1.0)
    # A1111: mask_blur, when given, sets both directions; None leaves mask_blur_x/mask_blur_y.
    mask_blur: int | None = Field(None, ge=0, le=64)
    mask_blur_x: int = Field(4, ge=0, le=64)
    mask_blur_y: int = Field(4, ge=0, le=64)
    inpainting_fill: int = Field(0, ge=0, le=3)  # A1111's API default: fill
    inpaint_full_res: bool = True  # A1111's API default: "Only masked"
    inpaint_full_res_padding: int = Field(0, ge=0, le=256)
    inpainting_mask_invert: int = Field(0, ge=0, le=1)  # A1111 sends 0/1; true/false are taken too
    image_cfg_scale: float | None = None  # instruct-pix2pix only: accepted, not used yet
    latent_mask: str | None = None  # refused when given: see _no_latent_mask
    include_init_images: bool = False  # False: parameters echo init_images and mask as null

    @field_validator("inpainting_mask_invert", mode="before")
    @classmethod
    def _mode_label(cls, value: Any) -> Any:  # replaces Img2ImgKnobs' (a bool there, 0/1 here)
        labels = [label.lower() for label in MASK_MODES]
        if isinstance(value, str) and value.strip().lower() in labels:
            return labels.index(value.strip().lower())
        return int(value) if isinstance(value, bool) else value

    @field_validator("latent_mask")
    @classmethod
    def _no_latent_mask(cls, value: str | None) -> str | None:
        if value:
            raise ValueError("latent_mask is not supported (send the mask in `mask`)")
        return value

    def to_request(self, init_images: list, mask) -> Img2ImgRequest:
        """The engine's request, with the decoded init images and mask (PIL) in place of the strings."""
        blur_x, blur_y = (self.mask_blur, self.mask_blur) if self.mask_blur is not None else (
            self.mask_blur_x, self.mask_blur_y)  # fmt: skip
        return Img2ImgRequest(
            **self.model_dump(include=IMG2IMG_SHARED_FIELDS),
            **self.common_request_fields(),
            init_images=init_images,
            mask=mask,
            denoising_strength=self.denoising_strength,
            mask_blur=blur_x,
            mask_blur_x=blur_x,
            mask_blur_y=blur_y,
            inpainting_mask_invert=bool(self.inpainting_mask_invert),
        )

    def echoed_parameters(self) -> dict[str, Any]:
        """The body as A1111 echoes it: without the images unless include_init_images asks for them."""
        parameters = self.model_dump()
        if not self.include_init_images:
            parameters.update(init_images=None, mask=None)
        return parameters


class ImagesResponse(BaseModel):
    images: list[str]
    parameters: dict[str, Any]
    info: str


class SamplerItem(BaseModel):
    name: str
    aliases: list[str]
    options: dict[str, Any]


class SchedulerItem(BaseModel):
    name: str
    label: str


class SDModelItem(BaseModel):
    title: str
    model_name: str
    hash: str | None
    sha256: str | None
    filename: str
    config: str | None = None
    family: str | None = None  # ours: "SD 1.x", "SDXL", ... (None until a pickled file is loaded)


class ProgressResponse(BaseModel):
    progress: float
    eta_relative: float
    state: dict[str, Any]
    current_image: str | None = None
    textinfo: str | None = None


class OptionsBody(RequestBody):
    """Settings to change; a null value leaves that setting as it is."""

    model_config = ConfigDict(extra="allow", **BODY_CONFIG)

    sd_model_checkpoint: str | None = None


class ExtensionItem(BaseModel):
    name: str
    remote: str | None
    branch: str | None
    commit_hash: str | None
    commit_date: int | None
    version: str
    enabled: bool


class ScriptsList(BaseModel):
    txt2img: list[str]
    img2img: list[str]


class ScriptArg(BaseModel):
    label: str
    value: Any = None
    minimum: Any = None
    maximum: Any = None
    step: Any = None
    choices: list[str] | None = None


class ScriptInfo(BaseModel):
    name: str
    is_alwayson: bool
    is_img2img: bool
    args: list[ScriptArg]


class ExtrasBody(RequestBody, UpscaleKnobs):
    """A1111's extras fields shared by single-image and batch, plus `steps`: {step name: {args}} for
    the Extras steps (built-in and from extensions). Face restoration fields are accepted and ignored
    (none here)."""

    model_config = ConfigDict(extra="ignore", **BODY_CONFIG)

    show_extras_results: bool = True
    gfpgan_visibility: float = Field(0.0, ge=0, le=1)
    codeformer_visibility: float = Field(0.0, ge=0, le=1)
    codeformer_weight: float = Field(0.0, ge=0, le=1)
    upscale_first: bool = False
    steps: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def upscale_options(self) -> dict[str, Any]:
        """The fields modules.images.postprocessing.UpscaleOptions takes."""
        return self.model_dump(include=set(UpscaleKnobs.model_fields))


class ExtrasSingleImageBody(ExtrasBody):
    image: str


class ExtrasSingleImageResponse(BaseModel):
    image: str
    html_info: str


class ExtrasBatchImage(BaseModel):
    data: str
    name: str = ""


class ExtrasBatchImagesBody(ExtrasBody):
    imageList: list[ExtrasBatchImage] = Field(min_length=1, max_length=100)  # noqa: N815 - A1111's name


class ExtrasBatchImagesResponse(BaseModel):
    images: list[str]
    html_info: str


class PngInfoBody(RequestBody):
    model_config = ConfigDict(extra="ignore", **BODY_CONFIG)

    image: str


class PngInfoResponse(BaseModel):
    info: str
    items: dict[str, Any]
    parameters: dict[str, Any]


class PromptStyleItem(BaseModel):
    name: str
    prompt: str
    negative_prompt: str


class EmbeddingItem(BaseModel):
    step: int | None
    sd_checkpoint: str | None
    sd_checkpoint_name: str | None
    shape: int
    vectors: int


class EmbeddingsResponse(BaseModel):
    loaded: dict[str, EmbeddingItem]
    skipped: dict[str, str]
