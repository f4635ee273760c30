"""A1111's generation-parameters text ("infotext"): build it and read it back.

Format:
    <prompt, possibly several lines>
    Negative prompt: <negative, possibly several lines>
    Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model hash: ..., Model: ...
"""

import json
import re

NEGATIVE_PREFIX = "Negative prompt:"
# "Key: value" pairs; a value is either a JSON-quoted string or runs to the next comma.
_PAIR = re.compile(r'\s*([\w][\w \-/+()]*?):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"^(\d+)x(\d+)$")


def format_value(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    if any(ch in text for ch in ',:"\n'):
        return json.dumps(text, ensure_ascii=False)
    return text


def build_infotext(prompt: str, negative_prompt: str, params: dict) -> str:
    lines = [prompt]
    if negative_prompt:
        lines.append(f"{NEGATIVE_PREFIX} {negative_prompt}")
    pairs = ", ".join(f"{key}: {format_value(value)}" for key, value in params.items() if value not in (None, ""))
    lines.append(pairs)
    return "\n".join(lines)


def parse_infotext(text: str) -> dict:
    """Parse into {"Prompt", "Negative prompt", <key>: value ...}; numbers become int/float,
    "Size" also gives "Size-1"/"Size-2" as A1111's parser does."""
    lines = text.strip().split("\n")
    params_line = ""
    if lines and len(_PAIR.findall(lines[-1])) >= 3:
        params_line = lines.pop()
    prompt_lines, negative_lines, in_negative = [], [], False
    for line in lines:
        if line.startswith(NEGATIVE_PREFIX):
            in_negative = True
            line = line[len(NEGATIVE_PREFIX) :].lstrip()
        (negative_lines if in_negative else prompt_lines).append(line)
    result: dict = {"Prompt": "\n".join(prompt_lines), "Negative prompt": "\n".join(negative_lines)}
    for key, raw in _PAIR.findall(params_line):
        value = _decode(raw.strip())
        result[key.strip()] = value
        if key.strip() in ("Size", "Hires resize", "Seed resize from") and (m := _SIZE.match(str(value))):
            result[f"{key.strip()}-1"], result[f"{key.strip()}-2"] = int(m[1]), int(m[2])
    return result


def _decode(raw: str):
    if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
        try:
            return json.loads(raw)
        except ValueError:
            return raw[1:-1]
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


# Infotext key -> request field, for pasting parameters back into the UI or a request.
INFOTEXT_FIELDS = {
    "Prompt": "prompt",
    "Negative prompt": "negative_prompt",
    "Steps": "steps",
    "Sampler": "sampler_name",
    "Schedule type": "scheduler",
    "CFG scale": "cfg_scale",
    "Seed": "seed",
    "Size-1": "width",
    "Size-2": "height",
    "Model": "checkpoint",
    "Clip skip": "clip_skip",
    "Denoising strength": "denoising_strength",
    "Hires upscale": "hr_scale",
    "Hires steps": "hr_second_pass_steps",
    "Hires upscaler": "hr_upscaler",
    "Hires sampler": "hr_sampler_name",
    "Hires schedule type": "hr_scheduler",
    "Hires prompt": "hr_prompt",
    "Hires negative prompt": "hr_negative_prompt",
    "Variation seed": "subseed",
    "Variation seed strength": "subseed_strength",
    "Seed resize from-1": "seed_resize_from_w",
    "Seed resize from-2": "seed_resize_from_h",
    "Eta": "eta",
    "Refiner": "refiner_checkpoint",
    "Refiner switch at": "refiner_switch_at",
    "Hires resize-1": "hr_resize_x",
    "Hires resize-2": "hr_resize_y",
}
HIRES_KEYS = ("Hires upscale", "Hires resize", "Hires upscaler", "Hires steps")


def infotext_to_fields(parsed: dict) -> dict:
    fields = {field: parsed[key] for key, field in INFOTEXT_FIELDS.items() if key in parsed}
    if any(key in parsed for key in HIRES_KEYS):
        fields["enable_hr"] = True
    return fields
