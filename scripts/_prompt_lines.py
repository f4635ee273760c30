"""The lines of "Prompts from file or textbox": A1111's `--option value` syntax (shlex quoting),
turned into request field overrides, with the limits checked before any picture is made."""

import shlex
from collections.abc import Callable
from pathlib import Path

MAX_LINES = 1000
MAX_LINE_LENGTH = 10_000
MAX_TEXT_LENGTH = 1_000_000  # characters of the whole list (the textbox, or an uploaded file)
MAX_FILE_BYTES = 1_000_000


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError(f"expected true or false, got {text!r}")
    return lowered == "true"


def _styles(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _sampler_index(text: str) -> str:
    from modules.sampling.catalog import sampler_names

    names = sampler_names()
    index = int(text)
    if not 0 <= index < len(names):
        raise ValueError(f"sampler index {index} is out of range 0-{len(names) - 1}")
    return names[index]


# A1111's option -> (request field, converter). Options A1111 knows that set nothing here (a
# display prompt, grid saving: this script makes no grid) map to None and are accepted.
OPTIONS: dict[str, tuple[str, Callable] | None] = {
    "sd_model": ("checkpoint", str),
    "prompt": ("prompt", str),
    "negative_prompt": ("negative_prompt", str),
    "styles": ("styles", _styles),
    "seed": ("seed", int),
    "subseed": ("subseed", int),
    "subseed_strength": ("subseed_strength", float),
    "seed_resize_from_h": ("seed_resize_from_h", int),
    "seed_resize_from_w": ("seed_resize_from_w", int),
    "sampler_index": ("sampler_name", _sampler_index),
    "sampler_name": ("sampler_name", str),
    "scheduler": ("scheduler", str),
    "batch_size": ("batch_size", int),
    "n_iter": ("n_iter", int),
    "steps": ("steps", int),
    "cfg_scale": ("cfg_scale", float),
    "width": ("width", int),
    "height": ("height", int),
    "denoising_strength": ("denoising_strength", float),
    "clip_skip": ("clip_skip", int),
    "do_not_save_samples": ("save_images", lambda text: not _boolean(text)),
    "do_not_save_grid": None,
    "prompt_for_display": None,
}
# A1111 options refused with a reason rather than silently dropped.
REFUSED = {
    "outpath_samples": "output folders are not taken from prompt lines",
    "outpath_grids": "output folders are not taken from prompt lines",
    "restore_faces": "face restoration is not available",
    "tiling": "tiling is not available",
}
# Options whose value runs to the next option, unquoted words joined by spaces (as A1111).
TEXT_OPTIONS = ("prompt", "negative_prompt")


def split_lines(text: str) -> list[str]:
    """The non-empty lines, stripped; the limits on count and length are checked first."""
    if len(text) > MAX_TEXT_LENGTH:
        raise ValueError(f"the list of prompts is {len(text)} characters, more than the limit of {MAX_TEXT_LENGTH}")
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if len(lines) > MAX_LINES:
        raise ValueError(f"the list has {len(lines)} lines, more than the limit of {MAX_LINES}")
    for number, line in enumerate(lines, 1):
        if len(line) > MAX_LINE_LENGTH:
            raise ValueError(f"line {number} is {len(line)} characters long, more than the limit of {MAX_LINE_LENGTH}")
    return lines


def parse_line(line: str) -> dict:
    """A line's request overrides. A line that starts with `--` is options (a bad one raises
    ValueError naming it); any other line is a prompt, as A1111 treats a line it cannot parse."""
    if not line.startswith("--"):
        return {"prompt": line}
    try:
        words = shlex.split(line)
    except ValueError as error:  # an unclosed quote
        raise ValueError(f"cannot split the line into options: {error}") from None
    overrides: dict = {}
    position = 0
    while position < len(words):
        word = words[position]
        if not word.startswith("--"):
            raise ValueError(f"expected an option starting with '--', got {word!r}")
        name = word[2:]
        if position + 1 >= len(words):
            raise ValueError(f"option {word} has no value")
        if name in TEXT_OPTIONS:
            position += 1
            parts = [words[position]]
            position += 1
            while position < len(words) and not words[position].startswith("--"):
                parts.append(words[position])
                position += 1
            overrides[name] = " ".join(parts)
            continue
        if name in REFUSED:
            raise ValueError(f"option {word} is not supported: {REFUSED[name]}")
        if name not in OPTIONS:
            raise ValueError(f"unknown option {word}; known: {', '.join('--' + o for o in OPTIONS)}")
        target = OPTIONS[name]
        value = words[position + 1]
        if target is not None:
            field, convert = target
            try:
                overrides[field] = convert(value)
            except ValueError as error:
                raise ValueError(f"option {word}: bad value {value!r} ({error})") from None
        position += 2
    return overrides


def read_prompt_file(path: str | Path, limit: int = MAX_FILE_BYTES) -> str:
    """An uploaded prompt file's text (UTF-8, undecodable bytes dropped, as A1111 reads it),
    refused when larger than `limit` bytes; lines stripped."""
    path = Path(path)
    size = path.stat().st_size
    if size > limit:
        raise ValueError(f"the prompt file is {size} bytes, more than the limit of {limit}")
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:  # the file grew after stat
        raise ValueError(f"the prompt file is more than the limit of {limit} bytes")
    return "\n".join(line.strip() for line in data.decode("utf8", errors="ignore").split("\n"))
