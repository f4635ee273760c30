"""What a finished generation hands back to the UI or the API."""

import sys
import time
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
    # A1111's line under the infotext: how long the job took and its peak memory (JobMeter).
    time_taken: float | None = None
    peak_memory: str = ""

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


GIB = 1024**3


class JobMeter:
    """Measures one generation for the "Time taken" line: wall time, and peak memory, honestly
    labelled: on CUDA torch's peak allocated (A) and reserved (R) memory of this job; elsewhere the
    process's peak resident memory (RSS), which is the process's lifetime peak, not the job's."""

    def __init__(self, device=None):
        self.cuda = getattr(device, "type", None) == "cuda"
        self.device = device
        if self.cuda:
            import torch

            torch.cuda.reset_peak_memory_stats(device)
        self.started = time.perf_counter()

    def finish(self, result: GenerationResult) -> None:
        result.time_taken = time.perf_counter() - self.started
        result.peak_memory = self.memory_text()

    def memory_text(self) -> str:
        if self.cuda:
            import torch

            allocated = torch.cuda.max_memory_allocated(self.device) / GIB
            reserved = torch.cuda.max_memory_reserved(self.device) / GIB
            free, total = torch.cuda.mem_get_info(self.device)
            return f"A: {allocated:.2f} GB, R: {reserved:.2f} GB, Sys: {(total - free) / GIB:.1f}/{total / GIB:.1f} GB"
        peak = peak_rss_bytes()
        return "" if peak is None else f"Process peak RSS: {peak / GIB:.2f} GB"


def peak_rss_bytes() -> int | None:
    """The process's peak resident set size in bytes (None where the OS does not say)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS counts bytes, Linux KiB


def time_taken_text(result: GenerationResult) -> str:
    """A1111's "Time taken: 2.1 sec." with the memory line after it; "" when not measured."""
    if result.time_taken is None:
        return ""
    text = f"Time taken: {format_seconds(result.time_taken)}"
    return f"{text}  {result.peak_memory}" if result.peak_memory else text


def format_seconds(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)} min. {rest:.1f} sec." if minutes else f"{rest:.1f} sec."


# A live preview is made at its method's size (1/8 of the picture for the cheap ones); it carries the
# picture's size in its `info` so a display can draw it where and as large as the result will be.
OUTPUT_SIZE_KEY = "sd_output_size"


def tag_output_size(preview: Image.Image | None, size: tuple[int, int]) -> Image.Image | None:
    if preview is not None:
        preview.info[OUTPUT_SIZE_KEY] = (int(size[0]), int(size[1]))
    return preview


def preview_at_output_size(preview: Image.Image | None) -> Image.Image | None:
    """The preview scaled up smoothly (bicubic) to the size of the picture it previews (as tagged;
    untagged previews stay as they are)."""
    size = preview.info.get(OUTPUT_SIZE_KEY) if preview is not None else None
    if size is None or preview.size == size:
        return preview
    return preview.resize(size, Image.Resampling.BICUBIC)
