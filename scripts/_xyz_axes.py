"""The X/Y/Z plot's axis table: what each axis type changes in a cell's request.

Most axes are request-field overrides (`p.process(**{field: value})`); those backed by a setting
go through `override_settings`. The named axes are A1111 v1.10's; after them every request field
that declares an infotext key (modules/images/infotext.infotext_keys()) and no named axis covers
is offered too, labelled with its infotext key, with no code of its own.

Axis type by index: A1111 clients send the index into A1111 v1.10's axis list as shown on the
tab (its `current_axis_options`: the list without the other tab's entries). A1111_TXT2IMG_AXES /
A1111_IMG2IMG_AXES are those lists, so an index means the axis it means in A1111; an index naming
an axis this app lacks (VAE, Face restore...) is refused with its name. Indices past A1111's list
reach this app's extra (infotext-key) axes in the order `axis_labels(mode)` gives.
"""

from __future__ import annotations

import itertools
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modules.processing.request import GenerationRequest, HiresKnobs, Img2ImgKnobs
from scripts._xyz_values import MAX_VALUES, parse_axis_values

# A1111 v1.10's axis lists as each tab shows them (index -> label), for positional clients.
_A1111_COMMON_HEAD = ("Nothing", "Seed", "Var. seed", "Var. strength", "Steps")
_A1111_TAIL = (
    "Checkpoint name", "Negative Guidance minimum sigma", "Sigma Churn", "Sigma min", "Sigma max", "Sigma noise",
    "Schedule type", "Schedule min sigma", "Schedule max sigma", "Schedule rho", "Beta schedule alpha",
    "Beta schedule beta", "Eta", "Clip skip", "Denoising", "Initial noise multiplier", "Extra noise",
)  # fmt: skip
_A1111_END = (
    "VAE", "Styles", "UniPC Order", "Face restore", "Token merging ratio", "Token merging ratio high-res",
    "Always discard next-to-last sigma", "SGM noise multiplier", "Refiner checkpoint", "Refiner switch at",
    "RNG source", "FP8 mode", "Size",
)  # fmt: skip
A1111_TXT2IMG_AXES = (
    *_A1111_COMMON_HEAD, "Hires steps", "CFG Scale", "Prompt S/R", "Prompt order", "Sampler", "Hires sampler",
    *_A1111_TAIL, "Hires upscaler", *_A1111_END,
)  # fmt: skip
A1111_IMG2IMG_AXES = (
    *_A1111_COMMON_HEAD, "CFG Scale", "Image CFG Scale", "Prompt S/R", "Prompt order", "Sampler",
    *_A1111_TAIL, "Cond. Image Mask Weight", *_A1111_END,
)  # fmt: skip
MAX_PROMPT_ORDER_TOKENS = 5  # 5! = 120 orders; 6 would be 720, over the cell limit


@dataclass
class AxisContext:
    """What validating an axis may look at: the request and the lists names resolve against
    (None: not known here, checked per cell by p.process instead)."""

    request: GenerationRequest | None  # None: a syntax check only (the script's Args, at submit)
    mode: str  # "txt2img" or "img2img"
    checkpoints: list[str] | None = None
    # A checkpoint name as the user may write it (name, title, stem, hash) -> its listed name.
    resolve_checkpoint: Callable[[str], str] | None = None
    styles: list[str] | None = None
    upscalers: list[str] | None = None
    setting_choices: Callable[[str], tuple] = lambda key: ()
    vaes: list[str] | None = None  # "SD VAE" values: Automatic, None, the listed files


def engine_context(engine, mode: str, request=None, settings=None, upscalers=None) -> AxisContext:
    """The lists the engine holds now (checkpoints, styles, upscalers, settings' choices): for
    checking a plot's values, and for the UI's pickers (read when an axis type is picked)."""
    checkpoints = styles = resolve = vaes = None
    if engine is not None:
        vaes = engine.vaes.choices() if getattr(engine, "vaes", None) is not None else None
        checkpoints = sorted((info.name for info in engine.models.checkpoints()), key=str.casefold)
        styles = list(engine.styles.styles)
        resolve = lambda name: engine.models.resolve(name).name  # noqa: E731 - listed names only
        upscalers = upscalers if upscalers is not None else getattr(engine, "upscalers", None)
        settings = settings if settings is not None else engine.settings
    names = upscalers.names() if upscalers is not None else None

    def setting_choices(key: str) -> tuple:
        try:
            return tuple(settings.spec(key).choices) if settings is not None else ()
        except KeyError:
            return ()

    return AxisContext(request, mode, checkpoints, resolve, styles, names, setting_choices, vaes)


