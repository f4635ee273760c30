"""The checkpoints a merge reads: their tensors one at a time, their families, and A1111's hashes.

A .safetensors input is read through safe_open (one tensor in memory at a time); a pickled one
(.ckpt / .pt / .bin) only through loading.read_pickled_state, torch's weights_only unpickler, which
never runs the pickle's code (zip checkpoints are memory-mapped, so they too are read on demand).
"""

import json
import os
from contextlib import ExitStack
from pathlib import Path

import torch

from modules.models.loading import EMBEDDED_CONFIG_KEY, CheckpointLoadError, read_pickled_state
from modules.models.safetensors_stream import DTYPES_BY_NAME


class MergeError(ValueError):
    """A merge that cannot be made as asked; the message names the files and the reason. A
    ValueError: the request was the user's choice (the API answers 4xx)."""


# A1111's merge pairs whose families differ: an inpainting / instruct-pix2pix A merged with a normal
# model of its base family (only the first 4 input channels of B are added to A's UNet input).
EXTRA_CHANNEL_BASES = {"sd1_inpaint": "sd1", "ip2p": "sd1", "sdxl_inpaint": "sdxl"}


class TensorFile:
    """One input checkpoint: names, shapes and dtypes from its header; tensors read on demand."""

    def __init__(self, path: Path, label: str, stack: ExitStack):
        self.path = Path(path)
        self.label = label  # how messages name it: "A (model.safetensors)"
        if self.path.is_dir():
            raise MergeError(f"{label}: a diffusers folder; only single-file checkpoints can be merged")
        if self.path.suffix.lower() == ".safetensors":
            self._open_safetensors(stack)
        else:
            self._open_pickled()

    def _open_safetensors(self, stack: ExitStack) -> None:
        from safetensors import safe_open

        try:
            handle = stack.enter_context(safe_open(os.fspath(self.path), framework="pt", device="cpu"))
            self.metadata = dict(handle.metadata() or {})
            slices = {key: handle.get_slice(key) for key in handle.keys()}
        except Exception as error:  # safetensors raises its own error types for a corrupt header
            raise MergeError(f"{self.label}: not a readable .safetensors file ({error})") from error
        self.shapes = {key: tuple(part.get_shape()) for key, part in slices.items()}
        self.dtypes = {key: DTYPES_BY_NAME.get(part.get_dtype()) for key, part in slices.items()}
        self._read = handle.get_tensor

    def _open_pickled(self) -> None:
        try:
            state = read_pickled_state(self.path)
        except CheckpointLoadError as error:  # names the file and why it was refused
            raise MergeError(f"{self.label}: {error}") from None
        tensors = {key: value for key, value in state.items() if isinstance(value, torch.Tensor)}
        self.metadata = {key: value for key, value in state.items() if isinstance(value, str)}
        self.shapes = {key: tuple(value.shape) for key, value in tensors.items()}
        self.dtypes = {key: value.dtype for key, value in tensors.items()}
        self._read = tensors.__getitem__

    def tensor(self, key: str) -> torch.Tensor:
        return self._read(key)

    def is_float(self, key: str) -> bool:
        dtype = self.dtypes.get(key)
        return dtype is not None and dtype.is_floating_point

    def embedded_config(self) -> str | None:
        return self.metadata.get(EMBEDDED_CONFIG_KEY)

    def json_entry(self, key: str):
        """A metadata entry A1111 stores as JSON text (sd_merge_recipe, sd_merge_models), parsed;
        None when absent or not JSON."""
        try:
            return json.loads(self.metadata[key])
        except (KeyError, TypeError, ValueError):
            return None


def family_of(source: TensorFile):
    """The source's Family (modules.models.families): the one its embedded diffusers config declares
    (files of ours written before families existed are SD 1.x), else detected from its layout."""
    from modules.models import families

    declared = {}
    embedded = source.embedded_config()
    if embedded:
        try:
            declared = {"family": json.loads(embedded).get("family") or "sd1"}
        except (ValueError, AttributeError):
            declared = {}
    shapes = {key: list(source.shapes[key]) for key in families.SHAPE_KEYS if key in source.shapes}
    layout = families.Layout(frozenset(source.shapes), shapes, declared)
    try:
        return families.detect(layout)
    except ValueError as error:
        raise MergeError(f"{source.label}: cannot tell which kind of model it is: {error}") from None


def check_families(a: TensorFile, other: TensorFile) -> None:
    """Refuse, naming both files and their families, to merge models of different families (an
    inpainting or instruct-pix2pix A with a normal model of its base family is allowed, as in A1111)."""
    family_a, family_other = family_of(a), family_of(other)
    if family_a.name == family_other.name or EXTRA_CHANNEL_BASES.get(family_a.name) == family_other.name:
        return
    if EXTRA_CHANNEL_BASES.get(family_other.name) == family_a.name:
        raise MergeError(
            f"cannot merge {a.label} ({family_a.label}) with {other.label} ({family_other.label}): when merging "
            "an inpainting or instruct-pix2pix model with a normal one, A must be the inpainting model"
        )
    raise MergeError(
        f"cannot merge {a.label} ({family_a.label}) with {other.label} ({family_other.label}): "
        "checkpoints of different model families have different layers and latent spaces"
    )


def check_vae_space(a: TensorFile, vae: TensorFile) -> None:
    """Refuse a VAE file that declares another latent space than A's family (SD and SDXL VAEs have
    the same shapes: only such a declaration tells them apart)."""
    from modules.models.vae_weights import declared_latent_space

    family = family_of(a)
    declared = declared_latent_space(vae.metadata)
    if declared is not None and declared != family.latent_space:
        raise MergeError(
            f"{vae.label} cannot be baked into {a.label} ({family.label}): it is made for the "
            f"{'SDXL' if declared == 'sdxl' else 'SD 1.x / 2.x'} latent space"
        )


def legacy_hash(path: Path) -> str:
    """A1111's old 8-digit model hash: sha256 of the 64 KiB at offset 1 MiB."""
    import hashlib

    with open(path, "rb") as handle:
        handle.seek(0x100000)
        return hashlib.sha256(handle.read(0x10000)).hexdigest()[:8]
