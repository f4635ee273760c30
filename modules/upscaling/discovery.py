"""Model upscaler files under models/: the folders A1111 reads, the extensions spandrel loads,
named by file stem as A1111 lists them ("4x-UltraSharp")."""

import os
import stat
from dataclasses import dataclass
from pathlib import Path

MODEL_FOLDERS = ("ESRGAN", "RealESRGAN", "SwinIR", "DAT", "HAT", "ScuNET")
MODEL_EXTENSIONS = (".pth", ".pt", ".safetensors")
MAX_MODEL_BYTES = 4 * 1024**3  # far above any released upscaler; a bigger file is not read at all
MAX_FILES_PER_FOLDER = 1000  # a folder listing is bounded before anything is read


@dataclass(frozen=True)
class UpscalerFile:
    name: str  # the file stem: what users pick and requests name
    path: Path
    folder: str  # which of MODEL_FOLDERS
    size: int
    mtime_ns: int

    def relative_to(self, models_dir: Path) -> str:
        return str(self.path.relative_to(models_dir))


def find_upscaler_files(models_dir: Path) -> tuple[list[UpscalerFile], dict[str, str]]:
    """(files found, {name: why skipped}) over MODEL_FOLDERS, sorted by name within each folder.
    Only regular files (a symlink counts when it points at one) of a known extension; the first
    file of a name wins, a later one with the same name is skipped."""
    found: dict[str, UpscalerFile] = {}
    skipped: dict[str, str] = {}
    for folder in MODEL_FOLDERS:
        directory = models_dir / folder
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name.lower())[:MAX_FILES_PER_FOLDER]
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as error:
            skipped[folder] = f"cannot list {directory}: {error.strerror or error}"
            continue
        for entry in entries:
            path = Path(entry.path)
            if path.suffix.lower() not in MODEL_EXTENSIONS:
                continue
            try:
                info = os.stat(path)  # follows a symlink: what counts is what would be read
            except OSError as error:
                skipped[path.stem] = f"cannot read {path.name}: {error.strerror or error}"
                continue
            if not stat.S_ISREG(info.st_mode):
                skipped[path.stem] = f"{path.name} is not a regular file"
            elif info.st_size > MAX_MODEL_BYTES:
                skipped[path.stem] = f"{path.name} is larger than {MAX_MODEL_BYTES} bytes"
            elif path.stem in found:
                skipped.setdefault(path.stem, f"{folder}/{path.name}: the name is taken by {found[path.stem].folder}")
            else:
                found[path.stem] = UpscalerFile(path.stem, path, folder, info.st_size, info.st_mtime_ns)
    return list(found.values()), skipped
