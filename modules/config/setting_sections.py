"""How the Settings tab groups options: A1111's sections in A1111's order, then extensions' own
sections in the order they were declared. Pure functions over SettingSpecs (no UI), so the page
layout and the search are tested without a browser."""

from collections.abc import Iterable

from modules.config.settings import SettingSpec

# A1111's Settings pages, in its order.
SECTION_ORDER = (
    "Saving images",
    "Paths",
    "Stable Diffusion",
    "SDXL",
    "VAE",
    "img2img",
    "Optimizations",
    "Compatibility",
    "Extra Networks",
    "UI",
    "Infotext",
    "Live previews",
    "Sampler parameters",
    "Postprocessing",
    "System",
    "API",
)

# Section names this project used before it followed A1111; an extension may still declare them.
LEGACY_SECTIONS = {
    "Prompts": "Stable Diffusion",
    "Sampling": "Sampler parameters",
    "Upscaling": "Postprocessing",
    "Limits": "System",
    "Extensions": "System",
    "Other": "System",
}


def page_of(spec: SettingSpec) -> str:
    return LEGACY_SECTIONS.get(spec.section, spec.section)


def group_by_page(specs: Iterable[SettingSpec]) -> dict[str, list[SettingSpec]]:
    """{page: its options}: A1111's pages first in its order, then the others (extensions') in the
    order first declared. A page without options is left out."""
    pages: dict[str, list[SettingSpec]] = {}
    for spec in specs:
        pages.setdefault(page_of(spec), []).append(spec)
    known = [name for name in SECTION_ORDER if name in pages]
    others = [name for name in pages if name not in SECTION_ORDER]
    return {name: pages[name] for name in (*known, *others)}


def matches(spec: SettingSpec, query: str) -> bool:
    """True when every word of `query` is in the option's label, key or page (case-insensitive)."""
    haystack = f"{spec.label} {spec.key} {page_of(spec)}".lower()
    return all(word in haystack for word in query.lower().split())


def quicksettings_keys(text: str, declared: Iterable[str]) -> tuple[list[str], list[str]]:
    """`quicksettings_list` ("key, key, ...") -> (keys to show, in order and once each; keys that are
    not declared). "sd_model_checkpoint" is always known: it is the checkpoint dropdown."""
    known = {*declared, "sd_model_checkpoint"}
    shown, unknown = [], []
    for key in (part.strip() for part in str(text).split(",")):
        if not key or key in shown:
            continue
        (shown if key in known else unknown).append(key)
    return shown, unknown
