"""A models/ folder with the tiny ESRGAN in both formats, a file that is not a model, and a
pickle that would run code if it were unpickled without weights_only."""

import pickle
from pathlib import Path

import pytest

from tests.fixtures.hostile_pickle import TouchOnUnpickle
from tests.fixtures.tiny_upscaler import save_tiny_esrgan


@pytest.fixture(scope="module")
def upscaler_models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("upscalers") / "models"
    save_tiny_esrgan(root / "ESRGAN" / "2x-Tiny.pth", scale=2)
    save_tiny_esrgan(root / "DAT" / "4x-Tiny.safetensors", scale=4, seed=1)
    (root / "SwinIR").mkdir(parents=True)
    (root / "SwinIR" / "garbage.pth").write_bytes(b"this is not a model file at all")
    (root / "SwinIR" / "folder.pt").mkdir()  # not a regular file
    (root / "SwinIR" / "notes.txt").write_text("not listed: not a model extension")
    marker = root.parent / "code-ran"
    (root / "ESRGAN" / "evil.pth").write_bytes(pickle.dumps(TouchOnUnpickle(marker)))
    return root
