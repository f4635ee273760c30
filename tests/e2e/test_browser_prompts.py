"""Prompt tools in a real browser: live token counters, styles saved and applied, clip skip
quick setting filled from pasted infotext."""

import pytest

from tests.e2e.browser import open_ui, start_ui_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, tiny_single_file):
    running = start_ui_server(tmp_path_factory.mktemp("ui-prompts"), tiny_single_file)
    yield running
    running.stop()


def counter(page, elem_id: str) -> str:
    return page.inner_text(f"#{elem_id}")


def test_token_counters_follow_typing(ui_server, page):
    open_ui(page, ui_server)
    assert counter(page, "txt2img_token_counter") == "0/75"
    page.fill("#txt2img_prompt textarea", "a photo of a (cat:1.3)")
    page.wait_for_function("document.querySelector('#txt2img_token_counter').innerText === '5/75'")
    page.fill("#txt2img_prompt textarea", ", ".join(["a large red circle on a white background"] * 10))
    page.wait_for_function("document.querySelector('#txt2img_token_counter').innerText === '89/150'")
    page.fill("#txt2img_neg_prompt textarea", "blurry BREAK noisy")
    page.wait_for_function("document.querySelector('#txt2img_negative_token_counter').innerText === '2/75'")


def test_styles_are_saved_applied_and_used(ui_server, page):
    open_ui(page, ui_server)
    page.fill("#txt2img_prompt textarea", "masterpiece, {prompt}")
    page.fill("#txt2img_neg_prompt textarea", "lowres")
    page.fill("#txt2img_style_name textarea, #txt2img_style_name input", "fancy")
    page.click("#txt2img_style_create")
    page.wait_for_function("document.querySelector('#txt2img_style_message').innerText.includes('Saved')")
    assert "fancy" in (ui_server.data_dir / "styles.csv").read_text(encoding="utf-8-sig")
    page.fill("#txt2img_prompt textarea", "a cat")
    page.fill("#txt2img_neg_prompt textarea", "")
    page.click("#txt2img_styles input")
    page.get_by_role("option", name="fancy").click()
    page.keyboard.press("Escape")
    page.click("#txt2img_style_apply")
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value === 'masterpiece, a cat'")
    assert page.input_value("#txt2img_neg_prompt textarea") == "lowres"


def test_pasted_infotext_overrides_clip_skip_and_takes_styles_back_out(ui_server, page):
    open_ui(page, ui_server)
    infotext = (
        "masterpiece, a dog\nNegative prompt: lowres\n"
        "Steps: 3, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 64x64, Clip skip: 2"
    )
    page.fill("#txt2img_prompt textarea", infotext)
    page.click("#txt2img_paste")
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value === 'a dog'")
    assert page.input_value("#txt2img_neg_prompt textarea") == ""
    assert "fancy" in page.inner_text("#txt2img_styles")
    # Clip skip pasted is the request's override (A1111's Override settings), not the global setting.
    page.wait_for_function("document.querySelector('#txt2img_override_settings').innerText.includes('Clip skip: 2')")
    assert page.input_value("#quicksettings_clip_skip input[type=number]") == "1"
    page.click("#txt2img_generate")
    page.wait_for_function(
        "document.querySelector('#html_info_txt2img').innerText.includes('Clip skip: 2')", timeout=60_000
    )
    assert "masterpiece, a dog" in page.inner_text("#html_info_txt2img")  # the style applied again
