"""Install, update and remove user extensions (git URL or local folder). Bundled extensions
can be disabled but not removed or updated from here."""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from modules.plugins.discovery import PLUGIN_MODULE, ExtensionInfo

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
GIT_TIMEOUT = 300


class ExtensionInstallError(ValueError):
    """Refused or failed; the message says why, and nothing was left half-installed."""


def folder_name_for(source: str) -> str:
    name = source.rstrip("/").rsplit("/", 1)[-1]
    name = name.removesuffix(".git")
    if not _NAME.match(name):
        raise ExtensionInstallError(f"cannot make a folder name from {source!r}; give a name")
    return name


def install(source: str, target_root: Path, name: str = "") -> Path:
    """Clone a git URL (or copy a local folder) into target_root/name. The copy is made in a
    temporary folder beside the target and renamed into place only once complete. A local folder
    is checked before anything is copied: it must hold plugin.py and must not overlap the
    extensions folder."""
    source = source.strip()
    if not source:
        raise ExtensionInstallError("give a git URL or a local folder to install from")
    name = name.strip() or folder_name_for(source)
    if not _NAME.match(name):
        raise ExtensionInstallError(f"{name!r} is not a valid folder name")
    target = target_root / name
    if target.exists():
        raise ExtensionInstallError(f"{target} already exists: remove it first or choose another name")
    local = _local_folder(source, target_root)
    target_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=target_root))
    try:
        if local is not None:
            # Links are copied as links: a link to a folder above it cannot make the copy endless.
            shutil.copytree(local, staging / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            _git(["clone", "--depth", "1", source, str(staging / name)], cwd=target_root)
        if not (staging / name / PLUGIN_MODULE).is_file():
            raise ExtensionInstallError(f"{source} has no {PLUGIN_MODULE}: it is not an extension for this app")
        (staging / name).rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _local_folder(source: str, target_root: Path) -> Path | None:
    """The local folder to copy from, checked; None when `source` is to be cloned with git (a URL,
    or a local git checkout)."""
    local = Path(source).expanduser()
    try:
        resolved = local.resolve(strict=True)
    except FileNotFoundError:
        return None  # not a local path: a URL for git
    except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop (Python < 3.13)
        raise ExtensionInstallError(f"cannot use {source}: {error}") from error
    if not resolved.is_dir() or (resolved / ".git").exists():
        return None
    if not (resolved / PLUGIN_MODULE).is_file():
        raise ExtensionInstallError(f"{source} has no {PLUGIN_MODULE}: it is not an extension for this app")
    root = target_root.expanduser().resolve()
    if resolved == root or resolved.is_relative_to(root):
        raise ExtensionInstallError(f"{source} is inside the extensions folder {root}: it is already there")
    if root.is_relative_to(resolved):
        raise ExtensionInstallError(f"{source} holds the extensions folder {root}: it would be copied into itself")
    return resolved


def update(ext: ExtensionInfo) -> str:
    """`git pull --ff-only` in the extension's checkout; returns git's one-line summary."""
    if ext.bundled:
        raise ExtensionInstallError(f"{ext.name} ships with the app and is updated with it")
    if not (ext.path / ".git").exists():
        raise ExtensionInstallError(f"{ext.name} was not installed from git: nothing to update from")
    return _git(["pull", "--ff-only"], cwd=ext.path) or "already up to date"


def remove(ext: ExtensionInfo, user_root: Path) -> None:
    if ext.bundled:
        raise ExtensionInstallError(f"{ext.name} ships with the app: disable it instead")
    if ext.path.resolve().parent != user_root.resolve():
        raise ExtensionInstallError(f"{ext.path} is not inside {user_root}: not removing it")
    # Rename first so a crash mid-delete never leaves a half extension that still loads.
    doomed = ext.path.with_name(f".removing-{ext.path.name}")
    ext.path.rename(doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def _git(args: list[str], cwd: Path) -> str:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},  # never hang on a password prompt
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ExtensionInstallError(f"git {args[0]} failed: {error}") from error
    if done.returncode != 0:
        raise ExtensionInstallError(f"git {args[0]} failed: {(done.stderr or done.stdout).strip()[-500:]}")
    return (done.stdout.strip().splitlines() or [""])[-1]
