"""A1111's generation-parameters text ("infotext"): build it and read it back.

Format:
    <prompt, possibly several lines>
    Negative prompt: <negative, possibly several lines>
    Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model hash: ..., Model: ...
"""

import functools
import json
import re
from dataclasses import dataclass

from modules.processing.request import GenerationRequest

NEGATIVE_PREFIX = "Negative prompt:"
# Longest text parse_infotext accepts (a PNG chunk or a pasted text can be any size); far more
# than any real infotext, small enough that parsing stays well under a second.
MAX_INFOTEXT_CHARS = 1_048_576
# One "Key: value" pair. A value is JSON-quoted when its closing quote is followed by a comma or
# the end of the line, otherwise it runs to the next comma. findall with it takes linear time: a
# pair is only tried where a run of key characters starts (the lookbehind rejects every other
# position at once), and the possessive quantifiers never give back what they took. Without that,
# each position of a long run of key characters without a colon rescanned the rest of the run.
_KEY_CHAR = r"[\w \-/+()]"
_PAIR = re.compile(
    rf"(?<!{_KEY_CHAR})[ \-/+()]*+(\w{_KEY_CHAR}*+):"  # the key: from the run's first word character
    r'\s*+("(?:[^\\"]|\\.)*+"(?=,|$)|[^,]*+)(?:,|$)'
)
_NUMBER_START = frozenset("+-.iInN")  # with decimal digits, what int() or float() text can start with
_SIZE = re.compile(r"^(\d+)x(\d+)$")


class InfotextTooLongError(ValueError):
    """The text is longer than MAX_INFOTEXT_CHARS."""


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
    "Size" also gives "Size-1"/"Size-2" as A1111's parser does. Takes time linear in the text's
    length; a text over MAX_INFOTEXT_CHARS raises InfotextTooLongError (a ValueError)."""
    if len(text) > MAX_INFOTEXT_CHARS:
        raise InfotextTooLongError(f"infotext is {len(text):,} characters long; the limit is {MAX_INFOTEXT_CHARS:,}")
    lines = text.strip().split("\n")
    pairs = _PAIR.findall(lines[-1])
    if len(pairs) >= 3:  # the last line is the parameters line
        lines.pop()
    else:
        pairs = []
    prompt_lines, negative_lines, in_negative = [], [], False
    for line in lines:
        if line.startswith(NEGATIVE_PREFIX):
            in_negative = True
            line = line[len(NEGATIVE_PREFIX) :].lstrip()
        (negative_lines if in_negative else prompt_lines).append(line)
    result: dict = {"Prompt": "\n".join(prompt_lines), "Negative prompt": "\n".join(negative_lines)}
    for key, raw in pairs:
        value = _decode(raw.strip())
        result[key.strip()] = value
        if key.strip() in ("Size", "Hires resize", "Seed resize from") and (m := _SIZE.match(str(value))):
            result[f"{key.strip()}-1"], result[f"{key.strip()}-2"] = int(m[1]), int(m[2])
    return result


def _decode(raw: str):
    if not raw or not (raw[0] in _NUMBER_START or raw[0].isdecimal() or raw[0] == '"'):
        return raw  # not a number or a quoted string: skips two failed conversions per value
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


# --- The keys: declared once -------------------------------------------------------------------
# A key that records one request field is declared on that field (request.py, `infotext("Key")`).
# Keys that are not one field are declared here, once:
# - composite: one "WxH" key for two fields (pasted back as "<key>-1" / "<key>-2");
COMPOSITE_KEYS = {
    "Size": ("width", "height"),
    "Hires resize": ("hr_resize_x", "hr_resize_y"),
    "Seed resize from": ("seed_resize_from_w", "seed_resize_from_h"),
}
# - settings-backed: written from the job's settings (each only when not at its default); pasted
#   back, they become the request's override_settings, as A1111 does. ("Clip skip" is the
#   clip_skip field, written from the setting when the request leaves it unset.)
INFOTEXT_SETTINGS = {
    "ENSD": "eta_noise_seed_delta",
    "RNG": "randn_source",
    "Emphasis": "emphasis",
    "Extra noise": "img2img_extra_noise",
    "Conditional mask weight": "inpainting_mask_weight",
    # Speed options (modules/config/speed_settings.py), A1111's keys.
    "Token merging ratio": "token_merging_ratio",
    "Token merging ratio hr": "token_merging_ratio_hr",
    "NGMS": "s_min_uncond",
    "Batch cond/uncond": "batch_cond_uncond",
    "Pad conds": "pad_cond_uncond",
    # Precision (modules/config/precision_settings.py), A1111's keys.
    "FP8 weight": "fp8_storage",
    "Cache FP16 weight for LoRA": "cache_fp16_weight",
}
# - looked up: settings-backed keys whose value is a name the engine looks up among its listed
#   files ("VAE: x" -> the listed "x.safetensors", Engine.readable_overrides); written by the job
#   only when a file is in use, so they have no "not at its default" value.
LOOKED_UP_SETTINGS = {"VAE": "sd_vae"}
# - informational: written, not pasted into any field (the model is chosen by "Model").
INFORMATIONAL_KEYS = {"model_hash": "Model hash", "init_image_hash": "Init image hash"}
# Keys whose presence means the hires fix was on.
HIRES_KEYS = ("Hires upscale", "Hires resize", "Hires upscaler", "Hires steps")


@dataclass(frozen=True)
class InfotextKey:
    """One infotext key: what it records (a request field, two for a composite key, or a setting)
    and the label a UI shows for it (and an X/Y/Z axis names it by)."""

    key: str
    field: str  # the request field, "width,height" for a composite key, "override_settings.<name>"
    label: str


@functools.cache
def _declared_fields() -> dict[str, str]:
    """{request field: infotext key} from the request's field declarations."""
    declared = {}
    for name, info in GenerationRequest.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if "infotext" in extra:
            declared[name] = extra["infotext"]
    return declared


