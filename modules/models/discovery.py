"""Find checkpoints on disk: single-file .safetensors and diffusers folders."""

import os
from dataclasses import dataclass
from pathlib import Path

SINGLE_FILE_SUFFIXES = (".safetensors",)
# The bundled demo model (see config.paths): listed like any other, but a user's own is preferred.
DEMO_CHECKPOINT_NAME = "sd-studio-demo.safetensors"


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
    return path.is_dir() and (path / "model_index.json").is_file() and (path / "unet").is_dir()


def find_checkpoints(folders: tuple[Path, ...], files: tuple[Path, ...] = ()) -> list[CheckpointInfo]:
    """Checkpoints in `folders` (recursively) plus single `files` (bundled models), once each."""
    found: dict[Path, CheckpointInfo] = {}
    for file in files:
        if file.is_file():
            found[file.resolve()] = CheckpointInfo(file.resolve(), file.name, False)
    for folder in folders:
        if not folder.is_dir():
            continue
        for root, dirs, files in os.walk(folder):
            root_path = Path(root)
            # A diffusers folder is one model: list it and do not descend into its parts.
            for d in list(dirs):
                if is_diffusers_folder(root_path / d):
                    path = (root_path / d).resolve()
                    found[path] = CheckpointInfo(path, (root_path / d).relative_to(folder).as_posix(), True)
                    dirs.remove(d)
                elif d.startswith("."):
                    dirs.remove(d)
            for f in files:
                if f.lower().endswith(SINGLE_FILE_SUFFIXES) and not f.startswith("."):
                    path = (root_path / f).resolve()
                    found[path] = CheckpointInfo(path, (root_path / f).relative_to(folder).as_posix(), False)
    return sorted(found.values(), key=lambda info: info.name.lower())


def resolve_checkpoint(wanted: str, checkpoints: list[CheckpointInfo]) -> CheckpointInfo | None:
    """Match what a user typed: a title ("x.safetensors [hash]"), a name, a stem, a hash or a path."""
    wanted = wanted.strip()
    if not wanted:
        return None
    bare = wanted.split(" [")[0]
    for info in checkpoints:
        if bare in (info.name, info.model_name, os.fspath(info.path)):
            return info
    as_path = Path(bare).expanduser()
    if as_path.exists():
        path = as_path.resolve()
        return CheckpointInfo(path, path.name, is_diffusers_folder(path))
    return None
