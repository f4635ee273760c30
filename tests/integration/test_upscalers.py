"""Model upscalers on a real engine: listed from models/, used by the hires fix and by "Upscaler
for img2img", and refused by name when unknown, before anything is queued."""

import shutil

import numpy as np
import pytest
from PIL import Image

from modules.images.infotext import parse_infotext
from modules.processing.request import Img2ImgRequest, Txt2ImgRequest
from tests.conftest import make_engine
from tests.fixtures.tiny_upscaler import save_tiny_esrgan


@pytest.fixture(scope="module")
def engine(tmp_path_factory, tiny_single_file):
    data_dir = tmp_path_factory.mktemp("upscalers-data")
    models = data_dir / "models"
    shutil.copytree(tiny_single_file.parents[1], models)
    save_tiny_esrgan(models / "ESRGAN" / "2x-Tiny.pth", scale=2)
    save_tiny_esrgan(models / "RealESRGAN" / "4x-Tiny.safetensors", scale=4, seed=1)
    built = make_engine(data_dir, "--models-dir", str(models))
    yield built
    built.queue.shutdown()


def generate(engine, **fields):
    base = {"prompt": "a cat", "steps": 2, "width": 64, "height": 64, "seed": 9, "save_images": False}
    return engine.submit_txt2img(Txt2ImgRequest(**{**base, **fields})).outcome()


def test_the_engine_lists_both_model_files(engine):
    assert engine.upscalers.names() == ["None", "Lanczos", "Nearest", "2x-Tiny", "4x-Tiny"]
    assert engine.upscalers is engine.upscalers  # made once, on first use


@pytest.mark.parametrize("name, size", [("2x-Tiny", (128, 128)), ("4x-Tiny", (96, 96))])
def test_a_model_upscaler_is_a_hires_upscaler(engine, name, size):
    scale = size[0] / 64
    result = generate(engine, enable_hr=True, hr_upscaler=name.lower(), hr_scale=scale, denoising_strength=0.5)
    assert result.images[0].image.size == size
    assert parse_infotext(result.images[0].infotext)["Hires upscaler"] == name  # canonical name recorded


def test_the_model_changes_the_hires_start(engine):
    """Strength 0: the upscaled first pass (re-encoded) is the result, so the upscaler shows."""
    by_model = generate(engine, enable_hr=True, hr_upscaler="2x-Tiny", hr_scale=2, denoising_strength=0.0)
    by_lanczos = generate(engine, enable_hr=True, hr_upscaler="Lanczos", hr_scale=2, denoising_strength=0.0)
    a, b = (np.asarray(r.images[0].image).astype(int) for r in (by_model, by_lanczos))
    assert a.shape == b.shape == (128, 128, 3) and np.abs(a - b).mean() > 2


def test_unknown_hires_upscaler_names_the_model_upscalers(engine):
    with pytest.raises(ValueError, match="unknown hires upscaler 'ESRGAN_9x'.*2x-Tiny"):
        engine.submit_txt2img(Txt2ImgRequest(enable_hr=True, hr_upscaler="ESRGAN_9x"))


def test_upscaler_for_img2img_uses_the_model(engine):
    init = Image.fromarray(np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    base = {"prompt": "a cat", "steps": 2, "width": 64, "height": 64, "seed": 3, "save_images": False,
            "init_images": [init], "denoising_strength": 0.0}  # fmt: skip
    results = {}
    for name in ("2x-Tiny", "Lanczos"):
        request = Img2ImgRequest(**base, override_settings={"upscaler_for_img2img": name})
        results[name] = np.asarray(engine.submit_img2img(request).outcome().images[0].image).astype(int)
    assert results["2x-Tiny"].shape == (64, 64, 3)
    assert np.abs(results["2x-Tiny"] - results["Lanczos"]).mean() > 2
    with pytest.raises(ValueError, match="unknown upscaler 'missing'"):
        request = Img2ImgRequest(**base, override_settings={"upscaler_for_img2img": "missing"})
        engine.submit_img2img(request).outcome()
