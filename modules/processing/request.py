"""The one typed request that the UI and the API both build."""

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
# NaN or Infinity in a knob is never meant: refuse it, naming the field, instead of generating noise.
FINITE = ConfigDict(allow_inf_nan=False)

# The limits of each knob, shared by every request type (UI, API) so they cannot drift apart.
Steps = Annotated[int, Field(ge=1, le=MAX_STEPS)]
CfgScale = Annotated[float, Field(ge=1.0, le=30.0)]
Size = Annotated[int, Field(ge=MIN_SIZE, le=MAX_SIZE)]
Seed = Annotated[int, Field(ge=-1, le=2**32 - 1)]
BatchSize = Annotated[int, Field(ge=1, le=8)]
BatchCount = Annotated[int, Field(ge=1, le=100)]


class GenerationKnobs(BaseModel):
    """The knobs every way of asking for a picture shares, with one set of limits."""

    model_config = FINITE

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

    model_config = FINITE

    subseed: Seed = -1
    subseed_strength: float = Field(0.0, ge=0.0, le=1.0)
    seed_resize_from_h: int = Field(0, ge=-1, le=MAX_SIZE)  # <= 0: off
    seed_resize_from_w: int = Field(0, ge=-1, le=MAX_SIZE)
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

    model_config = FINITE

    enable_hr: bool = False
    hr_scale: float = Field(2.0, ge=1.0, le=8.0)
    hr_upscaler: str | None = "Latent"  # None (A1111 clients): Latent
    hr_second_pass_steps: int = Field(0, ge=0, le=MAX_STEPS)  # 0: the same as steps
    hr_resize_x: int = Field(0, ge=0, le=MAX_SIZE)  # the final size is checked too: see check_output_size
    hr_resize_y: int = Field(0, ge=0, le=MAX_SIZE)
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

    model_config = FINITE

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
    # Settings for this request only ({key: value}, checked against the declared options when the
    # job is submitted); with restore_afterwards False they are also saved once the job has run.
    override_settings: dict[str, Any] = Field(default_factory=dict)
    override_settings_restore_afterwards: bool = True

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

    @model_validator(mode="after")
    def _output_within_limits(self) -> "Txt2ImgRequest":
        check_output_size(self)
        return self

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


def output_size(request: "Txt2ImgRequest") -> tuple[int, int]:
    """The size of the pictures a request makes: the hires target when the hires fix is on
    (computed by the rule the hires pass uses), otherwise width x height rounded as generated."""
    width, height = (max(MIN_SIZE, round(v / SIZE_MULTIPLE) * SIZE_MULTIPLE) for v in (request.width, request.height))
    if not request.enable_hr:
        return width, height
    target = target_size(width, height, request.hr_scale, request.hr_resize_x, request.hr_resize_y)
    return target.width, target.height


def check_output_size(request: "Txt2ImgRequest") -> None:
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
