"""Find checkpoints on disk (single files: .safetensors, or pickled .ckpt / .pt / .bin read without
running their code; and diffusers folders) and match the names users and requests give them.

A name is only ever matched against the listed checkpoints, never opened as a path: what a
request carries cannot reach a file outside the model folders, and the answer to an unknown
name is the same whether or not something exists at that path.
"""

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from modules.models.hashing import SHORT_HASH_LENGTH, is_regular_file

# Pickled checkpoints are listed too: they are read with a loader that never runs their code.
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".bin")
# The bundled demo model (see config.paths): listed like any other, but a user's own is preferred.
DEMO_CHECKPOINT_NAME = "sd-studio-demo.safetensors"
# "name [hash]" as A1111 writes a title; the hash is 8 (old A1111) to 64 hex digits.
_TITLE = re.compile(r"^(?P<name>.*?)\s*\[(?P<hash>[0-9a-fA-F]{8,64})\]$")
_HASH = re.compile(r"^[0-9a-fA-F]{8,64}$")


@dataclass(frozen=True)
class CheckpointInfo:
    path: Path
    name: str  # relative to its checkpoint folder, as A1111 shows it: "sub/model.safetensors"
    is_diffusers_folder: bool

    @property
    def is_demo(self) -> bool:
        return self.path.name == DEMO_CHECKPOINT_NAME

    @property
    def model_name(self) -> str:
        """Name without extension or folder, as written in infotext's "Model:"."""
        return Path(self.name).stem if not self.is_diffusers_folder else Path(self.name).name

    def title(self, short_hash: str | None) -> str:
        return f"{self.name} [{short_hash}]" if short_hash else self.name


def is_diffusers_folder(path: Path) -> bool:
    return path.is_dir() and is_regular_file(path / "model_index.json") and (path / "unet").is_dir()


def checkpoint_at(path: Path) -> CheckpointInfo | None:
    """A checkpoint at a path the user gave on the command line (`--ckpt`): a regular
    .safetensors file or a diffusers folder, else None. Never used for names from requests."""
    path = Path(path).expanduser()
    if is_diffusers_folder(path):
        path = path.resolve()
        return CheckpointInfo(path, path.name, True)
    if is_regular_file(path) and path.name.lower().endswith(SINGLE_FILE_SUFFIXES):
        path = path.resolve()
        return CheckpointInfo(path, path.name, False)
    return None


def find_checkpoints(folders: tuple[Path, ...], files: tuple[Path, ...] = ()) -> list[CheckpointInfo]:
    """Checkpoints in `folders` (recursively) plus single `files` (bundled models, a --ckpt path),
    once each. Only regular files and diffusers folders: a FIFO or device named like a model is
    left out, so nothing can later block on reading it."""
    found: dict[Path, CheckpointInfo] = {}
    for file in files:
        info = checkpoint_at(file)
        if info is not None:
            found[info.path] = info
    for folder in folders:
        if not folder.is_dir():
            continue
        for root, dirs, names in os.walk(folder):
            root_path = Path(root)
            # A diffusers folder is one model: list it and do not descend into its parts.
            for d in list(dirs):
                if d.startswith("."):
                    dirs.remove(d)
                elif is_diffusers_folder(root_path / d):
                    path = (root_path / d).resolve()
                    found[path] = CheckpointInfo(path, (root_path / d).relative_to(folder).as_posix(), True)
                    dirs.remove(d)
            for f in names:
                if f.lower().endswith(VAE_BESIDE_SUFFIXES):  # NAME.vae.safetensors is a VAE, as A1111 skips it
                    continue
                if f.lower().endswith(SINGLE_FILE_SUFFIXES) and not f.startswith("."):
                    if not is_regular_file(root_path / f):
                        continue
                    path = (root_path / f).resolve()
                    found[path] = CheckpointInfo(path, (root_path / f).relative_to(folder).as_posix(), False)
    return sorted(found.values(), key=lambda info: info.name.lower())


VAE_BESIDE_SUFFIXES = (".vae.safetensors", ".vae.pt", ".vae.ckpt")


def resolve_checkpoint(
    wanted: str,
    checkpoints: list[CheckpointInfo],
    cached_sha256: Callable[[CheckpointInfo], str | None] = lambda info: None,
) -> CheckpointInfo | None:
    """The listed checkpoint a user or request means: a title ("x.safetensors [hash]"), a name
    ("sub/x.safetensors"), a model name ("x"), a short hash (10 hex digits) or a full sha256.
    Hashes match only checkpoints whose hash is already known (`cached_sha256`): nothing is read
    to match a name. Anything else, paths included, matches nothing."""
    wanted = (wanted or "").strip()
    if not wanted:
        return None
    title = _TITLE.match(wanted)
    bare = (title.group("name") if title else wanted).replace("\\", "/")
    for matches in (lambda info: info.name == bare, lambda info: info.model_name == bare):
        hit = next((info for info in checkpoints if matches(info)), None)
        if hit is not None:
            return hit
    # A renamed file keeps its hash: a title or a bare hash still finds it.
    wanted_hash = title.group("hash") if title else (wanted if _HASH.match(wanted) else None)
    if wanted_hash:
        wanted_hash = wanted_hash.lower()
        for info in checkpoints:
            sha256 = cached_sha256(info)
            if sha256 and (sha256 == wanted_hash or sha256[:SHORT_HASH_LENGTH] == wanted_hash):
                return info
    return None


def describe_unknown(wanted: str, checkpoints: list[CheckpointInfo]) -> str:
    """Why a name was refused: what it can be, and the names that are listed. Says nothing about
    the file system, so it reads the same whether or not a file exists at `wanted`."""
    shown = wanted if len(wanted) <= 120 else wanted[:117] + "..."
    names = [info.name for info in checkpoints]
    listed = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    return (
        f"checkpoint {shown!r} not found among the listed checkpoints (give a name, title or hash "
        f"as GET /sdapi/v1/sd-models lists them); available: {listed or 'none'}"
    )
