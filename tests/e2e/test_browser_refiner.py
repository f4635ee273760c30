"""The Refiner accordion and the Hires checkpoint from a real browser, with two tiny checkpoints:
the other one picked as the refiner (in txt2img and img2img) or as the hires pass's checkpoint shows
in the infotext of the picture made, and pasting that infotext back ticks and fills the controls."""

import re

import pytest
from PIL import Image

from modules.images.infotext import parse_infotext
from tests.e2e.browser import open_ui, set_number, start_ui_server
from tests.fixtures.tiny_model import save_single_file

pytestmark = pytest.mark.browser

INFO = "document.querySelector('#html_info_txt2img').innerText"


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, tiny_single_file):
    data_dir = tmp_path_factory.mktemp("ui-refiner")
    save_single_file(data_dir / "models" / "Stable-diffusion" / "other.safetensors", seed=1)
    running = start_ui_server(data_dir, tiny_single_file)
    yield running
    running.stop()


def pick_checkpoint(page, elem_id: str, name: str) -> None:
    """Open a checkpoint dropdown and click the option of file `name` (its label may add the hash
    and the family)."""
    page.click(f"#{elem_id} input")
    page.get_by_role("option", name=re.compile(rf"^{re.escape(name)}\b")).click()
    page.keyboard.press("Escape")
    page.wait_for_function(f"document.querySelector('#{elem_id} input').value.startsWith({name!r})", timeout=10_000)


def small_job(page, seed: int) -> None:
    page.fill("#txt2img_prompt textarea", "a refined cat")
    for elem_id, value in (("txt2img_steps", 4), ("txt2img_width", 64), ("txt2img_height", 64)):
        set_number(page, elem_id, value)
    box = page.locator("#txt2img_seed input")
    box.fill(str(seed))
    box.press("Tab")


def generated_info(page, seed: int) -> dict:
    page.click("#txt2img_generate")
    page.wait_for_function(f"{INFO}.includes('Seed: {seed}')", timeout=120_000)
    return parse_infotext(page.inner_text("#html_info_txt2img"))


def test_the_refiner_picked_in_the_browser_is_used_and_pasted_back(ui_server, page):
    open_ui(page, ui_server)
    small_job(page, 31)
    page.click("#txt2img_refiner")  # open the accordion
    page.check("#txt2img_enable_refiner input")
    pick_checkpoint(page, "txt2img_refiner_checkpoint", "other.safetensors")
    set_number(page, "txt2img_refiner_switch_at", 0.5)
    info = generated_info(page, 31)
    assert info["Refiner"].startswith("other.safetensors"), info
    assert info["Refiner switch at"] == 0.5

    # Untick, move the slider, then paste the infotext back: the refiner is ticked and filled again.
    page.uncheck("#txt2img_enable_refiner input")
    set_number(page, "txt2img_refiner_switch_at", 0.9)
    page.fill("#txt2img_prompt textarea", page.inner_text("#html_info_txt2img"))
    page.click("#txt2img_paste")
    page.wait_for_function("document.querySelector('#txt2img_enable_refiner input').checked", timeout=10_000)
    assert page.locator("#txt2img_refiner_switch_at input[type=number]").input_value() == "0.5"
    assert page.locator("#txt2img_refiner_checkpoint input").input_value().startswith("other.safetensors")


def test_the_hires_checkpoint_picked_in_the_browser_is_recorded(ui_server, page):
    open_ui(page, ui_server)
    small_job(page, 32)
    page.click("#txt2img_hr")
    page.check("#txt2img_enable_hr input")
    for elem_id, value in (("txt2img_hr_scale", 1.5), ("txt2img_hires_steps", 2)):
        set_number(page, elem_id, value)
    pick_checkpoint(page, "txt2img_hr_checkpoint", "other.safetensors")
    info = generated_info(page, 32)
    assert info["Hires checkpoint"].startswith("other.safetensors"), info
    assert info["Hires upscale"] == 1.5


def test_the_img2img_refiner_is_used(ui_server, page, tmp_path):
    picture = tmp_path / "init.png"
    Image.new("RGB", (64, 64), (200, 120, 40)).save(picture)
    open_ui(page, ui_server)
    page.get_by_role("tab", name="img2img", exact=True).click()
    page.set_input_files("#img2img_image input[type=file]", str(picture))
    page.wait_for_selector("#img2img_image img", timeout=30_000)
    page.fill("#img2img_prompt textarea", "a refined cat")
    for elem_id, value in (("img2img_steps", 4), ("img2img_width", 64), ("img2img_height", 64)):
        set_number(page, elem_id, value)
    box = page.locator("#img2img_seed input")
    box.fill("33")
    box.press("Tab")
    page.click("#img2img_refiner")
    page.check("#img2img_enable_refiner input")
    pick_checkpoint(page, "img2img_refiner_checkpoint", "other.safetensors")
    set_number(page, "img2img_refiner_switch_at", 0.6)
    page.click("#img2img_generate")
    page.wait_for_function(
        "document.querySelector('#html_info_img2img').innerText.includes('Seed: 33')", timeout=120_000
    )
    info = parse_infotext(page.inner_text("#html_info_img2img"))
    assert info["Refiner"].startswith("other.safetensors"), info
    assert info["Refiner switch at"] == 0.6
