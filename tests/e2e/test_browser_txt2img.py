"""A real browser on the real UI: type a prompt, press Generate, find the image."""

import pytest

from modules.images.infotext import parse_infotext
from tests.e2e.browser import open_ui, set_number, start_ui_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, tiny_single_file):
    running = start_ui_server(tmp_path_factory.mktemp("ui-data"), tiny_single_file)
    yield running
    running.stop()


def test_generate_shows_the_image_and_saves_it_with_infotext(ui_server, page):
    open_ui(page, ui_server)
    page.fill("#txt2img_prompt textarea", "a yellow triangle")
    page.fill("#txt2img_neg_prompt textarea", "noise")
    for elem_id, value in (("txt2img_steps", 6), ("txt2img_width", 128), ("txt2img_height", 96)):
        set_number(page, elem_id, value)
    seed = page.locator("#txt2img_seed input")
    seed.fill("1234")
    seed.press("Tab")
    page.click("#txt2img_generate")
    page.wait_for_selector("#txt2img_gallery img", timeout=60_000)
    page.wait_for_function(
        "document.querySelector('#html_info_txt2img').innerText.includes('Seed: 1234')", timeout=30_000
    )
    info = page.inner_text("#html_info_txt2img")
    assert "a yellow triangle" in info and "Negative prompt: noise" in info and "Size: 128x96" in info

    saved = sorted((ui_server.data_dir / "outputs" / "txt2img-images").rglob("*.png"))
    assert [p.name.split("-", 1)[1] for p in saved] == ["1234.png"]
    from PIL import Image

    with Image.open(saved[0]) as image:
        assert image.size == (128, 96)
        parsed = parse_infotext(image.info["parameters"])
    assert (parsed["Prompt"], parsed["Negative prompt"], parsed["Steps"], parsed["Seed"]) == (
        "a yellow triangle",
        "noise",
        6,
        1234,
    )
    page.click("#txt2img_random_seed")
    page.wait_for_function("document.querySelector('#txt2img_seed input').value === '-1'", timeout=10_000)
    page.click("#txt2img_reuse_seed")
    page.wait_for_function("document.querySelector('#txt2img_seed input').value === '1234'", timeout=10_000)

    page.reload()
    page.wait_for_selector("#txt2img_prompt textarea", timeout=60_000)
    page.wait_for_function(
        "document.querySelector('#setting_sd_model_checkpoint input').value.startsWith('tiny.safetensors [')",
        timeout=30_000,
    )  # after a load the label carries the short hash


def test_size_not_a_multiple_of_8_is_rounded_with_a_message(ui_server, page):
    open_ui(page, ui_server)
    set_number(page, "txt2img_width", 100)
    page.fill("#txt2img_prompt textarea", "rounded")
    set_number(page, "txt2img_steps", 2)
    page.click("#txt2img_generate")
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('rounded')", timeout=60_000)
    assert "Size: 96x512" in page.inner_text("#html_info_txt2img")
    assert page.inner_text("#txt2img_message") == "width 100 is not a multiple of 8: used 96"


def test_progress_bar_shows_steps_and_interrupt_stops_the_job(ui_server, page):
    open_ui(page, ui_server)
    page.fill("#txt2img_prompt textarea", "long one")
    set_number(page, "txt2img_steps", 150)
    page.click("#txt2img_generate")
    page.wait_for_selector("#txt2img_progress .sd-progress", timeout=60_000)
    page.wait_for_function(
        "/Step [1-9]\\d*\\/150/.test(document.querySelector('#txt2img_progress').innerText)", timeout=60_000
    )
    page.click("#txt2img_interrupt")
    page.wait_for_function(
        "document.querySelector('#txt2img_message').innerText.includes('Interrupted')", timeout=30_000
    )
    assert page.inner_text("#txt2img_message") == "Interrupted: 1 image(s) made"
    assert page.locator("#txt2img_gallery img").count() >= 1


