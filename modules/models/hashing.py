"""Checkpoint hashes as A1111 shows them: sha256 of the file, first 10 hex digits.

Hashing a multi-GB file takes seconds, so results are cached by path, size and mtime.
"""

import hashlib
import json
import os
import threading
from pathlib import Path

from modules.atomic import write_text_atomic

SHORT_HASH_LENGTH = 10
_CHUNK = 1 << 20


def sha256_of_path(path: Path) -> str:
    """sha256 of a file; for a diffusers folder, of its files' relative names and bytes in sorted order."""
    digest = hashlib.sha256()
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(file.relative_to(path).as_posix().encode())
            _feed(digest, file)
    else:
        _feed(digest, path)
    return digest.hexdigest()


def _feed(digest, file: Path) -> None:
    with open(file, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)


def _fingerprint(path: Path) -> str:
    if path.is_dir():
        stats = [f.stat() for f in path.rglob("*") if f.is_file()]
        return f"{sum(s.st_size for s in stats)}:{max((s.st_mtime_ns for s in stats), default=0)}"
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


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
        if entry and entry.get("fingerprint") == _fingerprint(path):
            return entry["sha256"]
        return None

    def sha256(self, path: Path) -> str:
        cached = self.cached_sha256(path)
        if cached:
            return cached
        value = sha256_of_path(path)
        with self._lock:
            self._entries[os.fspath(path)] = {"sha256": value, "fingerprint": _fingerprint(path)}
            write_text_atomic(self._file, json.dumps(self._entries, indent=1))
        return value
