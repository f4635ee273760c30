"""Extras in a real browser: a model upscaler (a tiny ESRGAN in models/ESRGAN) chosen in the
Upscaler 1 dropdown, with Create flipped copies: the result is the model's upscale, pixel for
pixel, and the gallery holds it and its mirror."""

import io

import numpy as np
import pytest
from PIL import Image

from modules.upscaling import UpscalerRegistry
from tests.e2e.browser import choose, open_ui, start_ui_server
from tests.fixtures.tiny_upscaler import save_tiny_esrgan

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, tiny_single_file):
    data_dir = tmp_path_factory.mktemp("ui-extras")
    save_tiny_esrgan(data_dir / "models" / "ESRGAN" / "2x-Tiny.safetensors", scale=2)
    running = start_ui_server(data_dir, tiny_single_file)
    yield running
    running.stop()


def fetch(page, src: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(page.request.get(src).body())).convert("RGB")).astype(int)


def test_extras_model_upscale_with_flipped_copies(ui_server, page, tmp_path):
    source = Image.fromarray(np.random.default_rng(7).integers(0, 256, (20, 28, 3), dtype=np.uint8))
    path = tmp_path / "source.png"
    source.save(path)
    open_ui(page, ui_server)
    page.get_by_role("tab", name="Extras", exact=True).click()
    page.set_input_files("#extras_image input[type=file]", str(path))
    choose(page, "extras_upscaler_1", "2x-Tiny")
    page.check("#extras_enable_create_flipped_copies input")
    page.click("#extras_generate")
    page.wait_for_function("document.querySelector('#extras_message').innerText.includes('2 image(s)')",
                           timeout=60_000)  # fmt: skip
    message = page.inner_text("#extras_message")
    assert "56x40" in message and "Postprocess upscaler: 2x-Tiny" in message
    expected = np.asarray(UpscalerRegistry(ui_server.data_dir / "models").upscale(source, "2x-Tiny", 2)).astype(int)
    result = fetch(page, page.get_attribute("#extras_result img", "src"))
    assert result.shape == (40, 56, 3) and np.abs(result - expected).max() <= 1
    page.wait_for_selector("#extras_gallery img", timeout=30_000)
    sources = [img.get_attribute("src") for img in page.query_selector_all("#extras_gallery .thumbnail-item img")]
    assert len(sources) == 2
    assert np.abs(fetch(page, sources[1]) - expected[:, ::-1]).max() <= 1
