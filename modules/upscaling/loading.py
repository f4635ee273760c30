"""Reading an upscaler file without running pickled code, and handing its weights to spandrel,
which detects the architecture (ESRGAN, SwinIR, DAT, HAT, SCUNet ...) from the tensor names."""

import importlib.util
import pickle
import sys
import types
from enum import Enum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch loads with the first model read, not when the list is made at start-up
    import torch

# spandrel returns a descriptor per purpose; only these turn one picture into a bigger/cleaner one.
IMAGE_PURPOSES = ("SR", "Restoration")


class UpscalerLoadError(ValueError):
    """The file is not a model spandrel can run as an upscaler; the message says why."""


def read_state_dict(path: Path) -> "dict[str, torch.Tensor]":
    """The tensors of a .pth/.pt (torch.load with weights_only: a pickle that would run code is
    refused, not run) or a .safetensors file, on the CPU."""
    import torch

    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UpscalerLoadError(f"{path.name}: refused: its pickle holds objects other than tensors "
                                "(unpickling it could run code)") from None  # fmt: skip
    except Exception as error:  # noqa: BLE001 - any unreadable file is reported the same way
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UpscalerLoadError(f"{path.name}: not a readable weights file ({reason[:300]})") from None
    if not isinstance(state, dict):
        raise UpscalerLoadError(f"{path.name}: holds a {type(state).__name__}, not a dictionary of tensors")
    return state


def load_descriptor(path: Path):
    """A spandrel ImageModelDescriptor (in eval mode, on the CPU) for the file at `path`."""
    spandrel = import_spandrel()
    state = read_state_dict(path)
    try:
        descriptor = spandrel.ModelLoader(device="cpu").load_from_state_dict(state)
    except spandrel.UnsupportedModelError:
        raise UpscalerLoadError(f"{path.name}: spandrel does not recognise this model's architecture") from None
    except Exception as error:  # noqa: BLE001 - a known architecture with weights that do not fit it
        raise UpscalerLoadError(f"{path.name}: spandrel could not build the model ({error})") from None
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.purpose not in IMAGE_PURPOSES:
        kind = getattr(descriptor, "purpose", type(descriptor).__name__)
        raise UpscalerLoadError(f"{path.name}: a {descriptor.architecture.name} model for {kind}, not an upscaler")
    if descriptor.input_channels != 3 or descriptor.output_channels != 3:
        raise UpscalerLoadError(f"{path.name}: the model does not take and give RGB pictures")
    descriptor.model.eval()
    return descriptor


@cache  # one import per process, like any import
def import_spandrel():
    """spandrel, or UpscalerLoadError when it is not installed.

    spandrel's package imports every architecture it knows, and two that are not upscalers (LaMa
    inpainting, RestoreFormer faces) import torchvision at module level. PyPI's torchvision is a
    CUDA build that cannot even be imported beside the CPU torch (and, installed, breaks
    transformers), so it is not installed: while spandrel is imported, and only then, those two
    names are given stand-ins that refuse to run. The registry never runs those architectures."""
    if importlib.util.find_spec("spandrel") is None:
        raise UpscalerLoadError("model upscalers need the spandrel package, which is not installed")
    if importlib.util.find_spec("torchvision") is not None:
        import spandrel

        return spandrel
    stand_ins = _torchvision_stand_ins()
    sys.modules.update(stand_ins)
    try:
        import spandrel
    finally:
        for name in stand_ins:  # nobody else may mistake the stand-ins for torchvision
            sys.modules.pop(name, None)
    return spandrel


def _torchvision_stand_ins() -> dict[str, types.ModuleType]:
    def unavailable(*args, **kwargs):
        raise UpscalerLoadError("this architecture needs torchvision, which is not installed")

    class InterpolationMode(Enum):  # the values LaMa names at import
        NEAREST = "nearest"
        BILINEAR = "bilinear"
        BICUBIC = "bicubic"

    root = types.ModuleType("torchvision")
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.InterpolationMode = InterpolationMode
    functional.rotate = functional.normalize = unavailable
    root.transforms, transforms.functional = transforms, functional
    return {"torchvision": root, "torchvision.transforms": transforms, "torchvision.transforms.functional": functional}
