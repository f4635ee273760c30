"""Network files on disk: `<models>/Lora/` and `<models>/LyCORIS/`, subfolders included.

A tag names a network by its file name without extension (as in A1111), or by its path
below the folder (`style/ink`) when two files share a name, or by its alias (the
`ss_output_name` a kohya trainer writes into the metadata).

Names are only matched against the files listed here, never opened as paths: a tag such as
`<lora:../../x>` or `<lora:/etc/passwd>` matches nothing and reads nothing.
"""

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path

from .safe_load import read_metadata

SUBFOLDERS = ("Lora", "LyCORIS")
SUFFIXES = (".safetensors", ".pt", ".ckpt")


@dataclass(frozen=True)
class NetworkFile:
    name: str  # file name without extension
    path: Path
    relative: str  # "style/ink" for Lora/style/ink.safetensors
    shown_path: str = ""  # "Lora/style/ink.safetensors": below the models folder, what lists show

    def metadata(self) -> dict[str, str]:
        return read_metadata(self.path)

    def alias(self) -> str:
        return self.metadata().get("ss_output_name") or self.name

    def user_metadata(self) -> dict:
        """A1111's per-network card file `<name>.json` (description, activation text, preferred weight)."""
        sidecar = self.path.with_suffix(".json")
        try:
            data = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}


class NetworkLibrary:
    """The network files below one models/ folder. Folders are walked on each call (cheap), so
    files dropped in while the app runs are found without a refresh."""

    def __init__(self, models_dir: Path):
        self.models_dir = Path(models_dir)

    @property
    def folders(self) -> list[Path]:
        return [self.models_dir / sub for sub in SUBFOLDERS]

    def files(self) -> list[NetworkFile]:
        found = []
        for folder in self.folders:
            if not folder.is_dir():
                continue
            for path in sorted(folder.rglob("*")):
                relative = path.relative_to(folder)
                if path.suffix.lower() not in SUFFIXES or any(p.startswith(".") for p in relative.parts):
                    continue
                if path.is_file():  # a regular file (links followed): a FIFO would block whoever reads it
                    shown = f"{folder.name}/{relative.as_posix()}"
                    found.append(NetworkFile(path.stem, path, relative.with_suffix("").as_posix(), shown))
        return found

    def find(self, name: str) -> NetworkFile | None:
        files = self.files()
        for matches in (
            lambda f: f.name == name,
            lambda f: f.relative == name.replace("\\", "/"),
            lambda f: f.name.lower() == name.lower(),
            lambda f: f.alias() == name,
        ):
            hit = next((f for f in files if matches(f)), None)
            if hit is not None:
                return hit
        return None

    def describe_missing(self, name: str) -> str:
        # Folder names only, not where they are: the message may go back to a remote client.
        looked = " or ".join(f"{name}{suffix}" for suffix in SUFFIXES)
        folders = " and ".join(f"models/{sub}" for sub in SUBFOLDERS)
        return f"network {name!r} not found: looked for {looked} in {folders} (subfolders included); skipped"


class HashCache:
    """Short file hashes for the infotext, as A1111 writes them in `Lora hashes`: for .safetensors
    the sha256 of the tensor data after the header (kohya's `sshs_model_hash`, "addnet hash"),
    otherwise of the whole file; the first 12 hex digits. Remembered per (path, size, mtime)."""

    def __init__(self):
        self._known: dict[tuple, str] = {}
        self._lock = threading.Lock()

    def short_hash(self, path: Path) -> str:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if key in self._known:
                return self._known[key]
        digest = _addnet_hash(path) if path.suffix.lower() == ".safetensors" else _sha256(path, 0)
        with self._lock:
            self._known[key] = digest[:12]
        return digest[:12]


def _addnet_hash(path: Path) -> str:
    with open(path, "rb") as handle:
        header_length = int.from_bytes(handle.read(8), "little")
    return _sha256(path, 8 + header_length)


def _sha256(path: Path, offset: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        handle.seek(offset)
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
