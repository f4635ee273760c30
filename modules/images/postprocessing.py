"""Extras: upscaling (A1111's built-in first step) then the chosen post-processing steps
(contributed by extensions) on each image, as one job on the engine's queue."""

import re
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modules.plugins.types import StepContext


class PostprocessingError(ValueError):
    """A step was unknown, got bad arguments or refused the image; the message says which."""


def parse_step_args(registry, raw: dict[str, dict]) -> list[tuple[object, BaseModel]]:
    """{step name: args dict} -> [(step, Args instance)] in the steps' own order."""
    by_name = {step.name.lower(): step for step in registry.steps}
    chosen = []
    for name, args in raw.items():
        step = by_name.get(name.lower())
        if step is None:
            known = ", ".join(repr(s.name) for s in registry.steps) or "none"
            raise PostprocessingError(f"unknown post-processing step {name!r}; known: {known}")
        try:
            chosen.append((step, step.Args.model_validate(args or {})))
        except ValidationError as error:
            reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise PostprocessingError(f"{step.name}: {reasons}") from error
    return sorted(chosen, key=lambda pair: pair[0].order)


def run_steps(engine, image: Image.Image, chosen: list[tuple[object, BaseModel]],
              target_size: tuple[int, int] | None = None) -> list[Image.Image]:  # fmt: skip
    """The chosen steps on one picture: the pictures it became (one, unless a step made copies or
    parts; each later step runs on every one of them)."""
    # A snapshot: a setting changed while the steps run does not change them halfway.
    context = StepContext(settings=engine.settings.snapshot(), models_dir=engine.paths.models_dir,
                          target_size=target_size)  # fmt: skip
    images = [image]
    for step, args in chosen:
        images = [made for picture in images for made in _run_step(engine, step, args, picture, context)]
        if len(images) > MAX_STEP_OUTPUTS:
            raise PostprocessingError(f"{step.name}: {len(images)} pictures from one is more than {MAX_STEP_OUTPUTS}")
    return images


def _run_step(engine, step, args: BaseModel, image: Image.Image, context: StepContext) -> list[Image.Image]:
    try:
        made = step.run(image, args, context)
    except (ValueError, LookupError, OSError) as error:
        raise PostprocessingError(f"{step.name}: {error}") from error
    except Exception as error:
        owner = engine.plugins.step_owner.get(step.name, step.name)
        engine.extensions.report_error(owner, f"{step.name}: {type(error).__name__}: {error}")
        raise PostprocessingError(f"{step.name} failed: {type(error).__name__}: {error}") from error
    made = made if isinstance(made, list | tuple) else [made]
    if not made or not all(isinstance(picture, Image.Image) for picture in made):
        kinds = ", ".join(sorted({type(picture).__name__ for picture in made})) or "nothing"
        raise PostprocessingError(f"{step.name} returned {kinds}, not a picture or a list of pictures")
    return list(made)


def step_target_size(image: Image.Image, upscale: "UpscaleKnobs | None") -> tuple[int, int]:
    """A1111's shared target size for the steps: "Scale to" width x height, or the picture's own
    size times "Scale by" (the picture's size when nothing scales it)."""
    if upscale is None:
        return image.size
    if upscale.resize_mode == 1:
        return upscale.upscaling_resize_w, upscale.upscaling_resize_h
    return round(image.width * upscale.upscaling_resize), round(image.height * upscale.upscaling_resize)


MAX_EXTRAS_IMAGES = 100  # one Extras job: Batch process uploads, a batch folder is cut off at this many
MAX_STEP_OUTPUTS = 64  # pictures one source may become through the steps (copies, split parts)
RESIZE_MODES = ("Scale by", "Scale to")


class UpscaleKnobs(BaseModel):
    """The Extras upscaling controls, with A1111's API names, defaults and limits: shared by the
    options the engine runs and the API bodies, so the limits are declared once."""

    resize_mode: int = Field(0, ge=0, le=1)  # 0: scale by upscaling_resize; 1: to upscaling_resize_w x _h
    upscaling_resize: float = Field(2.0, gt=0, le=8)
    upscaling_resize_w: int = Field(512, ge=1, le=8192)
    upscaling_resize_h: int = Field(512, ge=1, le=8192)
    upscaling_crop: bool = True
    upscaler_1: str = "None"
    upscaler_2: str = "None"
    extras_upscaler_2_visibility: float = Field(0.0, ge=0, le=1)


class UpscaleOptions(UpscaleKnobs):
    """The upscaling a job runs (unknown fields refused)."""

    model_config = ConfigDict(extra="forbid")

    @property
    def active(self) -> bool:
        """A1111: without Upscaler 1 there is no upscaling at all (Upscaler 2 only blends into it)."""
        return self.upscaler_1 != "None"

    def checked(self, upscalers) -> "UpscaleOptions":
        """The options with both names in their listed form (ValueError naming an unknown one)."""
        return self.model_copy(update={"upscaler_1": upscalers.resolve(self.upscaler_1),
                                       "upscaler_2": upscalers.resolve(self.upscaler_2)})  # fmt: skip


