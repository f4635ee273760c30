"""What the img2img Script-menu scripts (SD upscale, the two outpaintings) share: the input
picture, outpainting directions and canvas sizes, the script's keys added to an infotext, the
result handed back, and saving the finished pictures (the pieces are generated unsaved, as A1111's
do_not_save_samples). Progress and interruption: scripts/_results.py."""

import dataclasses
import math
from dataclasses import dataclass

from PIL import Image

from modules.images.infotext import format_value
from modules.processing.img2img_init import background_color, flatten
from modules.processing.request import MAX_BATCH_PIXELS, MAX_SIZE
from modules.processing.result import GeneratedImage, GenerationResult

DIRECTIONS = ("left", "right", "up", "down")


def input_picture(p) -> Image.Image:
    """The first init image as RGB (transparency over the img2img background colour, as A1111)."""
    if not p.request.init_images:
        raise ValueError("this script needs an init image (img2img)")
    return flatten(p.request.init_images[0], background_color(str(p.settings.get("img2img_background_color"))))


def parse_directions(value) -> list[str]:
    """A1111's "Outpainting direction" checkboxes: some of left/right/up/down (a list, or one
    comma-separated string), in that order; none, or an unknown one, is refused."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    chosen = set()
    for item in items:
        name = str(item).strip().lower()
        if not name:
            continue
        if name not in DIRECTIONS:
            raise ValueError(f"unknown outpainting direction {item!r}; choose from {', '.join(DIRECTIONS)}")
        chosen.add(name)
    if not chosen:
        raise ValueError(f"choose at least one outpainting direction ({', '.join(DIRECTIONS)})")
    return [name for name in DIRECTIONS if name in chosen]


def with_params(infotext: str, params: dict) -> str:
    """`infotext` with `params` added at the end of its parameters line (A1111's
    extra_generation_params, which the scripts set before the pictures are made)."""
    pairs = ", ".join(f"{key}: {format_value(value)}" for key, value in params.items() if value not in (None, ""))
    if not pairs:
        return infotext
    return f"{infotext}, {pairs}" if infotext.rstrip("\n").split("\n")[-1] else f"{infotext}{pairs}"


def finished(first: GenerationResult, images: list[tuple[Image.Image, GeneratedImage]], params: dict,
             *, interrupted: bool, warnings: list[str]) -> GenerationResult:  # fmt: skip
    """The script's result: each finished picture with the record of the piece it started from
    (prompt, seed, infotext plus the script's `params`), sized as the first picture."""
    made = [
        dataclasses.replace(record, image=image, path=None, infotext=with_params(record.infotext, params))
        for image, record in images
    ]
    width, height = made[0].image.size if made else (first.width, first.height)
    return dataclasses.replace(first, images=made, width=width, height=height,
                               interrupted=interrupted or first.interrupted,
                               warnings=list(dict.fromkeys([*first.warnings, *warnings])))  # fmt: skip


def save_finished(p, result: GenerationResult) -> None:
    """Save the finished pictures to outputs/img2img-images as a generation saves its own (the
    request's save_images and "Always save all generated images"), with the image_saved hook.
    The pieces themselves were made with save_images=False (A1111's do_not_save_samples). A failed
    save is recorded on `result` (save_error, a warning), as a generation records it."""
    engine = getattr(p, "engine", None)  # exposed on p by the engine; without it nothing is saved
    if engine is None or not p.request.save_images or not p.settings.get("samples_save"):
        return
    from modules.processing.batch_loop import save_image
    from modules.processing.img2img import OUTPUT_SUBDIR

    for index, item in enumerate(result.images):
        path = save_image(engine, result, item.image, item.seed, item.infotext, OUTPUT_SUBDIR)
        result.images[index] = dataclasses.replace(item, path=path)


SEED_SPACE = 2**32


def seed_plus(seed: int, offset: int) -> int:
    """`seed + offset`, kept within the seed field's range (A1111 just adds)."""
    return (int(seed) + int(offset)) % SEED_SPACE


@dataclass(frozen=True)
class Expansion:
    """Pixels added on each side and the grown canvas (A1111's outpainting arithmetic: the canvas
    is rounded up to a multiple of 64 and the extra shared among the chosen sides)."""

    left: int
    right: int
    up: int
    down: int
    width: int
    height: int


def expansion(width: int, height: int, pixels: int, directions: list[str]) -> Expansion:
    left, right, up, down = (pixels if name in directions else 0 for name in DIRECTIONS)
    target_w = math.ceil((width + left + right) / 64) * 64
    target_h = math.ceil((height + up + down) / 64) * 64
    if left > 0:
        left = left * (target_w - width) // (left + right)
    if right > 0:
        right = target_w - width - left
    if up > 0:
        up = up * (target_h - height) // (up + down)
    if down > 0:
        down = target_h - height - up
    return Expansion(left, right, up, down, target_w, target_h)


def check_canvas(grown: Expansion, batch_size: int) -> None:
    """The grown picture within the request's limits (each side, one batch's pixels)."""
    if max(grown.width, grown.height) > MAX_SIZE:
        raise ValueError(
            f"outpainting would make a {grown.width}x{grown.height} picture; each side must be at most {MAX_SIZE}: "
            "lower the pixels to expand or use a smaller picture"
        )
    if batch_size * grown.width * grown.height > MAX_BATCH_PIXELS:
        raise ValueError(
            f"batch_size {batch_size} x {grown.width}x{grown.height} is more than the limit of {MAX_BATCH_PIXELS} "
            "pixels per batch: lower batch_size or the pixels to expand"
        )
