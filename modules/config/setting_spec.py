"""One declared option: its key, default, label, Settings-tab section and control, and how a
value given for it is checked and converted. Kept apart from the registry so that the groups of
options declared in their own modules (model_settings.py, ...) can import it."""

import math
from dataclasses import dataclass
from typing import Any

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
            return self._coerce_number(value)
        if self.kind == "dropdown":
            if self.choices and value not in self.choices:
                raise ValueError(f"{self.key}: {value!r} is not one of {list(self.choices)}")
            return value
        if not isinstance(value, str):
            raise ValueError(f"{self.key}: expected text, got {value!r}")
        return value

    def _coerce_number(self, value: Any) -> int | float:
        """A finite number within [minimum, maximum]; a whole number when the default is an int.
        Numeric strings are accepted ("7", "0.5"); NaN and infinities never are (NaN passes every
        `<`/`>` check, and one stored would break every later job)."""
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"{self.key}: expected a number, got {value!r}")
        number: int | float
        if isinstance(value, str):
            try:
                number = int(value.strip())
            except ValueError:
                try:
                    number = float(value.strip())
                except ValueError:
                    raise ValueError(f"{self.key}: expected a number, got {value!r}") from None
        else:
            number = value
        if isinstance(number, float) and not math.isfinite(number):
            raise ValueError(f"{self.key}: expected a finite number, got {value!r}")
        if self.minimum is not None and number < self.minimum:
            raise ValueError(f"{self.key}: {number} is below the minimum {self.minimum}")
        if self.maximum is not None and number > self.maximum:
            raise ValueError(f"{self.key}: {number} is above the maximum {self.maximum}")
        if isinstance(self.default, int) and not isinstance(self.default, bool):
            if isinstance(number, float):
                if not number.is_integer():
                    raise ValueError(f"{self.key}: expected a whole number, got {value!r}")
                number = int(number)
            return number
        if isinstance(number, int) and isinstance(self.default, float):
            try:
                return float(number)
            except OverflowError:
                raise ValueError(f"{self.key}: the number is too large") from None
        return number