@dataclass
class ExtrasOutput:
    image: Image.Image
    info: dict[str, object] = field(default_factory=dict)  # "Postprocess upscaler": name, ...
    name: str = ""  # the source's file name, for Batch process and Batch from directory
    source_text: dict[str, str] = field(default_factory=dict)  # the source's PNG text chunks ("parameters" ...)
    saved: Path | None = None  # where it was saved, when it was

    @property
    def infotext(self) -> str:
        return ", ".join(f"{key}: {value}" for key, value in self.info.items())


EXTRAS_FOLDER = "extras-images"  # A1111's outdir_extras_samples, under the outputs folder


def save_extras_outputs(outputs: list[ExtrasOutput], folder: Path) -> list[Path]:
    """A1111's Extras saving (the UI's Single image and Batch process; the API saves nothing):
    NNNNN.png (NNNNN-<source name>.png for a named source) straight in `folder`, each written
    atomically, keeping the source's text chunks (its generation "parameters") and adding the
    postprocess infotext as A1111 does, in "postprocessing" and "extras"."""
    from modules.atomic import write_bytes_atomic

    folder.mkdir(parents=True, exist_ok=True)
    number = _next_number(folder)  # the queue's one worker runs this: no other Extras save races it
    saved = []
    for output in outputs:
        stem = Path(output.name).stem if output.name else ""
        path = folder / (f"{number:05d}-{stem}.png" if stem else f"{number:05d}.png")
        write_bytes_atomic(path, _png_with_text(output.image, _saved_text(output)))
        output.saved = path
        saved.append(path)
        number += 1
    return saved


def _next_number(folder: Path) -> int:
    """One past the highest NNNNN of NNNNN.png / NNNNN-name.png already there."""
    numbers = [int(match[1]) for path in folder.iterdir() if (match := _EXTRAS_NUMBERED.match(path.name))]
    return max(numbers, default=-1) + 1


_EXTRAS_NUMBERED = re.compile(r"^(\d+)[-.]")


def _saved_text(output: ExtrasOutput) -> dict[str, str]:
    text = dict(output.source_text)
    if output.infotext:
        text["postprocessing"] = output.infotext
        text["extras"] = output.infotext
    return text


def _png_with_text(image: Image.Image, text: dict[str, str]) -> bytes:
    import io

    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def text_chunks(image: Image.Image) -> dict[str, str]:
    """A picture's string metadata worth carrying into the saved result (PNG text chunks)."""
    return {key: value for key, value in image.info.items() if isinstance(key, str) and isinstance(value, str)}


def upscale_image(upscalers, image: Image.Image, options: UpscaleOptions) -> tuple[Image.Image, dict]:
    """A1111's Extras upscale: Upscaler 1 by the factor (or to cover the size, then cropped to it),
    Upscaler 2 blended in at its visibility. (image, infotext entries)."""
    info: dict[str, object] = {}
    first = _upscale_once(upscalers, image, options.upscaler_1, options, info)
    info["Postprocess upscaler"] = options.upscaler_1
    if options.upscaler_2 != "None" and options.extras_upscaler_2_visibility > 0:
        second = _upscale_once(upscalers, image, options.upscaler_2, options, {})
        second = second.convert(first.mode) if second.mode != first.mode else second
        second = second.resize(first.size, Image.Resampling.LANCZOS) if second.size != first.size else second
        first = Image.blend(first, second, options.extras_upscaler_2_visibility)
        info["Postprocess upscaler 2"] = options.upscaler_2
    return first, info


def _upscale_once(upscalers, image: Image.Image, name: str, options: UpscaleOptions, info: dict) -> Image.Image:
    if options.resize_mode == 0:
        info["Postprocess upscale by"] = options.upscaling_resize
        return upscalers.upscale(image, name, options.upscaling_resize)
    width, height = options.upscaling_resize_w, options.upscaling_resize_h
    info["Postprocess upscale to"] = f"{width}x{height}"
    factor = max(width / image.width, height / image.height)
    covered = upscalers.upscale_to(image, name, max(width, round(image.width * factor)),
                                   max(height, round(image.height * factor)))  # fmt: skip
    if not options.upscaling_crop:
        return covered
    info["Postprocess crop to"] = f"{width}x{height}"
    left, top = (covered.width - width) // 2, (covered.height - height) // 2
    return covered.crop((left, top, left + width, top + height))