@dataclass(frozen=True)
class Axis:
    label: str
    kind: type = str  # int, float or str: how the values text is read
    fields: tuple[str, ...] = ()  # request fields it sets (one, or two for "WxH" axes)
    setting: str | None = None  # or the setting it overrides
    choices: Callable[[AxisContext], list[str] | None] | None = None
    cost: float = 0.0  # costly axes (checkpoints) are looped outermost, so each loads once
    modes: tuple[str, ...] = ("txt2img", "img2img")
    legend: str = "label"  # "label": "Steps: 20"; "value": the value alone; "none"
    special: str = ""  # "prompt_sr", "prompt_order", "styles", "size", "nothing", "optional_name"

    def parse(self, text: str, ctx: AxisContext, name: str) -> list:
        """The axis' values from its text, checked before any cell is made (ValueError naming the axis)."""
        where = f"{name} axis ({self.label})"
        if self.special == "nothing":
            return [None]
        values = parse_axis_values(where, text, self.kind)
        if not values:
            raise ValueError(f"{where}: no values")
        if self.special == "prompt_order":
            if len(values) > MAX_PROMPT_ORDER_TOKENS:
                raise ValueError(f"{where}: at most {MAX_PROMPT_ORDER_TOKENS} tokens to order")
            values = [list(order) for order in itertools.permutations(values)]
        elif self.special == "prompt_sr":
            search = values[0]
            request = ctx.request
            if request is not None and search not in request.prompt and search not in request.negative_prompt:
                raise ValueError(f"{where}: {search!r} is not in the prompt or the negative prompt")
        elif self.special == "size":
            values = [_parse_size(where, value) for value in values]
        if self.fields and self.fields[0] in ("checkpoint", "refiner_checkpoint") and ctx.resolve_checkpoint:
            return [
                _checkpoint(where, value, ctx.resolve_checkpoint, self.special == "optional_name") for value in values
            ]
        options = self.choices(ctx) if self.choices else None
        if options is not None:
            values = [_pick(where, value, options, self.special == "optional_name") for value in values]
        return values

    def apply(self, overrides: dict, value: Any, values: list, request: GenerationRequest) -> None:
        """Put this axis' value for one cell into `overrides` (request fields)."""
        if self.special == "nothing":
            return
        if self.special == "prompt_sr":
            for name in ("prompt", "negative_prompt"):
                overrides[name] = overrides.get(name, getattr(request, name)).replace(values[0], value)
        elif self.special == "prompt_order":
            overrides["prompt"] = _reorder(overrides.get("prompt", request.prompt), value)
        elif self.special == "styles":
            names = [name.strip() for name in value.split(",") if name.strip()]
            overrides["styles"] = [*overrides.get("styles", request.styles), *names]
        elif self.special == "size":
            overrides["width"], overrides["height"] = value
        elif self.setting:
            settings = dict(overrides.get("override_settings", request.override_settings))
            settings[self.setting] = value
            overrides["override_settings"] = settings
        elif len(self.fields) == 2:
            overrides[self.fields[0]], overrides[self.fields[1]] = _parse_size(self.label, str(value))
        else:
            overrides[self.fields[0]] = None if self.special == "optional_name" and value == "None" else value

    def format(self, value: Any) -> str:
        """The legend text for one value (A1111's format_value_add_label / format_value)."""
        if self.special == "nothing" or self.legend == "none":
            return ""
        if self.special == "prompt_order":
            return ", ".join(value)
        if self.special == "size":
            value = f"{value[0]}x{value[1]}"
        if isinstance(value, float):
            value = round(value, 8)
        if self.legend == "value":
            return str(value).rsplit("/", 1)[-1]
        return f"{self.label}: {value}"


