"""A models/ folder with the tiny ESRGAN in both formats, a file that is not a model, and a
pickle that would run code if it were unpickled without weights_only."""

import os
import pickle
from pathlib import Path

import pytest

from tests.fixtures.tiny_upscaler import save_tiny_esrgan


class _RunsCode:
    """Unpickled naively, this calls os.system and leaves a file behind."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


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
    (root / "ESRGAN" / "evil.pth").write_bytes(pickle.dumps(_RunsCode(marker)))
    return root
