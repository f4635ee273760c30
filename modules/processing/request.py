"""The one typed request that the UI and the API both build."""

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modules.sampling import catalog

MAX_STEPS = 150
MIN_SIZE, MAX_SIZE = 64, 2048
SIZE_MULTIPLE = 8


class Txt2ImgRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = ""
    negative_prompt: str = ""
    steps: int = Field(20, ge=1, le=MAX_STEPS)
    sampler_name: str = catalog.DEFAULT_SAMPLER
    scheduler: str = "Automatic"
    cfg_scale: float = Field(7.0, ge=1.0, le=30.0)
    width: int = Field(512, ge=MIN_SIZE, le=MAX_SIZE)
    height: int = Field(512, ge=MIN_SIZE, le=MAX_SIZE)
    seed: int = Field(-1, ge=-1, le=2**32 - 1)
    batch_size: int = Field(1, ge=1, le=8)
    n_iter: int = Field(1, ge=1, le=100)
    checkpoint: str | None = None  # None: the loaded (or default) checkpoint
    save_images: bool = True

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