def _parse_size(where: str, text: str) -> tuple[int, int]:
    parts = str(text).lower().split("x")
    try:
        width, height = (int(part.strip()) for part in parts)
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a size like 512x768") from None
    return width, height


def _pick(where: str, value: Any, options: list[str], allow_none: bool) -> str:
    """A listed name (matched without regard to case); anything else is refused, listing the names."""
    if allow_none and str(value).strip().lower() == "none":
        return "None"
    for option in options:
        if option.lower() == str(value).strip().lower():
            return option
    shown = ", ".join(options[:20]) + (" ..." if len(options) > 20 else "")
    raise ValueError(f"{where}: unknown value {value!r}; choose one of: {shown}")


def _checkpoint(where: str, value: str, resolve: Callable[[str], str], allow_none: bool) -> str:
    if allow_none and value.strip().lower() == "none":
        return "None"
    try:
        return resolve(value)
    except (ValueError, LookupError) as error:
        raise ValueError(f"{where}: {error}") from None


def _reorder(prompt: str, order: list[str]) -> str:
    """A1111's Prompt order: the tokens, found in the prompt, put back in `order`."""
    found = sorted((prompt.find(token), token) for token in order)
    parts, rest = [], prompt
    for _, token in found:
        at = rest.find(token)
        if at < 0:
            parts.append(rest)
            rest = ""
            continue
        parts.append(rest[:at])
        rest = rest[at + len(token) :]
    return "".join(part + order[index] for index, part in enumerate(parts)) + rest


def _samplers(ctx: AxisContext) -> list[str]:
    from modules.sampling import catalog

    return catalog.sampler_names()


def _schedules(ctx: AxisContext) -> list[str]:
    from modules.sampling.catalog import SCHEDULE_TYPES

    return list(SCHEDULE_TYPES)


def _hires_upscalers(ctx: AxisContext) -> list[str]:
    from modules.processing.upscalers import UPSCALERS

    return list(dict.fromkeys([*UPSCALERS, *(ctx.upscalers or [])]))


def _setting_choices(key: str) -> Callable[[AxisContext], list[str] | None]:
    return lambda ctx: list(ctx.setting_choices(key)) or None


NAMED_AXES = (
    Axis("Nothing", special="nothing", legend="none"),
    Axis("Seed", int, ("seed",)),
    Axis("Var. seed", int, ("subseed",)),
    Axis("Var. strength", float, ("subseed_strength",)),
    Axis("Steps", int, ("steps",)),
    Axis("Hires steps", int, ("hr_second_pass_steps",), modes=("txt2img",)),
    Axis("CFG Scale", float, ("cfg_scale",)),
    Axis("Prompt S/R", special="prompt_sr", legend="value"),
    Axis("Prompt order", special="prompt_order"),
    Axis("Sampler", fields=("sampler_name",), choices=_samplers, legend="value"),
    Axis("Hires sampler", fields=("hr_sampler_name",), choices=_samplers, modes=("txt2img",)),
    Axis("Checkpoint name", fields=("checkpoint",), choices=lambda ctx: ctx.checkpoints, cost=1.0, legend="value"),
    Axis("Sigma Churn", float, ("s_churn",)),
    Axis("Sigma min", float, ("s_tmin",)),
    Axis("Sigma max", float, ("s_tmax",)),
    Axis("Sigma noise", float, ("s_noise",)),
    Axis("Schedule type", fields=("scheduler",), choices=_schedules),
    Axis("Eta", float, ("eta",)),
    Axis("Clip skip", int, ("clip_skip",)),
    Axis("Denoising", float, ("denoising_strength",)),
    Axis("Initial noise multiplier", float, ("initial_noise_multiplier",)),
    Axis("Extra noise", float, setting="img2img_extra_noise"),
    Axis("Hires upscaler", fields=("hr_upscaler",), choices=_hires_upscalers, modes=("txt2img",)),
    Axis("Styles", special="styles", choices=lambda ctx: ctx.styles),
    # A VAE per cell: the job applies its own "SD VAE" (override_settings) before decoding.
    Axis("VAE", setting="sd_vae", choices=lambda ctx: ctx.vaes, legend="value"),
    Axis("Image CFG Scale", float, ("image_cfg_scale",), modes=("img2img",)),
    Axis("Cond. Image Mask Weight", float, setting="inpainting_mask_weight", modes=("img2img",)),
    Axis(
        "Refiner checkpoint",
        fields=("refiner_checkpoint",),
        choices=lambda ctx: ctx.checkpoints,
        cost=1.0,
        legend="value",
        special="optional_name",
    ),
    Axis("Refiner switch at", float, ("refiner_switch_at",)),
    Axis("RNG source", setting="randn_source", choices=_setting_choices("randn_source")),
    Axis("Size", special="size"),
)


