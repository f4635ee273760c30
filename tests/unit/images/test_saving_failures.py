"""Saving where the disk is full, read-only or refuses a file size: ImageSaveError (an OSError)
says where and why, and nothing half-written is left behind."""

import errno
import random
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from modules.images.saving import ImageSaveError, ImageSaver
from tests.fixtures.filesystems import fill, make_read_only, small_tmpfs

REPO_ROOT = Path(__file__).resolve().parents[3]
DAY = date(2026, 11, 21)


def noise_image() -> Image.Image:
    return Image.frombytes("RGB", (64, 64), random.Random(0).randbytes(64 * 64 * 3))  # 12 kB even as PNG


def test_a_file_size_limit_gives_a_clear_error_and_no_partial_file(tmp_path):
    # RLIMIT_FSIZE makes the write fail with EFBIG partway, for root too; a child process keeps the
    # limit away from the test runner.
    script = textwrap.dedent(
        """
        import random, resource, signal, sys
        from datetime import date
        from pathlib import Path
        from PIL import Image
        from modules.images.saving import ImageSaver, ImageSaveError
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, resource.RLIM_INFINITY))
        image = Image.frombytes("RGB", (64, 64), random.Random(0).randbytes(64 * 64 * 3))
        try:
            ImageSaver().save(image, Path(sys.argv[1]), 7, "x", today=date(2026, 11, 21))
        except ImageSaveError as error:
            print(error.errno, error)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    day = tmp_path / "2026-11-21"
    assert done.stdout.strip() == f"{errno.EFBIG} could not save to {day}/00000-7.png: File too large", done.stderr
    assert list(day.iterdir()) == []


def test_a_full_disk_gives_a_clear_error_and_no_partial_file(tmp_path):
    with small_tmpfs(tmp_path / "disk", size_kib=64) as disk:
        fill(disk)
        with pytest.raises(ImageSaveError) as caught:
            ImageSaver().save(noise_image(), disk / "out", 3, "x", today=DAY)
        leftovers = sorted(p.name for p in (disk / "out").rglob("*"))
    assert caught.value.errno == errno.ENOSPC and isinstance(caught.value, OSError)
    assert str(caught.value) == f"could not save to {disk}/out/2026-11-21/00000-3.png: No space left on device"
    assert leftovers == ["2026-11-21"]


def test_a_read_only_folder_gives_a_clear_error(tmp_path):
    with small_tmpfs(tmp_path / "disk") as disk:
        make_read_only(disk)
        with pytest.raises(ImageSaveError) as caught:
            ImageSaver().save(noise_image(), disk / "out", 3, "x", today=DAY)
    assert caught.value.errno == errno.EROFS
    assert str(caught.value) == f"could not create the folder {disk}/out/2026-11-21: Read-only file system"
