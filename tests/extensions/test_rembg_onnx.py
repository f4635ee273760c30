"""rembg's model path: a tiny ONNX model with u2net's input/output layout, whose output is a
known function of the picture (red minus blue), run from <models_dir>/rembg/."""

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.extensions.rembg_loader import load_rembg
from tests.extensions.rembg_onnx_model import save_red_minus_blue_model
from tests.extensions.rembg_pictures import iou

REPO = Path(__file__).resolve().parents[2]


def red_shapes(size: int = 160) -> tuple[Image.Image, np.ndarray]:
    """Red shapes on a blue wall; one touches a corner, where GrabCut's seeds would call it
    background, so only the model can get the whole mask right."""
    image = Image.new("RGB", (size, size), (60, 90, 200))
    mask = Image.new("L", (size, size), 0)
    for draw, fill in ((ImageDraw.Draw(image), (220, 40, 40)), (ImageDraw.Draw(mask), 255)):
        draw.ellipse([50, 40, 120, 130], fill=fill)
        draw.rectangle([0, 0, 30, 30], fill=fill)
    return image, np.asarray(mask) > 127


@pytest.fixture(scope="module")
def rembg():
    return load_rembg()


@pytest.mark.parametrize("model", ["u2net", "isnet-general-use"])
def test_the_model_file_is_run_and_its_first_output_is_the_mask(rembg, tmp_path, model):
    save_red_minus_blue_model(tmp_path / "rembg" / f"{model}.onnx")
    image, truth = red_shapes()

    cutout = rembg.removal.remove_background(image, model, tmp_path)

    assert cutout.mode == "RGBA" and cutout.size == image.size
    alpha = np.asarray(cutout.getchannel("A"))
    assert iou(alpha > 127, truth) >= 0.97
    assert model in rembg.removal.available_methods(tmp_path)


def test_loaded_sessions_are_kept_and_a_replaced_file_is_reloaded(rembg, tmp_path):
    path = save_red_minus_blue_model(tmp_path / "rembg" / "u2netp.onnx")
    image, truth = red_shapes()
    remover = rembg.removal.BackgroundRemover()

    first = remover.remove(image, "u2netp", tmp_path, mask_only=True)
    remover.remove(image, "u2netp", tmp_path, mask_only=True)
    assert len(remover.sessions) == 1

    save_red_minus_blue_model(path, sign=-1.0)  # now it marks the blue wall instead
    later = time.time() + 5
    os.utime(path, (later, later))
    inverted = remover.remove(image, "u2netp", tmp_path, mask_only=True)

    assert first.mode == inverted.mode == "L"
    assert iou(np.asarray(first) > 127, truth) >= 0.97
    assert iou(np.asarray(inverted) > 127, ~truth) >= 0.97
    assert len(remover.sessions) == 1  # the stale session was dropped, not kept beside the new one


def test_a_missing_model_file_says_which_file_to_put_where(rembg, tmp_path):
    image, _ = red_shapes(32)
    with pytest.raises(FileNotFoundError) as raised:
        rembg.removal.remove_background(image, "u2net", tmp_path)
    message = str(raised.value)
    assert str(tmp_path / "rembg" / "u2net.onnx") in message
    assert "https://github.com/danielgatis/rembg/releases/download/v0.0.0/u2net.onnx" in message
    assert rembg.removal.available_methods(tmp_path) == ["opencv"]
    assert set(rembg.removal.missing_models(tmp_path)) == set(rembg.removal.all_methods()) - {"opencv"}


def test_importing_the_plugin_and_running_a_model_stays_light(tmp_path):
    """Plugin import pulls no OpenCV, onnxruntime, Gradio or rembg; a model run without alpha
    matting never imports rembg/pymatting (whose first import compiles with numba for ~30-70 s)."""
    save_red_minus_blue_model(tmp_path / "rembg" / "u2net.onnx")
    script = f"""
import sys
from tests.extensions.rembg_loader import load_rembg
from tests.extensions.rembg_onnx_model import save_red_minus_blue_model
from PIL import Image
heavy = ("cv2", "onnxruntime", "gradio", "rembg", "pymatting", "numba")
rembg = load_rembg()
assert not [m for m in heavy if m in sys.modules], [m for m in heavy if m in sys.modules]
rembg.removal.remove_background(Image.new("RGB", (40, 40), "red"), "u2net", {str(tmp_path)!r})
assert "onnxruntime" in sys.modules
assert not [m for m in ("rembg", "pymatting", "numba", "gradio") if m in sys.modules]
print("light")
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "light" in done.stdout, done.stderr
