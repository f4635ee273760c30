"""An advisory lock between processes, held on a small lock file beside the file it guards
(several servers may share one data dir)."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; one server per data dir is then up to the user
    fcntl = None


@contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on lock_path (created if missing) for the duration of the block.
    OSError when the lock file cannot be created (e.g. a read-only folder)."""
    if fcntl is None:
        yield
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
