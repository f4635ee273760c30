"""The gallery shows the infotext of the image the user selects: with an extension that gives the
second image of a batch its own prompt, selecting it shows that prompt and its seed, and Reuse
puts its seed back."""

import pytest

from tests.e2e.browser import open_ui, set_number, start_ui_server

pytestmark = pytest.mark.browser

INFO = "document.querySelector('#html_info_txt2img').innerText"


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, tiny_single_file):
    running = start_ui_server(tmp_path_factory.mktemp("ui-per-image"), tiny_single_file, extensions=("second_prompt",))
    yield running
    running.stop()


def test_selecting_an_image_shows_its_own_prompt_and_seed(ui_server, page):
    open_ui(page, ui_server)
    page.fill("#txt2img_prompt textarea", "a green square")
    for elem_id, value in (("txt2img_steps", 2), ("txt2img_width", 64), ("txt2img_height", 64)):
        set_number(page, elem_id, value)
    set_number(page, "txt2img_batch_size", 2)
    seed = page.locator("#txt2img_seed input")
    seed.fill("40")
    seed.press("Tab")
    page.click("#txt2img_generate")
    page.wait_for_function(f"{INFO}.includes('Seed: 40')", timeout=60_000)
    assert "at night" not in page.inner_text("#html_info_txt2img")
    page.locator("#txt2img_gallery img").nth(1).click()
    page.wait_for_function(f"{INFO}.includes('Seed: 41')", timeout=30_000)
    assert page.inner_text("#html_info_txt2img").startswith("a green square, at night")
    page.click("#txt2img_reuse_seed")
    page.wait_for_function("document.querySelector('#txt2img_seed input').value === '41'", timeout=10_000)