def _kind_of(annotation: Any) -> type:
    """int, float or str for a request field's annotation (Optional and Annotated unwrapped)."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = next((arg for arg in typing.get_args(annotation) if arg is not type(None)), str)
    if annotation is bool:
        return str
    return annotation if annotation in (int, float) else str


def _infotext_axes() -> list[Axis]:
    """One axis per declared infotext key that no named axis covers (label = the key)."""
    from modules.images.infotext import infotext_keys

    covered = {name for axis in NAMED_AXES for name in (*axis.fields, *([axis.setting] if axis.setting else []))}
    covered |= {"width", "height", "prompt", "styles"}
    hires_only = set(HiresKnobs.model_fields) - {"denoising_strength"}
    img2img_only = set(Img2ImgKnobs.model_fields) - {"initial_noise_multiplier"}
    axes = []
    for key in infotext_keys():
        if key.field.startswith("override_settings."):
            setting = key.field.split(".", 1)[1]
            if setting not in covered:
                axes.append(Axis(key.key, str, setting=setting, choices=_setting_choices(setting)))
            continue
        names = tuple(key.field.split(","))
        if any(name in covered for name in names):
            continue
        modes = ("txt2img",) if set(names) <= hires_only else ("img2img",) if set(names) <= img2img_only else None
        kind = str if len(names) == 2 else _kind_of(GenerationRequest.model_fields[names[0]].annotation)
        axes.append(Axis(key.key, kind, names, modes=modes or ("txt2img", "img2img")))
    return axes


def axes_for(mode: str) -> list[Axis]:
    """The axes offered in a tab: the named ones, then the infotext-key ones."""
    return [axis for axis in (*NAMED_AXES, *_infotext_axes()) if mode in axis.modes]


def axis_labels(mode: str) -> list[str]:
    return [axis.label for axis in axes_for(mode)]


def find_axis(mode: str, wanted: Any, name: str) -> Axis:
    """An axis by label (any case) or by index into A1111's list for the tab (see the module doc)."""
    axes = axes_for(mode)
    by_label = {axis.label.lower(): axis for axis in axes}
    if isinstance(wanted, bool):
        wanted = int(wanted)
    if isinstance(wanted, float) and math.isfinite(wanted) and wanted.is_integer():
        wanted = int(wanted)
    if isinstance(wanted, str) and wanted.strip().isdigit():
        wanted = int(wanted.strip())
    if isinstance(wanted, int):
        a1111 = A1111_TXT2IMG_AXES if mode == "txt2img" else A1111_IMG2IMG_AXES
        ours_extra = [axis.label for axis in axes if axis.label not in a1111]
        table = [*a1111, *ours_extra]
        if not 0 <= wanted < len(table):
            raise ValueError(f"{name} type: index {wanted} is out of range (0-{len(table) - 1})")
        wanted = table[wanted]
    axis = by_label.get(str(wanted).strip().lower())
    if axis is None:
        raise ValueError(
            f"{name} type: {wanted!r} is not an axis here; choose one of: {', '.join(a.label for a in axes)}"
        )
    return axis


def check_axis_count(values: list, name: str) -> None:
    if len(values) > MAX_VALUES:
        raise ValueError(f"{name} axis: too many values (at most {MAX_VALUES})")


@dataclass
class CellPlan:
    """One cell: its place on the axes and the request fields it changes."""

    ix: int
    iy: int
    iz: int
    overrides: dict = field(default_factory=dict)
