"""Find extension folders and read their optional metadata (`extension.toml`)."""

import re
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

PLUGIN_MODULE = "plugin.py"
METADATA_FILE = "extension.toml"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_]")


@dataclass
class ExtensionInfo:
    """One extension folder: what its metadata says, and what happened when it was loaded."""

    name: str
    path: Path
    bundled: bool
    version: str = ""
    description: str = ""
    requires: tuple[str, ...] = ()
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    enabled: bool = True
    status: str = "not loaded"  # loaded | disabled | error | not loaded
    errors: list[str] = field(default_factory=list)

    @property
    def module_name(self) -> str:
        return "sdstudio_extensions." + _SAFE_NAME.sub("_", self.name)

    def git(self) -> dict[str, str | None]:
        """remote, branch, commit of the extension's own git checkout (None where it has none)."""
        if not (self.path / ".git").exists():
            return {"remote": None, "branch": None, "commit_hash": None, "commit_date": None}
        return {
            "remote": _git(self.path, "remote", "get-url", "origin"),
            "branch": _git(self.path, "rev-parse", "--abbrev-ref", "HEAD"),
            "commit_hash": _git(self.path, "rev-parse", "HEAD"),
            "commit_date": _git(self.path, "log", "-1", "--format=%ct"),
        }


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def read_metadata(folder: Path, bundled: bool) -> ExtensionInfo:
    info = ExtensionInfo(name=folder.name, path=folder, bundled=bundled)
    meta_path = folder / METADATA_FILE
    if not meta_path.exists():
        return info
    try:
        meta = tomllib.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        info.errors.append(f"{METADATA_FILE}: {error}")
        return info
    info.name = str(meta.get("name", info.name))
    info.version = str(meta.get("version", ""))
    info.description = str(meta.get("description", ""))
    for key in ("requires", "before", "after"):
        value = meta.get(key, [])
        setattr(info, key, tuple([value] if isinstance(value, str) else value))
    return info


def find_extensions(roots: list[Path], bundled: frozenset[Path] = frozenset()) -> list[ExtensionInfo]:
    """Every sub-folder of `roots` holding plugin.py, bundled ones first, then by folder and name;
    a name seen twice keeps the first, so a user copy cannot shadow a bundled extension."""
    found: dict[str, ExtensionInfo] = {}
    folders = []
    for root in dict.fromkeys(roots):  # the same folder twice (data dir = repo) is scanned once
        if root.is_dir():
            folders += sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    folders.sort(key=lambda folder: folder.resolve() not in bundled)  # stable: keeps the order within
    for folder in folders:
        if not (folder / PLUGIN_MODULE).is_file():
            continue
        info = read_metadata(folder, folder.resolve() in bundled)
        if info.name in found:
            info.errors.append(f"another extension named {info.name!r} is already loaded from {found[info.name].path}")
            info.status = "error"
            found[f"{info.name}@{folder}"] = info
            continue
        found[info.name] = info
    return list(found.values())


def load_order(extensions: list[ExtensionInfo]) -> list[ExtensionInfo]:
    """Order by `before`/`after` constraints, otherwise keep discovery order. A cycle is broken
    by discovery order and reported on the extensions involved. Duplicates (already in error)
    go last."""
    duplicates = [e for e in extensions if e.status == "error"]
    extensions = [e for e in extensions if e.status != "error"]
    by_name = {e.name: e for e in extensions}
    after_edges: dict[str, set[str]] = {e.name: set() for e in extensions}  # name -> must come after these
    for ext in extensions:
        after_edges[ext.name].update(n for n in ext.after if n in by_name)
        for other in ext.before:
            if other in by_name:
                after_edges[other].add(ext.name)
    ordered, placed = [], set()
    pending = [e.name for e in extensions]
    while pending:
        ready = next((n for n in pending if after_edges[n] <= placed), None)
        if ready is None:  # cycle: take the first pending one and say so
            ready = pending[0]
            by_name[ready].errors.append(
                f"ordering cycle with {', '.join(sorted(after_edges[ready] - placed))}: loaded in folder order"
            )
        pending.remove(ready)
        placed.add(ready)
        ordered.append(by_name[ready])
    return ordered + duplicates