def infotext_keys() -> list[InfotextKey]:
    """Every key the infotext writes and the paste reader reads, with its field and label."""
    keys = [InfotextKey(key, field, key) for field, key in _declared_fields().items()]
    keys += [InfotextKey(key, ",".join(fields), key) for key, fields in COMPOSITE_KEYS.items()]
    keys += [InfotextKey(key, f"override_settings.{setting}", key) for key, setting in INFOTEXT_SETTINGS.items()]
    return keys


def _reader_table() -> dict[str, str]:
    table = {key: field for field, key in _declared_fields().items()}
    for key, (first, second) in COMPOSITE_KEYS.items():
        table[f"{key}-1"], table[f"{key}-2"] = first, second
    return table


# Infotext key -> request field, for pasting parameters back into the UI or a request.
INFOTEXT_FIELDS: dict[str, str] = _reader_table()


def params_from_fields(values: dict) -> dict:
    """The writer: {request field, setting or informational name: value} -> {infotext key: value},
    in the order given. A composite key is written once both of its fields are given. A name with no
    declared key raises KeyError: every key written is one the paste reader reads."""
    declared = _declared_fields()
    setting_keys = {setting: key for key, setting in INFOTEXT_SETTINGS.items()}
    composite_of = {field: key for key, fields in COMPOSITE_KEYS.items() for field in fields}
    params: dict = {}
    for name, value in values.items():
        if name in declared:
            params[declared[name]] = value
        elif name in composite_of:
            key = composite_of[name]
            first, second = COMPOSITE_KEYS[key]
            if first in values and second in values and key not in params:
                both = (values[first], values[second])
                params[key] = None if None in both else f"{both[0]}x{both[1]}"
        elif name in setting_keys:
            params[setting_keys[name]] = value
        elif name in INFORMATIONAL_KEYS:
            params[INFORMATIONAL_KEYS[name]] = value
        else:
            raise KeyError(f"{name!r} has no declared infotext key")
    return params


def infotext_to_fields(parsed: dict) -> dict:
    """Request fields from parsed infotext; settings it records go in "override_settings"
    (unchecked here: the caller checks them against the declared options)."""
    fields = {field: parsed[key] for key, field in _reader_table().items() if key in parsed}
    if any(key in parsed for key in HIRES_KEYS):
        fields["enable_hr"] = True
    pasted_settings = {**INFOTEXT_SETTINGS, **LOOKED_UP_SETTINGS}
    overrides = {setting: parsed[key] for key, setting in pasted_settings.items() if key in parsed}
    if overrides:
        fields["override_settings"] = overrides
    return fields
