"""Background removal in a real browser: the Extras step and the extension's own tab give a
transparent PNG whose alpha matches the known foreground."""

import io

import numpy as np
import pytest
from PIL import Image

from tests.e2e.browser import open_ui, start_ui_server
from tests.extensions.rembg_pictures import iou, pictures

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, tiny_single_file):
    running = start_ui_server(tmp_path_factory.mktemp("ui-rembg"), tiny_single_file)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def picture(tmp_path_factory):
    chosen = pictures(128)[0]
    path = tmp_path_factory.mktemp("pictures") / "subject.png"
    chosen.image.save(path)
    return path, chosen.mask


def fetch_result(page, selector: str) -> Image.Image:
    page.wait_for_selector(f"{selector} img", timeout=60_000)
    src = page.get_attribute(f"{selector} img", "src")
    return Image.open(io.BytesIO(page.request.get(src).body()))


def test_extras_background_removal_step(ui_server, page, picture):
    path, mask = picture
    open_ui(page, ui_server)
    page.get_by_role("tab", name="Extras", exact=True).click()
    page.set_input_files("#extras_image input[type=file]", str(path))
    page.click("#extras_generate")
    page.wait_for_function("document.querySelector('#extras_message').innerText.includes('Enable at least one')")
    page.check("#extras_enable_background_removal input")
    page.click("#extras_generate")
    page.wait_for_function("document.querySelector('#extras_message').innerText.includes('RGBA')", timeout=60_000)
    result = fetch_result(page, "#extras_result")
    assert result.mode == "RGBA" and result.size == (128, 128)
    assert iou(np.asarray(result)[..., 3] > 127, mask) > 0.9


def test_rembg_tab_mask_only(ui_server, page, picture):
    path, mask = picture
    open_ui(page, ui_server)
    page.get_by_role("tab", name="Background removal", exact=True).click()
    page.set_input_files("#rembg_source input[type=file]", str(path))
    page.check("#rembg_mask_only input")
    page.click("#rembg_remove")
    result = fetch_result(page, "#rembg_result")
    assert result.mode in ("L", "LA", "RGB", "RGBA")
    gray = np.asarray(result.convert("L"))
    assert iou(gray > 127, mask) > 0.9


def test_an_image_over_the_pixel_cap_is_refused_with_a_message(ui_server, page, tmp_path):
    """Read by us within image_max_pixels, never decoded by Gradio first (a few hundred bytes
    declaring 16000x16000 pixels)."""
    from tests.e2e.test_browser_png_info import declared_only_png

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(declared_only_png(16000, 16000))
    open_ui(page, ui_server)
    page.get_by_role("tab", name="Extras", exact=True).click()
    page.set_input_files("#extras_image input[type=file]", str(bomb))
    page.check("#extras_enable_background_removal input")
    page.click("#extras_generate")
    page.wait_for_function(
        "document.querySelector('#extras_message').innerText.includes('the limit is 16777216')", timeout=60_000
    )
    page.get_by_role("tab", name="Background removal", exact=True).click()
    page.set_input_files("#rembg_source input[type=file]", str(bomb))
    page.click("#rembg_remove")
    page.wait_for_function(
        "document.querySelector('#rembg_message').innerText.includes('the limit is 16777216')", timeout=60_000
    )
