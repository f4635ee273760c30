"""A group of controls that map one-to-one onto request fields, each with a default."""

from dataclasses import dataclass

from pydantic import BaseModel


def field_defaults(model: type[BaseModel], **shown_as) -> dict:
    """The request model's own defaults, so the UI cannot drift from them; `shown_as` replaces
    values the UI displays differently (e.g. None as "Use same sampler")."""
    return {name: field.default for name, field in model.model_fields.items()} | shown_as


@dataclass
class FieldGroup:
    fields: dict  # request field name -> component, in input order
    defaults: dict  # request field name -> the value when unset

    @property
    def components(self) -> list:
        return list(self.fields.values())

    def values(self, raw) -> dict:
        """{field: value} from the components' values, in order. A control in a never-opened
        accordion can arrive as None: that means its default."""
        return {name: self.defaults[name] if value is None else value
                for name, value in zip(self.fields, raw, strict=True)}  # fmt: skip

    def pasted_values(self, fields: dict) -> dict:
        """{component: value} from pasted infotext: what it names, the defaults for the rest."""
        return {component: fields.get(name, self.defaults[name]) for name, component in self.fields.items()}
