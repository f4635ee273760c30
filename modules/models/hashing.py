"""Checkpoint hashes as A1111 shows them: sha256 of the file, first 10 hex digits.

Hashing a multi-GB file takes seconds, so results are cached by path, size and mtime.

Only regular files are ever read: a FIFO would block the reader forever and a device
(`/dev/zero`) never ends, and either would wedge the one worker that loads models.
"""

import hashlib
import json
import logging
import os
import stat
import threading
from pathlib import Path

from modules.atomic import write_text_atomic

log = logging.getLogger(__name__)
SHORT_HASH_LENGTH = 10
_CHUNK = 1 << 20


class NotRegularFileError(OSError):
    """A path that is not a regular file (FIFO, device, socket) where file contents were wanted."""


def is_regular_file(path: Path) -> bool:
    """True for a regular file (links followed). Only stats: never opens, so a FIFO cannot block it."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):  # missing, dangling link, or a name the OS cannot take
        return False


def special_files_below(folder: Path) -> list[Path]:
    """Entries below `folder` that are neither folders nor regular files (FIFOs, devices, sockets,
    dangling links), following linked folders as a loader would. Only stats, never opens."""
    found, seen = [], set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a link back up: walked already
            dirs[:] = []
            continue
        seen.add(real)
        found += [Path(root) / name for name in files if not is_regular_file(Path(root) / name)]
    return found


def sha256_of_path(path: Path) -> str:
    """sha256 of a file; for a diffusers folder, of its regular files' relative names and bytes in
    sorted order (anything else inside it, e.g. a FIFO, is left out)."""
    digest = hashlib.sha256()
    if path.is_dir():
        for file in _regular_files_below(path):
            digest.update(file.relative_to(path).as_posix().encode())
            _feed(digest, file)
    else:
        _feed(digest, path)
    return digest.hexdigest()


def _regular_files_below(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if is_regular_file(p))


def _feed(digest, file: Path) -> None:
    # O_NONBLOCK: opening a FIFO that slipped in after the listing returns at once instead of
    # waiting for a writer; fstat on the open descriptor then tells what was really opened.
    fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFileError(f"{file.name}: not a regular file")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=True) as handle:
            fd = None  # the file object owns it now
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    finally:
        if fd is not None:
            os.close(fd)


def _fingerprint(path: Path) -> str:
    if path.is_dir():
        stats = [f.stat() for f in _regular_files_below(path)]
        return f"{sum(s.st_size for s in stats)}:{max((s.st_mtime_ns for s in stats), default=0)}"
    stat_result = path.stat()
    return f"{stat_result.st_size}:{stat_result.st_mtime_ns}"


class HashCache:
    """sha256 per checkpoint, persisted as JSON in the cache folder."""

    def __init__(self, cache_file: Path):
        self._file = cache_file
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, str]] = {}
        if cache_file.is_file():
            try:
                self._entries = json.loads(cache_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._entries = {}

    def cached_sha256(self, path: Path) -> str | None:
        entry = self._entries.get(os.fspath(path))
        if not entry:
            return None
        try:
            fingerprint = _fingerprint(path)
        except OSError:  # gone since it was hashed
            return None
        return entry["sha256"] if entry.get("fingerprint") == fingerprint else None

    def sha256(self, path: Path) -> str:
        """Raises NotRegularFileError for a path that is neither a regular file nor a folder."""
        cached = self.cached_sha256(path)
        if cached:
            return cached
        if not path.is_dir() and not is_regular_file(path):
            raise NotRegularFileError(f"{path.name}: not a regular file")
        value = sha256_of_path(path)
        with self._lock:
            self._entries[os.fspath(path)] = {"sha256": value, "fingerprint": _fingerprint(path)}
            try:
                write_text_atomic(self._file, json.dumps(self._entries, indent=1))
            except OSError as error:  # a full or read-only disk costs a re-hash next start, nothing more
                log.warning("could not save checkpoint hashes to %s: %s", self._file, error)
        return value