def test_hires_fix_from_the_ui_and_pasted_back(ui_server, page):
    open_ui(page, ui_server)
    page.fill("#txt2img_prompt textarea", "hires check")
    for elem_id, value in (("txt2img_steps", 3), ("txt2img_width", 64), ("txt2img_height", 64)):
        set_number(page, elem_id, value)
    page.click("#txt2img_hr")  # open the accordion
    page.check("#txt2img_enable_hr input")
    set_number(page, "txt2img_hr_scale", 1.5)
    set_number(page, "txt2img_denoising_strength", 0.4)
    page.click("#txt2img_generate")
    page.wait_for_function(
        "document.querySelector('#html_info_txt2img').innerText.includes('hires check')", timeout=60_000
    )
    info = page.inner_text("#html_info_txt2img")
    assert "Hires upscale: 1.5" in info and "Denoising strength: 0.4" in info and "Size: 64x64" in info
    from PIL import Image

    newest = max((ui_server.data_dir / "outputs" / "txt2img-images").rglob("*.png"), key=lambda p: p.stat().st_mtime)
    with Image.open(newest) as image:
        assert image.size == (96, 96)
    # Pasting an infotext without hires keys turns it off again; with them, sets them.
    page.fill("#txt2img_prompt textarea", "x\nSteps: 3, Sampler: Euler, Seed: 1, Size: 64x64")
    page.click("#txt2img_paste")
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value === 'x'")
    assert not page.is_checked("#txt2img_enable_hr input")
    page.fill("#txt2img_prompt textarea", info.replace("hires check", "again"))
    page.click("#txt2img_paste")
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value === 'again'")
    assert page.is_checked("#txt2img_enable_hr input")
    assert page.input_value("#txt2img_hr_scale input[type=number]") == "1.5"


def test_variation_seed_from_the_ui(ui_server, page):
    open_ui(page, ui_server)
    page.fill("#txt2img_prompt textarea", "variation check")
    for elem_id, value in (("txt2img_steps", 2), ("txt2img_width", 64), ("txt2img_height", 64)):
        set_number(page, elem_id, value)
    seed = page.locator("#txt2img_seed input")
    seed.fill("12")
    seed.press("Tab")
    page.click("#txt2img_seed_extras")
    subseed = page.locator("#txt2img_subseed input")
    subseed.fill("34")
    subseed.press("Tab")
    set_number(page, "txt2img_subseed_strength", 0.25)
    page.click("#txt2img_generate")
    page.wait_for_function(
        "document.querySelector('#html_info_txt2img').innerText.includes('variation check')", timeout=60_000
    )
    info = page.inner_text("#html_info_txt2img")
    assert "Seed: 12" in info and "Variation seed: 34" in info and "Variation seed strength: 0.25" in info


def test_live_preview_and_skip(ui_server, page):
    open_ui(page, ui_server)
    page.fill("#txt2img_prompt textarea", "preview check")
    for elem_id, value in (("txt2img_steps", 150), ("txt2img_width", 64), ("txt2img_height", 64)):
        set_number(page, elem_id, value)
    set_number(page, "txt2img_batch_count", 2)
    page.click("#txt2img_generate")
    # The live preview stands in the gallery (after step 10, the default) while the job runs.
    page.wait_for_function(
        "document.querySelectorAll('#txt2img_gallery img').length === 1 && "
        "document.querySelector('#txt2img_progress').innerText.includes('Step')",
        timeout=60_000,
    )
    page.click("#txt2img_skip")
    page.wait_for_function("/batch 2\\/2/.test(document.querySelector('#txt2img_progress').innerText)", timeout=60_000)
    page.click("#txt2img_interrupt")
    page.wait_for_function(
        "document.querySelector('#txt2img_message').innerText.includes('Interrupted')", timeout=60_000
    )
    assert page.locator("#txt2img_gallery img").count() >= 2
