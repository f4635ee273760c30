"""Extra-network tags in prompts: `<lora:name:0.8>` is stripped from the text and handed,
parsed, to the extension that registered the name "lora"."""

import re

from modules.plugins.types import ExtraNetworkCall

# A1111's form: a word, a colon, then anything up to the closing bracket.
TAG = re.compile(r"<(\w+):([^>]+)>")


def strip_tags(text: str) -> tuple[str, list[ExtraNetworkCall]]:
    """The prompt without its tags, and the tags in the order they appear."""
    calls = [ExtraNetworkCall.from_tag(m[1], m[2]) for m in TAG.finditer(text)]
    return TAG.sub("", text), calls


def group_by_name(calls: list[ExtraNetworkCall]) -> dict[str, list[ExtraNetworkCall]]:
    grouped: dict[str, list[ExtraNetworkCall]] = {}
    for call in calls:
        grouped.setdefault(call.name, []).append(call)
    return grouped
