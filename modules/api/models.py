"""Request and response bodies in A1111's shape. Unknown fields are ignored, as A1111 does."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modules.processing.request import MAX_SIZE, MAX_STEPS, MIN_SIZE, Txt2ImgRequest


class Txt2ImgBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    prompt: str = ""
    negative_prompt: str = ""
    steps: int = Field(50, ge=1, le=MAX_STEPS)
    sampler_name: str | None = None
    sampler_index: str = "Euler"  # older clients name the sampler here
    scheduler: str | None = None
    cfg_scale: float = Field(7.0, ge=1.0, le=30.0)
    width: int = Field(512, ge=MIN_SIZE, le=MAX_SIZE)
    height: int = Field(512, ge=MIN_SIZE, le=MAX_SIZE)
    seed: int = Field(-1, ge=-1, le=2**32 - 1)
    batch_size: int = Field(1, ge=1, le=8)
    n_iter: int = Field(1, ge=1, le=100)
    send_images: bool = True
    save_images: bool = False  # A1111's API default: clients opt in to files on disk
    override_settings: dict[str, Any] = Field(default_factory=dict)

    def to_request(self) -> Txt2ImgRequest:
        return Txt2ImgRequest(
            prompt=self.prompt,
            negative_prompt=self.negative_prompt,
            steps=self.steps,
            sampler_name=self.sampler_name or self.sampler_index,
            scheduler=self.scheduler or "Automatic",
            cfg_scale=self.cfg_scale,
            width=self.width,
            height=self.height,
            seed=self.seed,
            batch_size=self.batch_size,
            n_iter=self.n_iter,
            checkpoint=self.override_settings.get("sd_model_checkpoint") or None,
            save_images=self.save_images,
        )


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


class ProgressResponse(BaseModel):
    progress: float
    eta_relative: float
    state: dict[str, Any]
    current_image: str | None = None
    textinfo: str | None = None


class OptionsBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    sd_model_checkpoint: str | None = None
