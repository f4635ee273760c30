"""Settings: one registry of declared options (core and extensions), values kept in
DATA/config.json, written atomically so a crash never leaves half a file. Every save re-reads the
file under a lock file first, so two servers sharing a data dir keep each other's changes."""

import json
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from modules.atomic import write_text_atomic
from modules.config.family_settings import FAMILY_SETTINGS
from modules.config.file_lock import locked
from modules.config.inpaint_settings import INPAINT_SETTINGS
from modules.config.memory_settings import MEMORY_SETTINGS
from modules.config.precision_settings import PRECISION_SETTINGS
from modules.config.setting_spec import SettingSpec
from modules.config.speed_settings import SPEED_SETTINGS
from modules.config.vae_settings import VAE_SETTINGS


class SettingsFileError(ValueError):
    """config.json cannot be read or is not a JSON object; the message names the file and what to do."""


class SettingsSaveError(OSError):
    """config.json could not be written (full disk, read-only data dir...); nothing was changed.
    `errno` is the failure's (ENOSPC, EROFS...); the message says which file and why."""

    def __init__(self, message: str, errno: int | None = None):
        super().__init__(message)
        self.errno = errno


EMPHASIS_CHOICES = ("Original", "No norm", "Ignore", "None")

CORE_SETTINGS = (
    SettingSpec("samples_save", True, "Always save all generated images", "Saving images", "checkbox"),
    SettingSpec(
        "emphasis",
        "Original",
        "Emphasis: (x:1.2) weights; Original restores the mean, No norm does not, Ignore drops weights, "
        "None makes brackets plain text",
        "Stable Diffusion",
        "dropdown",
        choices=EMPHASIS_CHOICES,
    ),
    SettingSpec(
        "CLIP_stop_at_last_layers", 1, "Clip skip", "Stable Diffusion", "slider", minimum=1, maximum=12, step=1
    ),
    SettingSpec(
        "comma_padding_backtrack",
        20,
        "Long prompts: split a 75-token chunk at the last comma within this many tokens",
        "Stable Diffusion",
        "slider",
        minimum=0,
        maximum=74,
        step=1,
    ),
    SettingSpec("enable_prompt_comments", True, "Remove # comments from prompts", "Stable Diffusion", "checkbox"),
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
        "Live preview method (TAESD needs models/VAE-approx/taesd_decoder.safetensors, taesdxl_decoder.safetensors "
        "for SDXL; Full uses the VAE: slower)",
        "Live previews",
        "dropdown",
        choices=("Approx cheap", "TAESD", "Full"),
    ),
    SettingSpec(
        "randn_source",
        "CPU",
        "Random number source: CPU gives the same picture for a seed on every machine",
        "Sampler parameters",
        "dropdown",
        choices=("CPU", "GPU"),
    ),
    SettingSpec(
        "eta_noise_seed_delta",
        0,
        "Eta noise seed delta (ENSD): offsets the seed of ancestral samplers' step noise",
        "Sampler parameters",
        "number",
        minimum=0,
        maximum=2**32 - 1,
    ),
    SettingSpec(
        "img2img_fix_steps",
        False,
        "With img2img, do exactly the amount of steps the slider specifies (normally you'd do less with less "
        "denoising)",
        "img2img",
        "checkbox",
    ),
    SettingSpec(
        "initial_noise_multiplier",
        1.0,
        "Noise multiplier for img2img",
        "img2img",
        "slider",
        minimum=0.0,
        maximum=1.5,
        step=0.001,
    ),  # fmt: skip
    SettingSpec(
        "img2img_extra_noise",
        0.0,
        "Extra noise multiplier for img2img and hires fix (adds noise to the start latent)",
        "img2img",
        "slider",
        minimum=0.0,
        maximum=1.0,
        step=0.01,
    ),  # fmt: skip
    SettingSpec(
        "img2img_color_correction",
        False,
        "Apply color correction to img2img results to match original colors",
        "img2img",
        "checkbox",
    ),
    SettingSpec(
        "upscaler_for_img2img",
        "Lanczos",
        "Upscaler for img2img (when an init image is smaller than the output)",
        "img2img",
        # Text, not a dropdown: the choices are the engine's upscalers, known only at run time (a
        # SettingSpec's choices are fixed); the name is checked where it is used.
        "text",
    ),
    SettingSpec(
        "ESRGAN_tile",
        192,
        "Tile size for model upscalers (0 = no tiling)",
        "Postprocessing",
        "slider",
        minimum=0,
        maximum=512,
        step=16,
    ),  # fmt: skip
    SettingSpec(
        "ESRGAN_tile_overlap",
        8,
        "Tile overlap for model upscalers, in pixels",
        "Postprocessing",
        "slider",
        minimum=0,
        maximum=48,
        step=1,
    ),  # fmt: skip
    SettingSpec(
        "img2img_background_color",
        "#ffffff",
        "With img2img, fill transparent parts of the input image with this color",
        "img2img",
    ),
    SettingSpec(
        "save_init_img", False, "Save init images (outputs/init-images) and record their hash", "img2img", "checkbox"
    ),
    SettingSpec(
        "image_max_pixels",
        16_777_216,
        "Largest image accepted as input (decoded pixels, width x height); bigger ones are refused before decoding",
        "System",
        "number",
        minimum=4096,
        maximum=268_435_456,
    ),
    SettingSpec("disabled_extensions", "", "Disabled extensions (comma-separated; applied on restart)", "System"),
    SettingSpec(
        "quicksettings_list",
        "sd_model_checkpoint, CLIP_stop_at_last_layers",
        "Quicksettings list: setting keys shown at the top of the page, comma-separated (applied on restart)",
        "UI",
    ),
    # Grids (modules/images/grids.py): A1111's keys, labels and defaults.
    SettingSpec("grid_save", True, "Always save all generated image grids", "Saving images", "checkbox"),
    SettingSpec(
        "grid_format", "png", "File format for grids", "Saving images", "dropdown", choices=("png", "jpg", "webp")
    ),
    SettingSpec(
        "n_rows",
        -1,
        "Grid row count; use -1 for autodetect and 0 for it to be same as batch size",
        "Saving images",
        "slider",
        minimum=-1,
        maximum=16,
        step=1,
    ),
    SettingSpec("grid_text_active_color", "#000000", "Text color for image grids", "Saving images"),
    SettingSpec("grid_text_inactive_color", "#999999", "Inactive text color for image grids", "Saving images"),
    SettingSpec("grid_background_color", "#ffffff", "Background color for image grids", "Saving images"),
    *FAMILY_SETTINGS,
    *VAE_SETTINGS,
    *INPAINT_SETTINGS,
    *MEMORY_SETTINGS,
    *PRECISION_SETTINGS,
    *SPEED_SETTINGS,
)


