"""Settings: one registry of declared options (core and extensions), values kept in
DATA/config.json, written atomically so a crash never leaves half a file."""

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modules.atomic import write_text_atomic

KINDS = ("checkbox", "text", "number", "slider", "dropdown")


@dataclass(frozen=True)
class SettingSpec:
    """One option. `kind` picks the UI control; `choices` for dropdowns; `minimum`/`maximum`/
    `step` for numbers and sliders. `section` groups options on the Settings tab."""

    key: str
    default: Any
    label: str
    section: str = "Other"
    kind: str = "text"
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"setting {self.key!r}: kind must be one of {KINDS}, not {self.kind!r}")

    def coerce(self, value: Any) -> Any:
        """The value converted to this option's type, or ValueError saying why it can't be."""
        if self.kind == "checkbox":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise ValueError(f"{self.key}: expected true or false, got {value!r}")
        if self.kind in ("number", "slider"):
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise ValueError(f"{self.key}: expected a number, got {value!r}")
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"{self.key}: expected a number, got {value!r}") from None
            if self.minimum is not None and number < self.minimum:
                raise ValueError(f"{self.key}: {number} is below the minimum {self.minimum}")
            if self.maximum is not None and number > self.maximum:
                raise ValueError(f"{self.key}: {number} is above the maximum {self.maximum}")
            return int(number) if isinstance(self.default, int) and number.is_integer() else number
        if self.kind == "dropdown":
            if self.choices and value not in self.choices:
                raise ValueError(f"{self.key}: {value!r} is not one of {list(self.choices)}")
            return value
        if not isinstance(value, str):
            raise ValueError(f"{self.key}: expected text, got {value!r}")
        return value


EMPHASIS_CHOICES = ("Original", "No norm", "Ignore", "None")

CORE_SETTINGS = (
    SettingSpec("samples_save", True, "Always save all generated images", "Saving images", "checkbox"),
    SettingSpec(
        "emphasis",
        "Original",
        "Emphasis: (x:1.2) weights; Original restores the mean, No norm does not, Ignore drops weights, "
        "None makes brackets plain text",
        "Prompts",
        "dropdown",
        choices=EMPHASIS_CHOICES,
    ),
    SettingSpec("CLIP_stop_at_last_layers", 1, "Clip skip", "Prompts", "slider", minimum=1, maximum=12, step=1),
    SettingSpec(
        "comma_padding_backtrack",
        20,
        "Long prompts: split a 75-token chunk at the last comma within this many tokens",
        "Prompts",
        "slider",
        minimum=0,
        maximum=74,
        step=1,
    ),
    SettingSpec("enable_prompt_comments", True, "Remove # comments from prompts", "Prompts", "checkbox"),
    SettingSpec(
        "show_progress_every_n_steps",
        10,
        "Live preview every N sampling steps (0: off)",
        "Live previews",
        "slider",
        minimum=0,
        maximum=32,
        step=1,
    ),
    SettingSpec(
        "show_progress_type",
        "Approx cheap",
        "Live preview method (TAESD needs models/VAE-approx/taesd_decoder.safetensors; Full uses the VAE: slower)",
        "Live previews",
        "dropdown",
        choices=("Approx cheap", "TAESD", "Full"),
    ),
    SettingSpec(
        "randn_source",
        "CPU",
        "Random number source: CPU gives the same picture for a seed on every machine",
        "Sampling",
        "dropdown",
        choices=("CPU", "GPU"),
    ),
    SettingSpec(
        "eta_noise_seed_delta",
        0,
        "Eta noise seed delta (ENSD): offsets the seed of ancestral samplers' step noise",
        "Sampling",
        "number",
        minimum=0,
        maximum=2**32 - 1,
    ),
    SettingSpec(
        "image_max_pixels",
        16_777_216,
        "Largest image accepted as input (decoded pixels, width x height); bigger ones are refused before decoding",
        "Limits",
        "number",
        minimum=4096,
        maximum=268_435_456,
    ),
    SettingSpec("disabled_extensions", "", "Disabled extensions (comma-separated; applied on restart)", "Extensions"),
)


class Settings:
    """Declared options and their values. Unknown keys found in config.json are kept (an
    extension may be disabled today and back tomorrow) but not offered."""

    def __init__(self, path: Path, specs: Iterable[SettingSpec] = CORE_SETTINGS):
        self.path = path
        self._lock = threading.RLock()
        self._specs: dict[str, SettingSpec] = {}
        self._values: dict[str, Any] = self._read()
        self.register(specs)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"settings file {self.path} is not valid JSON: {error}") from error
        return data if isinstance(data, dict) else {}

    def register(self, specs: Iterable[SettingSpec], owner: str = "core") -> list[str]:
        """Declare options; returns messages for those refused (a key declared twice)."""
        refused = []
        with self._lock:
            for spec in specs:
                if spec.key in self._specs:
                    refused.append(f"{owner}: setting {spec.key!r} is already declared")
                    continue
                self._specs[spec.key] = spec
        return refused

    @property
    def specs(self) -> list[SettingSpec]:
        return list(self._specs.values())

    def spec(self, key: str) -> SettingSpec:
        try:
            return self._specs[key]
        except KeyError:
            raise KeyError(f"unknown setting {key!r}") from None

    def get(self, key: str) -> Any:
        spec = self.spec(key)
        with self._lock:
            if key not in self._values:
                return spec.default
            try:
                return spec.coerce(self._values[key])
            except ValueError:
                return spec.default  # a hand-edited bad value falls back rather than break a job

    def values(self) -> dict[str, Any]:
        return {spec.key: self.get(spec.key) for spec in self.specs}

    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Validate every change first, then write once: all or nothing. Returns what changed."""
        coerced = {key: self.spec(key).coerce(value) for key, value in changes.items()}
        with self._lock:
            changed = {k: v for k, v in coerced.items() if self.get(k) != v or k not in self._values}
            if changed:
                merged = {**self._values, **changed}
                write_text_atomic(self.path, json.dumps(merged, indent=2, sort_keys=True) + "\n")
                self._values = merged
        return changed

    def disabled_extensions(self) -> set[str]:
        return {name.strip() for name in str(self.get("disabled_extensions")).split(",") if name.strip()}
