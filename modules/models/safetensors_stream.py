"""Write a .safetensors file one tensor at a time, so a merge never holds a whole model in memory.

The format is an 8-byte little-endian header length, a JSON header (each tensor's dtype, shape and
byte range in the data that follows, plus string "__metadata__"), then the tensors' raw bytes back
to back. Knowing every name, dtype and shape up front is enough to write the header first; each
tensor's bytes are then appended in the header's order. The file appears under its name only once
complete (temp file in the same folder, then os.replace), so a reader never sees half of one.
"""

import json
import math
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from modules.atomic import NEW_FILE_MODE

DTYPE_NAMES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.float8_e4m3fn: "F8_E4M3",
    torch.float8_e5m2: "F8_E5M2",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}
DTYPES_BY_NAME = {name: dtype for dtype, name in DTYPE_NAMES.items()}
_HEADER_ALIGNMENT = 8  # safetensors pads the header with spaces so the data starts aligned


@dataclass(frozen=True)
class TensorSpec:
    """One tensor of the file to write: what the header says about it."""

    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def build_header(specs: list[TensorSpec], metadata: dict[str, str]) -> bytes:
    """The length prefix and JSON header for `specs` laid out in order, with `metadata`."""
    if any(not isinstance(k, str) or not isinstance(v, str) for k, v in metadata.items()):
        raise ValueError("safetensors metadata keys and values must be strings")
    header: dict = {"__metadata__": dict(metadata)} if metadata else {}
    offset = 0
    for spec in specs:
        if spec.name in header or spec.name == "__metadata__":
            raise ValueError(f"tensor name {spec.name!r} appears twice")
        if spec.dtype not in DTYPE_NAMES:
            raise ValueError(f"{spec.name}: dtype {spec.dtype} cannot be stored in .safetensors")
        header[spec.name] = {
            "dtype": DTYPE_NAMES[spec.dtype],
            "shape": list(spec.shape),
            "data_offsets": [offset, offset + spec.nbytes],
        }
        offset += spec.nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % _HEADER_ALIGNMENT)
    return struct.pack("<Q", len(text)) + text


class StreamingSafetensorsWriter:
    """Context manager: the header is written on entry, `write()` appends the next tensor (it must
    be the next spec's name, dtype and shape), and a clean exit with every tensor written moves the
    file into place. An error, or an exit with tensors missing, leaves no file behind."""

    def __init__(self, target: Path, specs: list[TensorSpec], metadata: dict[str, str]):
        self.target = Path(target)
        self._specs = list(specs)
        self._header = build_header(self._specs, metadata)  # before any file is made: bad input fails first
        self._next = 0
        self._handle = None
        self._tmp: str | None = None

    def __enter__(self) -> "StreamingSafetensorsWriter":
        self.target.parent.mkdir(parents=True, exist_ok=True)
        # A leading dot: the model listings skip it while it is being written.
        fd, self._tmp = tempfile.mkstemp(dir=self.target.parent, prefix=f".{self.target.name}.", suffix=".tmp")
        self._handle = os.fdopen(fd, "wb")
        self._handle.write(self._header)
        return self

    def write(self, name: str, tensor: torch.Tensor) -> None:
        if self._next >= len(self._specs):
            raise ValueError(f"{name}: more tensors written than the header announced")
        spec = self._specs[self._next]
        if name != spec.name or tensor.dtype != spec.dtype or tuple(tensor.shape) != spec.shape:
            raise ValueError(
                f"expected {spec.name} {spec.dtype} {list(spec.shape)}, got {name} {tensor.dtype} {list(tensor.shape)}"
            )
        if spec.nbytes:
            raw = tensor.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8)
            self._handle.write(memoryview(raw.numpy()))
        self._next += 1

    def __exit__(self, kind, error, trace) -> None:
        handle, self._handle = self._handle, None
        try:
            if kind is None and self._next != len(self._specs):
                missing = ", ".join(spec.name for spec in self._specs[self._next : self._next + 3])
                raise ValueError(f"{len(self._specs) - self._next} tensor(s) never written ({missing} ...)")
            if kind is None:
                handle.flush()
                os.fchmod(handle.fileno(), NEW_FILE_MODE)
                os.fsync(handle.fileno())
            handle.close()
            if kind is None:
                os.replace(self._tmp, self.target)
        except BaseException:
            handle.close()
            Path(self._tmp).unlink(missing_ok=True)
            raise
        if kind is not None:
            Path(self._tmp).unlink(missing_ok=True)
