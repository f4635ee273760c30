"""Where a model part computes. Under --medvram / --lowvram a part's weights rest in RAM between
uses and the offload hooks bring them to the device for each call, so the device of its weights
says nothing about where its inputs must go: MemoryManager.prepare (and the loader) stamp each part
with the device it computes on, and code that makes input tensors asks this function."""

STAMP = "sdstudio_execution_device"


def stamp(module, device) -> None:
    if module is not None:
        setattr(module, STAMP, device)


def compute_device(module):
    """The stamped execution device of a model part, else the device of its weights (a bare module
    built outside the loader, e.g. in a benchmark)."""
    stamped = getattr(module, STAMP, None)
    if stamped is not None:
        return stamped
    first = next(module.parameters(), None)
    if first is None:
        import torch

        return torch.device("cpu")
    return first.device
