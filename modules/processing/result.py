"""What a finished generation hands back to the UI or the API."""

from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image


@dataclass
class GeneratedImage:
    """One picture with what made it: its own prompts and seeds, as the batch really used them
    (an extension may change one image's prompt), and the infotext that records them."""

    image: Image.Image
    seed: int
    infotext: str
    path: Path | None = None
    subseed: int | None = None
    prompt: str = ""  # after styles and hooks; extra-network tags kept, as the infotext shows them
    negative_prompt: str = ""


@dataclass
class GenerationResult:
    """`prompt`/`negative_prompt`/`seed` are the job's; each image records its own."""

    images: list[GeneratedImage]
    prompt: str
    negative_prompt: str
    seed: int
    width: int
    height: int
    sampler_name: str
    scheduler: str
    steps: int
    cfg_scale: float
    batch_size: int
    model_name: str
    model_hash: str
    subseed_strength: float = 0.0
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list)
    # Why saving stopped (e.g. "could not save to /path: No space left on device"); the images are
    # still in `images`, those not saved with path None. The API answers 507 with it.
    save_error: str | None = None

    @property
    def prompts(self) -> list[str]:
        return [item.prompt for item in self.images]

    @property
    def negative_prompts(self) -> list[str]:
        return [item.negative_prompt for item in self.images]

    @property
    def seeds(self) -> list[int]:
        return [item.seed for item in self.images]

    @property
    def subseeds(self) -> list[int | None]:
        return [item.subseed for item in self.images]

    @property
    def infotexts(self) -> list[str]:
        return [item.infotext for item in self.images]
