"""img2img's Batch tab (A1111's "Batch" / process_batch): every picture of an input folder through
the same img2img request, each with the mask of the same name from a mask folder when one is
given, optionally with the parameters stored in its own PNG; results written to an output folder
(or the usual outputs folder). One job: a file that cannot be read is reported and the rest go on.

The folders are paths on the server typed into the UI, so the batch is refused while the server
listens beyond this machine (unless insecure access was asked for, as for extensions).
"""

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from modules.atomic import write_bytes_atomic
from modules.images.decoding import BadImageError, ImageTooLargeError, open_image
from modules.images.masks import mask_from_upload
from modules.images.saving import png_bytes, read_generation_text
from modules.processing.request import GenerationRequest, Img2ImgRequest

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
MAX_BATCH_FILES = 1000
MAX_FILE_BYTES = 64 * 2**20
# What a picture's own parameters may set (A1111's "PNG info" properties).
PNG_INFO_FIELDS = ("prompt", "negative_prompt", "seed", "cfg_scale", "sampler_name", "scheduler", "steps")


@dataclass(frozen=True)
class BatchSpec:
    input_dir: str
    output_dir: str = ""  # "": the usual outputs/img2img-images folder
    mask_dir: str = ""  # "": no masks (plain img2img)
    use_png_info: bool = False  # take each picture's own prompt, seed, steps ... from its parameters
    scale_by: float | None = None  # "Resize by": each picture's own size times this (None: the template's size)


@dataclass(frozen=True)
class BatchInputs:
    """A spec checked at submit: the folders exist, the pictures are listed (sorted by name)."""

    files: list[Path]
    output_dir: Path | None
    mask_dir: Path | None
    use_png_info: bool
    scale_by: float | None = None


def check_batch(spec: BatchSpec) -> BatchInputs:
    """The spec's folders resolved and its pictures listed; ValueError saying what is wrong."""
    if not spec.input_dir.strip():
        raise ValueError("Batch: give an input folder")
    source = Path(spec.input_dir.strip()).expanduser()
    if not source.is_dir():
        raise ValueError(f"Batch: input folder {source} does not exist or is not a folder")
    masks = Path(spec.mask_dir.strip()).expanduser() if spec.mask_dir.strip() else None
    if masks is not None and not masks.is_dir():
        raise ValueError(f"Batch: mask folder {masks} does not exist or is not a folder")
    output = Path(spec.output_dir.strip()).expanduser() if spec.output_dir.strip() else None
    if output is not None and output.exists() and not output.is_dir():
        raise ValueError(f"Batch: output {output} is not a folder")
    files = sorted(path for path in source.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file())
    if not files:
        raise ValueError(f"Batch: no pictures ({', '.join(IMAGE_SUFFIXES)}) in {source}")
    if len(files) > MAX_BATCH_FILES:
        raise ValueError(f"Batch: {len(files)} pictures in {source}, more than the limit of {MAX_BATCH_FILES}")
    if spec.scale_by is not None and not 0.05 <= spec.scale_by <= 4.0:
        raise ValueError(f"Batch: scale {spec.scale_by} is outside 0.05 to 4")
    return BatchInputs(files, output, masks, spec.use_png_info, spec.scale_by)


def read_picture(path: Path, max_pixels: int):
    """A picture from disk within the pixel cap (regular files only, size-limited)."""
    if not path.is_file():
        raise BadImageError(f"{path.name}: not a regular file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise BadImageError(f"{path.name}: larger than {MAX_FILE_BYTES // 2**20} MB")
    return open_image(path.read_bytes(), max_pixels, path.name)


def mask_for(picture: Path, masks: Path) -> Path | None:
    """The mask of the same stem in the mask folder (any picture suffix), None when there is none."""
    for suffix in IMAGE_SUFFIXES:
        for candidate in (masks / f"{picture.stem}{suffix}", masks / f"{picture.stem}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    return None


def scaled_size(size: tuple[int, int], scale: float) -> dict:
    """The Batch tab's "Resize by" for one picture: its size times `scale`, each side rounded down to
    a multiple of 8 as A1111 does."""
    return {name: max(64, int(side * scale) // 8 * 8) for name, side in zip(("width", "height"), size, strict=True)}


def png_info_fields(engine, image, template: GenerationRequest) -> dict:
    """The picture's own parameters that the batch takes (prompts appended to the template's)."""
    text = read_generation_text(image)
    if not text:
        return {}
    fields = engine.fields_from_infotext(text)
    taken = {name: fields[name] for name in PNG_INFO_FIELDS if name in fields}
    for name in ("prompt", "negative_prompt"):
        if name in taken and getattr(template, name):
            taken[name] = f"{getattr(template, name)} {taken[name]}"
    return taken


def run_batch(engine, job, template: GenerationRequest, inputs: BatchInputs):
    """Every listed picture through img2img; a GenerationResult holding all their pictures."""
    from modules.processing import generation
    from modules.processing.prepare import prepare

    max_pixels = int(engine.settings.get("image_max_pixels"))
    combined, problems = None, []
    job.plan_parts(len(inputs.files))
    for path in inputs.files:
        if job.interrupted:
            break
        try:
            image = read_picture(path, max_pixels)
            overrides = {"init_images": [image], "mask": None}
            if inputs.mask_dir is not None:
                found = mask_for(path, inputs.mask_dir)
                if found is not None:
                    mask = mask_from_upload(read_picture(found, max_pixels), transparent_is_masked=False)
                    # A mask drawn at another size still marks the same part of the picture.
                    overrides["mask"] = mask if mask.size == image.size else mask.resize(image.size)
            if inputs.use_png_info:
                overrides.update(png_info_fields(engine, image, template))
            if inputs.output_dir is not None:
                overrides["save_images"] = False
            if inputs.scale_by is not None:
                overrides.update(scaled_size(image.size, inputs.scale_by))
            request = Img2ImgRequest.model_validate({**dict(template), **overrides})
            prepared = prepare(request, engine)
        except (BadImageError, ImageTooLargeError, ValueError, LookupError, OSError) as error:
            problems.append(f"{path.name}: {error}")
            continue
        result = generation.run(request, prepared, engine, job)
        if inputs.output_dir is not None:
            _write_outputs(inputs.output_dir, path, result, problems)
        combined = result if combined is None else _merged(combined, result)
    if combined is None:
        raise ValueError("Batch: no picture could be processed: " + "; ".join(problems or ["interrupted"]))
    combined.warnings.extend(f"Batch skipped {problem}" for problem in problems)
    return combined


def _write_outputs(folder: Path, source: Path, result, problems: list[str]) -> None:
    """Each result under the input's name (A1111): NAME.png, then NAME-1.png ... for a batch."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for number, item in enumerate(result.images):
            name = f"{source.stem}.png" if number == 0 else f"{source.stem}-{number}.png"
            path = folder / name
            write_bytes_atomic(path, png_bytes(item.image, item.infotext))
            item.path = path
    except OSError as error:
        problems.append(f"{source.name}: not written to {folder}: {error}")


def _merged(first, more):
    return dataclasses.replace(first, images=[*first.images, *more.images], warnings=[*first.warnings, *more.warnings],
                               interrupted=first.interrupted or more.interrupted)  # fmt: skip
