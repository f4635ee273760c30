"""Controls built from request fields, and read back by field name.

A slider's limits and default are the request field's own (its pydantic Ge/Le metadata), so no
limit is typed twice. A FieldGroup maps request field names to the components that show them, so
an event handler takes its inputs as one dict ({component: value}, Gradio's set-of-inputs form)
and reads them by field name, never by position.
"""

from dataclasses import dataclass

import annotated_types
import gradio as gr
from pydantic import BaseModel


@dataclass(frozen=True)
class FieldLimits:
    minimum: float | None
    maximum: float | None
    default: object


def field_default(model: type[BaseModel], name: str):
    """The field's default, a default_factory called (e.g. [] for a list)."""
    return model.model_fields[name].get_default(call_default_factory=True)


def field_defaults(model: type[BaseModel], **shown_as) -> dict:
    """The request model's own defaults, so the UI cannot drift from them; `shown_as` replaces
    values the UI displays differently (e.g. None as "Use same sampler")."""
    return {name: field_default(model, name) for name in model.model_fields} | shown_as


def field_limits(model: type[BaseModel], name: str) -> FieldLimits:
    """The inclusive limits the model enforces on a field (None: unbounded on that side)."""
    minimum = maximum = None
    for item in model.model_fields[name].metadata:
        if isinstance(item, annotated_types.Ge):
            minimum = item.ge
        elif isinstance(item, annotated_types.Le):
            maximum = item.le
        elif isinstance(item, (annotated_types.Gt, annotated_types.Lt)):
            raise TypeError(f"{model.__name__}.{name}: an exclusive limit cannot be shown as a slider's end")
    return FieldLimits(minimum, maximum, field_default(model, name))


def _within(limits: FieldLimits, model: type[BaseModel], name: str, what: str, value) -> None:
    """A UI may show a narrower range than the model allows, never a wider one."""
    low_ok = limits.minimum is None or value >= limits.minimum
    high_ok = limits.maximum is None or value <= limits.maximum
    if not (low_ok and high_ok):
        raise ValueError(
            f"{what} {value} for {model.__name__}.{name} is outside its limits {limits.minimum}..{limits.maximum}"
        )


def slider_for(
    model: type[BaseModel],
    name: str,
    *,
    step: float = 1,
    minimum: float | None = None,
    maximum: float | None = None,
    value=None,
    **kwargs,
) -> gr.Slider:
    """A slider over the field's limits, starting at its default. `minimum`/`maximum` may narrow
    the range (e.g. 0 as "off" where the model also accepts -1) and `value` may start elsewhere
    (e.g. the checkpoint's native size); both must lie within the model's limits."""
    limits = field_limits(model, name)
    if limits.minimum is None or limits.maximum is None:
        raise TypeError(f"{model.__name__}.{name} has no upper and lower limit to make a slider of")
    for what, given in (("minimum", minimum), ("maximum", maximum), ("value", value)):
        if given is not None:
            _within(limits, model, name, what, given)
    return gr.Slider(
        limits.minimum if minimum is None else minimum,
        limits.maximum if maximum is None else maximum,
        value=limits.default if value is None else value,
        step=step,
        **kwargs,
    )


def number_for(model: type[BaseModel], name: str, *, value=None, **kwargs) -> gr.Number:
    """A number box bounded by the field's limits, starting at its default; whole numbers for an
    int field."""
    limits = field_limits(model, name)
    if value is not None:
        _within(limits, model, name, "value", value)
    annotation = model.model_fields[name].annotation
    kwargs.setdefault("precision", 0 if annotation is int else None)
    return gr.Number(
        value=limits.default if value is None else value, minimum=limits.minimum, maximum=limits.maximum, **kwargs
    )


@dataclass
class FieldGroup:
    fields: dict  # request field name -> component
    defaults: dict  # request field name -> the value when unset

    @property
    def components(self) -> list:
        return list(self.fields.values())

    def values(self, by_component: dict) -> dict:
        """{field: value} from an event's {component: value}. A control in a never-opened
        accordion can arrive as None: that means its default."""
        chosen = {name: by_component[component] for name, component in self.fields.items()}
        return {name: self.defaults[name] if value is None else value for name, value in chosen.items()}

    def pasted_values(self, fields: dict) -> dict:
        """{component: value} from pasted infotext: what it names, the defaults for the rest."""
        return {component: fields.get(name, self.defaults[name]) for name, component in self.fields.items()}