class DeclaredOptions:
    """What Settings and a SettingsSnapshot share: the declared options, looked up by key."""

    __slots__ = ()
    _specs: dict[str, SettingSpec]

    @property
    def specs(self) -> list[SettingSpec]:
        return list(self._specs.values())

    def spec(self, key: str) -> SettingSpec:
        try:
            return self._specs[key]
        except KeyError:
            raise KeyError(f"unknown setting {key!r}") from None

    def disabled_extensions(self) -> set[str]:
        return {name.strip() for name in str(self.get("disabled_extensions")).split(",") if name.strip()}


class Settings(DeclaredOptions):
    """Declared options and their values. Unknown keys found in config.json are kept (an
    extension may be disabled today and back tomorrow) but not offered. A stored value an option
    refuses (NaN, out of range, wrong type) is reported by problems() and its default used."""

    def __init__(self, path: Path, specs: Iterable[SettingSpec] = CORE_SETTINGS):
        self.path = path
        self._lock = threading.RLock()
        self._specs: dict[str, SettingSpec] = {}
        self._problems: list[str] = []
        self._values: dict[str, Any] = self._read()
        self.register(specs)

    @property
    def _lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def _read(self) -> dict[str, Any]:
        """The values in config.json ({} when there is none yet); SettingsFileError when it cannot be used."""
        advice = "fix it, or move it away to start with the default settings"
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as error:
            raise SettingsFileError(f"cannot read the settings file {self.path}: {error}; {advice}") from error
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            what = "is empty (not valid JSON)" if not text.strip() else f"is not valid JSON ({error})"
            raise SettingsFileError(f"the settings file {self.path} {what}; {advice}") from error
        if not isinstance(data, dict):
            kind = type(data).__name__
            raise SettingsFileError(f"the settings file {self.path} holds a {kind}, not a JSON object; {advice}")
        return data

    def register(self, specs: Iterable[SettingSpec], owner: str = "core") -> list[str]:
        """Declare options; returns messages for those refused (a key declared twice). Stored values
        the new options refuse are added to problems()."""
        refused = []
        with self._lock:
            for spec in specs:
                if spec.key in self._specs:
                    refused.append(f"{owner}: setting {spec.key!r} is already declared")
                    continue
                self._specs[spec.key] = spec
                if spec.key in self._values:
                    try:
                        spec.coerce(self._values[spec.key])
                    except ValueError as error:
                        self._problems.append(f"{self.path}: {error}; using the default {spec.default!r}")
        return refused

    def problems(self) -> list[str]:
        """Stored values that were refused at start (each also falls back to its default), to show once."""
        with self._lock:
            return list(self._problems)

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

    def checked_overrides(self, overrides: dict[str, Any] | None) -> dict[str, Any]:
        """{key: value} with each value coerced by its option; ValueError naming the first key that is
        unknown or whose value the option refuses (so an API request is refused before it is queued)."""
        checked = {}
        for key, value in (overrides or {}).items():
            if key not in self._specs:
                raise ValueError(f"override_settings: unknown setting {key!r}")
            try:
                checked[key] = self._specs[key].coerce(value)
            except ValueError as error:
                raise ValueError(f"override_settings: {error}") from None
        return checked

    def snapshot(self, overrides: dict[str, Any] | None = None) -> "SettingsSnapshot":
        """The values now, with `overrides` applied: what one job reads from start to end, whatever
        the Settings tab changes meanwhile. ValueError (see checked_overrides) for a bad override."""
        checked = self.checked_overrides(overrides)
        with self._lock:
            return SettingsSnapshot(dict(self._specs), {**self.values(), **checked})

    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Validate every change first, then write once: all or nothing. Returns what changed.

        The file is read again under the lock file before merging, so values another server on the
        same data dir saved meanwhile are kept. SettingsSaveError when the file cannot be written."""
        coerced = {key: self.spec(key).coerce(value) for key, value in changes.items()}
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)  # a fresh data dir
                with locked(self._lock_path):
                    self._values = self._read()
                    changed = {k: v for k, v in coerced.items() if self.get(k) != v or k not in self._values}
                    if changed:
                        merged = self._writable({**self._values, **changed})
                        text = json.dumps(merged, indent=2, sort_keys=True, allow_nan=False)
                        write_text_atomic(self.path, text + "\n")
                        self._values = merged
            except OSError as error:
                reason = error.strerror or str(error)
                raise SettingsSaveError(f"could not save the settings to {self.path}: {reason}", error.errno) from error
        return changed

    def _writable(self, values: dict[str, Any]) -> dict[str, Any]:
        """The values without those that cannot be stored: a declared option's refused value (its
        default applies anyway) or anything JSON has no finite form for (NaN read from a hand edit)."""
        kept = {}
        for key, value in values.items():
            if key in self._specs:
                try:
                    self._specs[key].coerce(value)
                except ValueError:
                    continue
            try:
                json.dumps(value, allow_nan=False)
            except ValueError:
                continue
            kept[key] = value
        return kept


class SettingsSnapshot(DeclaredOptions):
    """Frozen values of every declared option, read like Settings (`get(key)`, `values()`). A job
    holds one, so a setting changed while it runs (or waits) leaves it as it was asked for."""

    __slots__ = ("_specs", "_values")

    def __init__(self, specs: dict[str, SettingSpec], values: dict[str, Any]):
        object.__setattr__(self, "_specs", specs)
        object.__setattr__(self, "_values", values)

    def __setattr__(self, name, value):
        raise AttributeError("a settings snapshot cannot be changed")

    def get(self, key: str) -> Any:
        self.spec(key)  # an unknown key raises as Settings.get does
        return self._values[key]

    def values(self) -> dict[str, Any]:
        return dict(self._values)
