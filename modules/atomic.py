"""Write files so that a reader never sees half of one: temp file in the same folder, then rename.

The temp file is made private (0600) by mkstemp; before the rename it gets the mode any new file
would get under the process's umask (0644 under the usual 022), so outputs and settings are as
readable as the user asked for.
"""

import os
import tempfile
from pathlib import Path


def _read_umask() -> int:
    """The process's umask, read once at import. /proc/self/status has it without changing it;
    elsewhere it is set and put back, which is only safe while no other thread makes files."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


NEW_FILE_MODE = 0o666 & ~_read_umask()


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), NEW_FILE_MODE)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))
