"""What the Checkpoint Merger is asked for: the recipe and its checks. Kept apart from the merge
itself (merging.py) so the tab can be built without importing torch."""

import math
import re
from dataclasses import dataclass

INTERP_METHODS = ("No interpolation", "Weighted sum", "Add difference")
CONFIG_SOURCES = ("A, B or C", "B", "C", "Don't")
_MAX_NAME = 200
_NAME_SUFFIXES = (".safetensors", ".ckpt")


@dataclass(frozen=True)
class MergeRecipe:
    """What the Checkpoint Merger tab (or a caller) asks for. Names are checkpoint names as listed."""

    primary: str
    secondary: str | None = None
    tertiary: str | None = None
    interp: str = "Weighted sum"
    multiplier: float = 0.3
    custom_name: str = ""
    save_as_half: bool = False
    bake_in_vae: str | None = None
    copy_config_from: str = "A, B or C"
    discard_weights: str = ""
    save_metadata: bool = True

    def __post_init__(self):
        if self.interp not in INTERP_METHODS:
            raise ValueError(f"interpolation method {self.interp!r} is not one of {', '.join(INTERP_METHODS)}")
        if self.copy_config_from not in CONFIG_SOURCES:
            raise ValueError(f"copy config from {self.copy_config_from!r} is not one of {', '.join(CONFIG_SOURCES)}")
        if not isinstance(self.multiplier, int | float) or not math.isfinite(self.multiplier):
            raise ValueError(f"multiplier (M) must be a finite number, not {self.multiplier!r}")
        roles = ("primary model (A)", "secondary model (B)", "tertiary model (C)")
        for role, name in zip(roles, self.names(), strict=False):
            if not (name or "").strip():
                raise ValueError(f"{self.interp} needs a {role}")
        if self.custom_name.strip():
            sanitized_name(self.custom_name)
        discard_pattern(self.discard_weights)

    def names(self) -> tuple[str | None, ...]:
        """The checkpoints this method reads: A; A and B; or A, B and C."""
        wanted = 1 + INTERP_METHODS.index(self.interp)
        return (self.primary, self.secondary, self.tertiary)[:wanted]


def sanitized_name(custom: str) -> str:
    """A custom output name as a bare file name without extension; a path or hidden name is refused."""
    name = custom.strip()
    for suffix in _NAME_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)].rstrip()
    if not name or "/" in name or "\\" in name or name.startswith(".") or any(ord(ch) < 32 for ch in name):
        raise ValueError(f"custom name {custom!r} must be a plain file name (no folders, not starting with '.')")
    if len(name) > _MAX_NAME:
        raise ValueError(f"custom name is longer than {_MAX_NAME} characters")
    return name


def discard_pattern(text: str) -> "re.Pattern | None":
    if not (text or "").strip():
        return None
    try:
        return re.compile(text)
    except re.error as error:
        raise ValueError(
            f"Discard weights with matching name: {text!r} is not a valid regular expression ({error})"
        ) from None


def submit_merge(engine, recipe: MergeRecipe):
    """Queue the merge (modules/models/merging.py does it; imported here, when a merge is asked for)."""
    from modules.models import merging

    return merging.submit_merge(engine, recipe)
