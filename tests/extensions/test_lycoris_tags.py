"""Tag syntax: what each `<lora:...>` form asks for (A1111's rules)."""

import pytest

from modules.plugins.types import ExtraNetworkCall
from tests.extensions.lycoris_support import ext_module


def request(body: str, tag: str = "lora"):
    return ext_module("tags").parse_call(ExtraNetworkCall.from_tag(tag, body))


@pytest.mark.parametrize(
    ("body", "name", "te", "unet"),
    [
        ("style", "style", 1.0, 1.0),
        ("style:0.8", "style", 0.8, 0.8),
        ("style:0.8:0.5", "style", 0.8, 0.5),
        ("style:te=0.3", "style", 0.3, 0.3),  # the UNet follows the text encoder unless told
        ("style:unet=0.2", "style", 1.0, 0.2),
        ("style:te=0.5:unet=0.8", "style", 0.5, 0.8),
        ("style:0.9:unet=0.1", "style", 0.9, 0.1),
        ("style:0.9:0.4:te=0.2", "style", 0.2, 0.4),  # named beats positional
        ("style:-1", "style", -1.0, -1.0),  # negative strengths are allowed, as in A1111
        ("sub/ink-v2:0.6", "sub/ink-v2", 0.6, 0.6),
        ("style:1:1:64", "style", 1.0, 1.0),  # A1111's DyLoRA `dyn` slot: accepted, ignored
    ],
)
def test_tag_forms(body, name, te, unet):
    parsed = request(body)
    assert (parsed.name, parsed.te, parsed.unet) == (name, te, unet)


def test_lyco_tags_read_the_same():
    assert request("style:0.7:0.3", tag="lyco") == request("style:0.7:0.3")


@pytest.mark.parametrize(
    ("body", "message"), [("", "needs a network name"), ("style:heavy", "'heavy' is not a number")]
)
def test_malformed_tags_say_what_is_wrong(body, message):
    with pytest.raises(ValueError, match=message):
        request(body)