def process_images(engine, images: list[tuple[str, Image.Image]], upscale: UpscaleOptions | None,
                   chosen: list[tuple[object, BaseModel]], job=None) -> list[ExtrasOutput]:  # fmt: skip
    """Each (name, image) through the upscale (when active) and the steps; runs inside a job."""
    outputs = []
    if job is not None:
        job.set_total(len(images), 1)
    for index, (name, image) in enumerate(images):
        if job is not None and job.interrupted:
            break
        info: dict[str, object] = {}
        source_text = text_chunks(image)
        target = step_target_size(image, upscale)
        if upscale is not None and upscale.active:
            image, info = upscale_image(engine.upscalers, image, upscale)
        made = run_steps(engine, image, chosen, target) if chosen else [image]
        outputs.extend(ExtrasOutput(picture, info, _numbered(name, number), source_text)
                       for number, picture in enumerate(made))  # fmt: skip
        if job is not None:
            job.report_step(index, 1, 1)
    return outputs


def _numbered(name: str, number: int) -> str:
    """The first picture made from a source keeps its name; copies and parts get -1, -2, ..."""
    if number == 0 or not name:
        return name
    path = Path(name)
    return f"{path.stem}-{number}{path.suffix}"


def submit_extras(engine, images: list[tuple[str, Image.Image]], upscale: UpscaleOptions | None,
                  chosen: list[tuple[object, BaseModel]], job_id: str | None = None,
                  save_to: Path | None = None):  # fmt: skip
    """Queue an Extras job on the engine's queue (so it never competes with a generation for
    memory); the Job's result is a list of ExtrasOutput, saved into `save_to` when given (a save
    that fails fails the job, saying where). Names and counts are checked now."""
    if not images:
        raise PostprocessingError("no image to process")
    if len(images) > MAX_EXTRAS_IMAGES:
        raise PostprocessingError(f"{len(images)} images is more than {MAX_EXTRAS_IMAGES} in one Extras job")
    if upscale is not None:  # nothing chosen at all: the pictures come back as they are, as in A1111
        upscale = upscale.checked(engine.upscalers)

    def work(job):
        outputs = process_images(engine, images, upscale, chosen, job)
        if save_to is not None and outputs:
            save_extras_outputs(outputs, save_to)
        return outputs

    first = images[0][1]
    return engine.queue.submit(work, description=f"extras: {len(images)} image(s)", job_id=job_id, kind="extras",
                               subject=f"{first.width}x{first.height} (Extras)")  # fmt: skip


def list_input_folder(folder: str) -> list[Path]:
    """Batch from directory: the pictures of `folder` (server path, regular files), sorted, at most
    MAX_EXTRAS_IMAGES; ValueError when it is not a folder."""
    directory = Path(folder).expanduser()
    if not folder.strip() or not directory.is_dir():
        raise PostprocessingError(f"input directory {folder!r} is not a folder")
    kinds = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
    pictures = sorted(path for path in directory.iterdir() if path.suffix.lower() in kinds and path.is_file())
    if not pictures:
        raise PostprocessingError(f"input directory {folder!r} holds no pictures")
    return pictures[:MAX_EXTRAS_IMAGES]


def submit_extras_folder(engine, input_dir: str, output_dir: str, upscale: UpscaleOptions | None,
                         chosen: list[tuple[object, BaseModel]], job_id: str | None = None):  # fmt: skip
    """Batch from directory: every picture of `input_dir` processed and written as PNG (same stem)
    into `output_dir` (empty: outputs/extras-images). Server folders: refused while the server
    listens beyond this machine, as img2img's Batch is. The Job's result: list of ExtrasOutput."""
    from modules.config.flags import listens_beyond_localhost

    if listens_beyond_localhost(engine.flags) and not getattr(engine.flags, "enable_insecure_extension_access", False):
        raise PostprocessingError(
            "Batch from directory reads and writes server folders: off while the server listens beyond this "
            "machine (--enable-insecure-extension-access allows it)"
        )
    pictures = list_input_folder(input_dir)
    target = Path(output_dir).expanduser() if output_dir.strip() else engine.paths.outputs_dir / EXTRAS_FOLDER
    if upscale is not None:  # nothing chosen at all: the pictures come back as they are, as in A1111
        upscale = upscale.checked(engine.upscalers)

    def work(job):
        from modules.atomic import write_bytes_atomic
        from modules.images.decoding import open_image

        limit = int(engine.settings.get("image_max_pixels"))
        images = [(path.name, open_image(path.read_bytes(), limit, path.name)) for path in pictures]
        outputs = process_images(engine, images, upscale, chosen, job)
        target.mkdir(parents=True, exist_ok=True)
        for output in outputs:
            output.saved = target / f"{Path(output.name).stem}.png"
            write_bytes_atomic(output.saved, _png_with_text(output.image, _saved_text(output)))
        return outputs

    return engine.queue.submit(
        work, description=f"extras: {len(pictures)} picture(s) from a folder", job_id=job_id, kind="extras"
    )
