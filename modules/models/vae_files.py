"""Find VAE files on disk, as A1111 lists them for "SD VAE".

Listed: every .safetensors / .pt / .ckpt below models/VAE (and --vae-dir), and the
NAME.vae.safetensors / .vae.pt / .vae.ckpt files kept beside checkpoints. A name from a request or
a setting is only ever matched against this list, never opened as a path.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from modules.models.hashing import is_regular_file

VAE_SUFFIXES = (".safetensors", ".pt", ".ckpt")
# Beside a checkpoint only these count as VAEs: the other files there are checkpoints.
BESIDE_CHECKPOINT_SUFFIXES = (".vae.safetensors", ".vae.pt", ".vae.ckpt")


@dataclass(frozen=True)
class VaeInfo:
    name: str  # relative to the folder it was found in, as "SD VAE" lists it: "sub/x.safetensors"
    path: Path
    beside_checkpoints: bool = False  # found in a checkpoint folder (NAME.vae.*), not a VAE folder

    @property
    def infotext_name(self) -> str:
        """The file name without its extension, as A1111 writes infotext's "VAE"."""
        return Path(self.name).stem


def find_vaes(vae_dirs: tuple[Path, ...], checkpoint_dirs: tuple[Path, ...]) -> list[VaeInfo]:
    """The VAE folders' files first, then those beside checkpoints; each name and file once."""
    found: dict[str, VaeInfo] = {}
    seen: set[Path] = set()
    for folders, suffixes in ((vae_dirs, VAE_SUFFIXES), (checkpoint_dirs, BESIDE_CHECKPOINT_SUFFIXES)):
        for folder in folders:
            for info in _files_below(folder, suffixes, folders is checkpoint_dirs):
                if info.name not in found and info.path not in seen:
                    found[info.name] = info
                    seen.add(info.path)
    return sorted(found.values(), key=lambda info: info.name.lower())


def _files_below(folder: Path, suffixes: tuple[str, ...], beside_checkpoints: bool) -> list[VaeInfo]:
    if not folder.is_dir():
        return []
    listed = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        root_path = Path(root)
        for name in names:
            path = root_path / name
            # Regular files only: a FIFO named like a VAE would block the worker that reads it.
            if name.startswith(".") or not name.lower().endswith(suffixes) or not is_regular_file(path):
                continue
            listed.append(VaeInfo(path.relative_to(folder).as_posix(), path.resolve(), beside_checkpoints))
    return listed


def beside_checkpoint(checkpoint_name: str, checkpoint_path: Path, listed: list[VaeInfo]) -> VaeInfo | None:
    """For "Automatic": the listed NAME.vae.safetensors (.vae.pt, .vae.ckpt) in the checkpoint's own
    folder, NAME being the checkpoint's listed name without extension ("sub/model" for
    "sub/model.safetensors"; a diffusers folder's name as it is). Matched by listed name, so a
    checkpoint that is a link finds the VAE beside the link; a checkpoint outside the model folders
    (--ckpt) by the path beside its file."""
    is_folder = checkpoint_path.is_dir()
    stem = checkpoint_name if is_folder else str(Path(checkpoint_name).with_suffix("").as_posix())
    by_name = {info.name: info for info in listed if info.beside_checkpoints}
    by_path = {info.path: info for info in listed}
    file_stem = checkpoint_path.name if is_folder else checkpoint_path.stem
    for suffix in BESIDE_CHECKPOINT_SUFFIXES:
        if f"{stem}{suffix}" in by_name:
            return by_name[f"{stem}{suffix}"]
        candidate = (checkpoint_path.parent / f"{file_stem}{suffix}").resolve()
        if candidate in by_path:
            return by_path[candidate]
    return None


def match_vae(wanted: str, listed: list[VaeInfo]) -> VaeInfo | None:
    """The listed VAE a name means: its listed name ("sub/x.safetensors"), else its name without
    extension as infotext's "VAE" records it ("x") when exactly one file has it."""
    wanted = wanted.strip().replace("\\", "/")
    exact = next((info for info in listed if info.name == wanted), None)
    if exact is not None:
        return exact
    by_stem = [info for info in listed if wanted in (info.infotext_name, Path(info.name).with_suffix("").as_posix())]
    return by_stem[0] if len(by_stem) == 1 else None


def describe_unknown_vae(wanted: str, listed: list[VaeInfo]) -> str:
    shown = wanted if len(wanted) <= 120 else wanted[:117] + "..."
    names = ["Automatic", "None", *(info.name for info in listed)]
    shown_names = ", ".join(names[:22]) + (f" and {len(names) - 22} more" if len(names) > 22 else "")
    return f"VAE {shown!r} not found among the listed VAE files (GET /sdapi/v1/sd-vae); available: {shown_names}"
