"""The Outputs tab in a real browser: a generated picture is listed, selecting it shows its seed,
Send to txt2img fills the prompt, Open in PNG Info reads it there, img2img and Extras receive it,
Delete moves it into the trash."""

import pytest

from tests.e2e.browser import open_ui, set_number, start_ui_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, tiny_single_file):
    running = start_ui_server(tmp_path_factory.mktemp("ui-outputs"), tiny_single_file)
    yield running
    running.stop()


def text_of(page, selector: str, wanted: str, timeout: int = 60_000) -> None:
    page.wait_for_function(
        f"(document.querySelector({selector!r})?.innerText || '').includes({wanted!r})", timeout=timeout
    )


def test_a_generated_picture_is_listed_sent_on_and_deleted(ui_server, page):
    open_ui(page, ui_server)
    page.fill("#txt2img_prompt textarea", "a lighthouse at dusk")
    for elem_id, value in (("txt2img_steps", 1), ("txt2img_width", 64), ("txt2img_height", 64)):
        set_number(page, elem_id, value)
    seed = page.locator("#txt2img_seed input")
    seed.fill("4321")
    seed.press("Tab")
    page.click("#txt2img_generate")
    text_of(page, "#html_info_txt2img", "Seed: 4321", timeout=90_000)
    (saved,) = sorted((ui_server.data_dir / "outputs" / "txt2img-images").rglob("*.png"))

    page.get_by_role("tab", name="Outputs", exact=True).click()
    text_of(page, "#outputs_summary", "1 picture(s)")
    page.locator("#outputs_gallery .thumbnail-item").first.click()
    text_of(page, "#html_info_outputs", "Seed: 4321")
    assert "a lighthouse at dusk" in page.inner_text("#html_info_outputs")
    assert page.input_value("#outputs_selected_name textarea") == f"txt2img-images/{saved.parent.name}/{saved.name}"

    # Send to txt2img: the prompt comes back after the field was changed.
    page.get_by_role("tab", name="txt2img", exact=True).click()
    page.fill("#txt2img_prompt textarea", "something else")
    page.get_by_role("tab", name="Outputs", exact=True).click()
    page.click("#outputs_send_txt2img")
    page.wait_for_function(
        "document.querySelector('#txt2img_prompt textarea').value === 'a lighthouse at dusk'", timeout=60_000
    )
    assert page.input_value("#txt2img_seed input") == "4321"

    page.get_by_role("tab", name="Outputs", exact=True).click()
    page.click("#outputs_open_pnginfo")
    text_of(page, "#html_info_pnginfo", "Seed: 4321")

    page.get_by_role("tab", name="Outputs", exact=True).click()
    page.click("#outputs_send_img2img")
    page.wait_for_selector("#img2img_image img", timeout=60_000)
    page.wait_for_function(
        "document.querySelector('#img2img_prompt textarea').value === 'a lighthouse at dusk'", timeout=60_000
    )
    page.get_by_role("tab", name="Outputs", exact=True).click()
    page.click("#outputs_send_extras")
    page.wait_for_selector("#extras_image img", timeout=60_000)

    page.get_by_role("tab", name="Outputs", exact=True).click()
    text_of(page, "#outputs_summary", "1 picture(s)")
    page.locator("#outputs_gallery .thumbnail-item").first.click()
    text_of(page, "#html_info_outputs", "Seed: 4321")
    page.click("#outputs_delete")
    text_of(page, "#outputs_summary", "No outputs yet")
    trashed = ui_server.data_dir / "trash" / "txt2img-images" / saved.parent.name / saved.name
    assert trashed.is_file() and not saved.exists()
    assert "Moved" in page.inner_text("#outputs_message")
