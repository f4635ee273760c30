"""Read a network file into tensors without ever running code from it.

`.safetensors` holds only tensors. `.pt`/`.ckpt` are pickles: they are read with
`torch.load(weights_only=True)`, which refuses any pickle that would import or call anything
beyond plain tensors and containers, so a booby-trapped file is an error, never an execution.
"""

import pickle
from pathlib import Path
from typing import TYPE_CHECKING

from safetensors import safe_open

if TYPE_CHECKING:
    import torch


class NetworkFileError(Exception):
    """A network file that cannot be used; the message says which file and why."""


def load_tensors(path: Path) -> "dict[str, torch.Tensor]":
    # torch is imported here, not at the top: the extension loads at start-up (listing networks
    # reads only metadata), and importing torch then would delay the page by seconds.
    import torch
    from safetensors.torch import load_file

    if path.suffix.lower() == ".safetensors":
        try:
            return load_file(str(path), device="cpu")
        except Exception as error:  # noqa: BLE001 - safetensors raises several kinds for a bad file
            raise NetworkFileError(f"{path.name}: not a readable .safetensors file ({error})") from error
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise NetworkFileError(
            f"{path.name} was refused: it is a pickle that wants to run code or build objects other than "
            f"tensors, and such files are never executed here ({_what_it_wanted(error)}). "
            "Use a .safetensors version of this network."
        ) from None
    except Exception as error:  # noqa: BLE001 - a truncated or foreign file
        raise NetworkFileError(f"{path.name}: not a readable PyTorch file ({error})") from error
    # Some trainers nest the weights one level down.
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict):
        raise NetworkFileError(f"{path.name}: holds a {type(loaded).__name__}, not a dict of tensors")
    return {key: value for key, value in loaded.items() if isinstance(key, str) and isinstance(value, torch.Tensor)}


def _what_it_wanted(error: pickle.UnpicklingError) -> str:
    # torch's message is long advice on how to load the file anyway; keep only the line naming
    # what the pickle asked for ("Unsupported global: GLOBAL io.open ...").
    for line in str(error).splitlines():
        if "Unsupported global" in line or "Unsupported operand" in line:
            return line.split("error:", 1)[-1].strip().split(". Please use")[0]
    return "not a plain tensor file"


def read_metadata(path: Path) -> dict[str, str]:
    """The `__metadata__` of a .safetensors file ({} for other files: a pickle is not opened just to list it)."""
    if path.suffix.lower() != ".safetensors":
        return {}
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            return dict(handle.metadata() or {})
    except Exception:  # noqa: BLE001 - a broken file lists without metadata; loading it reports the error
        return {}
