"""What one `<lora:...>` / `<lyco:...>` tag asks for, in A1111's syntax:

    <lora:name>                  text encoder and UNet at 1.0
    <lora:name:0.8>              both at 0.8
    <lora:name:0.8:0.5>          text encoder 0.8, UNet 0.5
    <lora:name:te=0.8:unet=0.5>  named forms; a named value wins over a positional one

A1111's fourth positional (`dyn`, DyLoRA rank cut) is accepted and ignored.
"""

from dataclasses import dataclass

from modules.plugins.types import ExtraNetworkCall


@dataclass(frozen=True)
class NetworkRequest:
    name: str  # file name without extension (or a subfolder path, or the file's alias)
    te: float  # strength on the text encoder
    unet: float  # strength on the UNet


def parse_call(call: ExtraNetworkCall) -> NetworkRequest:
    """The request a tag makes; ValueError with a readable message when it is malformed."""
    positional = list(call.positional)
    if not positional or not positional[0]:
        raise ValueError(f"<{call.name}:...> needs a network name, e.g. <{call.name}:my-style:0.8>")
    name = positional[0]
    te = _number(call, "weight", positional[1]) if len(positional) > 1 and positional[1] else 1.0
    te = _number(call, "te", call.named["te"]) if "te" in call.named else te
    # As in A1111: without its own value the UNet follows the text-encoder weight.
    unet = _number(call, "unet", positional[2]) if len(positional) > 2 and positional[2] else te
    unet = _number(call, "unet", call.named["unet"]) if "unet" in call.named else unet
    return NetworkRequest(name=name, te=te, unet=unet)


def _number(call: ExtraNetworkCall, what: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"<{call.name}:{call.positional[0]}:...>: {what} {text!r} is not a number") from None
