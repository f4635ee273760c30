"""Generations that meet a broken TAESD file, a full disk or a read-only outputs folder still hand
back their images, say what went wrong, and the engine goes on serving (tiny model, real queue, real
file systems: a small tmpfs, full or read-only, mounted as root)."""

import re
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from modules.processing.request import Txt2ImgRequest
from tests.conftest import make_engine
from tests.fixtures.filesystems import fill, make_read_only, small_tmpfs


@pytest.fixture(scope="module")
def own_engine(tmp_path_factory, tiny_single_file):
    """An engine of its own (data dir, models dir, outputs dir), so a broken file or a mount here
    never reaches the shared engine."""
    root = tmp_path_factory.mktemp("own-engine")
    models = root / "models"
    models.mkdir()
    (models / "Stable-diffusion").symlink_to(tiny_single_file.parent, target_is_directory=True)
    (models / "VAE-approx").mkdir()
    built = make_engine(root / "data", "--models-dir", str(models), "--outdir", str(root / "outputs"))
    yield built
    built.queue.shutdown()


def generate(engine, **fields):
    base = {"prompt": "a cat", "steps": 3, "width": 64, "height": 64, "seed": 5}
    job = engine.submit_txt2img(Txt2ImgRequest(**{**base, **fields}))
    return job, job.outcome()


@pytest.mark.parametrize(
    "name, content",
    [
        ("taesd_decoder.safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00not json"),
        ("taesd_decoder.pth", b"this is not a pickle or a zip file"),
    ],
    ids=["safetensors", "pth"],
)
def test_a_broken_taesd_file_falls_back_to_the_cheap_preview(own_engine, name, content):
    broken = own_engine.paths.models_dir / "VAE-approx" / name
    broken.write_bytes(content)
    own_engine.settings.update({"show_progress_type": "TAESD", "show_progress_every_n_steps": 1})
    try:
        job, result = generate(own_engine, save_images=False)
        again_job, again = generate(own_engine, save_images=False)
    finally:
        own_engine.settings.update({"show_progress_type": "Approx cheap", "show_progress_every_n_steps": 10})
        broken.unlink()
    assert len(result.images) == 1 and result.images[0].image.size == (64, 64)
    assert job.preview is not None and job.preview.size == (8, 8)  # the cheap preview: latent resolution
    (warning,) = [w for w in result.warnings if "TAESD" in w]
    assert str(broken) in warning and "using the cheap preview" in warning
    # Reported in every job while the file is broken, but not loaded again (it has not changed).
    assert any(str(broken) in w for w in again.warnings) and again_job.preview.size == (8, 8)
    assert np.array_equal(np.asarray(result.images[0].image), np.asarray(again.images[0].image))


def test_a_full_disk_keeps_the_images_and_says_why(own_engine):
    outputs = own_engine.paths.outputs_dir
    with small_tmpfs(outputs, size_kib=64):
        fill(outputs)
        job, result = generate(own_engine, save_images=True, batch_size=2, n_iter=2)
        day = outputs / "txt2img-images" / date.today().isoformat()
        leftovers = sorted(p.name for p in day.iterdir()) if day.exists() else []
    assert job.error is None and not result.interrupted
    assert len(result.images) == 4 and all(item.path is None for item in result.images)
    assert re.fullmatch(rf"could not save to {re.escape(str(day))}/00000-\d+\.png: No space left on device",
                        result.save_error)  # fmt: skip
    assert result.warnings.count(f"Images were not saved: {result.save_error}") == 1  # tried once, not per image
    assert leftovers == []  # no partial file or temp file left on the full disk
    _, after = generate(own_engine, save_images=True)  # the engine goes on; the disk is back
    assert after.save_error is None and after.images[0].path.is_file()


def test_a_read_only_outputs_folder_keeps_the_images_and_says_why(own_engine):
    outputs = own_engine.paths.outputs_dir
    with small_tmpfs(outputs):
        make_read_only(outputs)
        _, result = generate(own_engine, save_images=True)
    day = Path(outputs) / "txt2img-images" / date.today().isoformat()
    assert result.images and result.images[0].path is None
    assert result.save_error == f"could not create the folder {day}: Read-only file system"
