"""The one typed request that the UI and the API both build."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modules.sampling import catalog

MAX_STEPS = 150
MIN_SIZE, MAX_SIZE = 64, 2048
SIZE_MULTIPLE = 8

# The limits of each knob, shared by every request type (UI, API) so they cannot drift apart.
Steps = Annotated[int, Field(ge=1, le=MAX_STEPS)]
CfgScale = Annotated[float, Field(ge=1.0, le=30.0)]
Size = Annotated[int, Field(ge=MIN_SIZE, le=MAX_SIZE)]
Seed = Annotated[int, Field(ge=-1, le=2**32 - 1)]
BatchSize = Annotated[int, Field(ge=1, le=8)]
BatchCount = Annotated[int, Field(ge=1, le=100)]


class GenerationKnobs(BaseModel):
    """The knobs every way of asking for a picture shares, with one set of limits."""

    prompt: str = ""
    negative_prompt: str = ""
    cfg_scale: CfgScale = 7.0
    width: Size = 512
    height: Size = 512
    seed: Seed = -1
    batch_size: BatchSize = 1
    n_iter: BatchCount = 1


class SeedKnobs(BaseModel):
    """Variation seeds and sampler parameters (A1111's field names), shared by request and API."""

    subseed: Seed = -1
    subseed_strength: float = Field(0.0, ge=0.0, le=1.0)
    seed_resize_from_h: int = Field(0, ge=-1, le=MAX_SIZE * 4)  # <= 0: off
    seed_resize_from_w: int = Field(0, ge=-1, le=MAX_SIZE * 4)
    eta: float | None = Field(None, ge=0.0, le=1.0)  # None: the sampler's own
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

    enable_hr: bool = False
    hr_scale: float = Field(2.0, ge=1.0, le=8.0)
    hr_upscaler: str | None = "Latent"  # None (A1111 clients): Latent
    hr_second_pass_steps: int = Field(0, ge=0, le=MAX_STEPS)  # 0: the same as steps
    hr_resize_x: int = Field(0, ge=0, le=MAX_SIZE * 4)
    hr_resize_y: int = Field(0, ge=0, le=MAX_SIZE * 4)
    denoising_strength: float = Field(0.7, ge=0.0, le=1.0)
    hr_sampler_name: str | None = None  # None: the first pass's
    hr_scheduler: str | None = None
    hr_prompt: str = ""  # "": the first pass's
    hr_negative_prompt: str = ""

    @field_validator("hr_upscaler")
    @classmethod
    def _known_upscaler(cls, value: str | None) -> str:
        from modules.processing.upscalers import check_upscaler

        return check_upscaler(value or "Latent")


class RefinerKnobs(BaseModel):
    """Switch to a second checkpoint for the last part of the steps (A1111's field names)."""

    refiner_checkpoint: str | None = None
    refiner_switch_at: float = Field(0.8, ge=0.01, le=1.0)


class Txt2ImgRequest(GenerationKnobs, SeedKnobs, HiresKnobs, RefinerKnobs):
    model_config = ConfigDict(extra="forbid")

    steps: Steps = 20
    sampler_name: str = catalog.DEFAULT_SAMPLER
    scheduler: str = "Automatic"
    checkpoint: str | None = None  # None: the loaded (or default) checkpoint
    save_images: bool = True
    styles: list[str] = Field(default_factory=list)  # names from styles.csv, applied in order
    clip_skip: int | None = Field(None, ge=1, le=12)  # None: the CLIP_stop_at_last_layers setting

    # Scripts (extensions): the Script-menu choice and its arguments (named dict, or a positional
    # list from A1111 clients), and always-on scripts' arguments keyed by title.
    script_name: str | None = None
    script_args: Any = None
    alwayson_scripts: dict[str, Any] = Field(default_factory=dict)

    @field_validator("sampler_name")
    @classmethod
    def _known_sampler(cls, value: str) -> str:
        catalog.resolve(value, "Automatic")  # raises with the list of names
        return value

    def size_adjustments(self) -> tuple["Txt2ImgRequest", list[str]]:
        """Round width/height to multiples of 8 (the VAE's stride), saying what changed."""
        messages, sizes = [], {}
        for name in ("width", "height"):
            value = getattr(self, name)
            rounded = max(MIN_SIZE, round(value / SIZE_MULTIPLE) * SIZE_MULTIPLE)
            sizes[name] = rounded
            if rounded != value:
                messages.append(f"{name} {value} is not a multiple of {SIZE_MULTIPLE}: used {rounded}")
        return self.model_copy(update=sizes), messages


def explain_error(error: Exception) -> str:
    """A one-line reason for a rejected request, naming the offending field."""
    if hasattr(error, "errors"):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'request'}: {e['msg']}" for e in error.errors())
    return str(error)
