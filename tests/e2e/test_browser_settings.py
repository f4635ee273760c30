"""The Settings tab and the quicksettings row in a real browser: per-field validation (nothing saved,
typed values kept), search, restoring a default, quicksettings_list after a restart, and a pasted
Clip skip that overrides one request without touching the global setting."""

import json

import pytest

from tests.e2e.browser import open_ui, start_ui_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, tiny_single_file):
    running = start_ui_server(tmp_path_factory.mktemp("ui-settings"), tiny_single_file)
    yield running
    running.stop()


def saved_settings(server) -> dict:
    config = server.data_dir / "config.json"
    return json.loads(config.read_text()) if config.exists() else {}


def open_settings(page, server) -> None:
    open_ui(page, server)
    page.get_by_role("tab", name="Settings", exact=True).click()
    page.wait_for_selector("#settings_pages", timeout=30_000)


def show_page(page, name: str) -> None:
    page.locator("#settings_pages label", has_text=name).first.click()


def type_into(page, elem_id: str, value) -> None:
    box = page.locator(f"#{elem_id} input, #{elem_id} textarea").first
    box.fill(str(value))
    box.press("Tab")


def apply_and_wait(page, text: str) -> None:
    """Apply, then wait for a new result message that says `text`."""
    result = "document.querySelector('#settings_result').innerText"
    before = page.evaluate(result)
    page.click("#settings_submit")
    page.wait_for_function(f"{result} !== {before!r} && {result}.includes({text!r})")


def wait_saved(page, server, key: str, value) -> None:
    for _ in range(100):
        if saved_settings(server).get(key) == value:
            return
        page.wait_for_timeout(100)
    assert saved_settings(server).get(key) == value


def test_an_invalid_field_shows_its_reason_and_nothing_is_saved_until_it_is_fixed(ui_server, page):
    open_settings(page, ui_server)
    show_page(page, "Show all pages")
    type_into(page, "setting_show_progress_every_n_steps", 999)
    type_into(page, "setting_ESRGAN_tile", 256)
    apply_and_wait(page, "Nothing saved")

    reason = page.inner_text("#setting_show_progress_every_n_steps_error")
    assert "999 is above the maximum 32" in reason
    assert page.inner_text("#setting_ESRGAN_tile_error").strip() == ""
    saved = saved_settings(ui_server)
    assert "ESRGAN_tile" not in saved and "show_progress_every_n_steps" not in saved
    # The values typed stay in the page.
    assert page.input_value("#setting_ESRGAN_tile input") == "256"
    assert page.input_value("#setting_show_progress_every_n_steps input") == "999"

    type_into(page, "setting_show_progress_every_n_steps", 5)
    apply_and_wait(page, "2 setting(s) saved")
    saved = saved_settings(ui_server)
    assert (saved["show_progress_every_n_steps"], saved["ESRGAN_tile"]) == (5, 256)
    assert page.inner_text("#setting_show_progress_every_n_steps_error").strip() == ""


def test_search_filters_settings_across_pages(ui_server, page):
    open_settings(page, ui_server)
    assert page.is_visible("#setting_row_samples_save")  # the first page, Saving images
    assert not page.is_visible("#setting_row_ESRGAN_tile")
    type_into(page, "settings_search", "tile")
    page.wait_for_selector("#setting_row_ESRGAN_tile", state="visible")
    assert page.is_visible("#setting_row_ESRGAN_tile_overlap")
    page.wait_for_selector("#setting_row_samples_save", state="hidden")
    assert not page.is_visible("#setting_row_CLIP_stop_at_last_layers")

    type_into(page, "settings_search", "")
    page.wait_for_selector("#setting_row_samples_save", state="visible")
    page.wait_for_selector("#setting_row_ESRGAN_tile", state="hidden")


def test_restore_puts_the_default_back_and_apply_saves_it(ui_server, page):
    open_settings(page, ui_server)
    type_into(page, "setting_n_rows", 4)
    page.click("#settings_submit")
    wait_saved(page, ui_server, "n_rows", 4)

    page.click("#setting_n_rows_restore")
    page.wait_for_function("document.querySelector('#setting_n_rows input').value === '-1'")
    page.click("#settings_submit")
    wait_saved(page, ui_server, "n_rows", -1)


def test_pasted_clip_skip_overrides_the_next_generation_only(ui_server, page):
    open_ui(page, ui_server)
    infotext = "a dog\nSteps: 1, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 64x64, Clip skip: 2"
    page.fill("#txt2img_prompt textarea", infotext)
    page.click("#txt2img_paste")
    page.wait_for_function(
        "(document.querySelector('#txt2img_override_settings') || {innerText: ''}).innerText.includes('Clip skip: 2')"
    )
    assert page.input_value("#quicksettings_clip_skip input[type=number]") == "1"
    page.click("#txt2img_generate")
    page.wait_for_function(
        "document.querySelector('#html_info_txt2img').innerText.includes('Seed: 5')", timeout=120_000
    )
    assert "Clip skip: 2" in page.inner_text("#html_info_txt2img")
    assert saved_settings(ui_server).get("CLIP_stop_at_last_layers", 1) == 1
    assert page.input_value("#quicksettings_clip_skip input[type=number]") == "1"


def test_quicksettings_list_puts_another_setting_in_the_top_row_after_a_restart(tmp_path, tiny_single_file, page):
    first = start_ui_server(tmp_path, tiny_single_file)
    try:
        open_settings(page, first)
        show_page(page, "UI")
        type_into(page, "setting_quicksettings_list", "sd_model_checkpoint, eta_noise_seed_delta, no_such_key")
        apply_and_wait(page, "saved")
    finally:
        first.stop()

    second = start_ui_server(tmp_path, tiny_single_file)
    try:
        open_ui(page, second)
        quick = page.locator("#quicksettings")
        assert quick.locator("#quicksettings_eta_noise_seed_delta").is_visible()
        assert quick.locator("#setting_sd_model_checkpoint").is_visible()
        assert page.locator("#quicksettings_clip_skip").count() == 0
        # Changing it saves it, and the Settings tab shows the same value.
        type_into(page, "quicksettings_eta_noise_seed_delta", 31337)
        wait_saved(page, second, "eta_noise_seed_delta", 31337)
        page.get_by_role("tab", name="Settings", exact=True).click()
        assert "no_such_key" in page.inner_text("#settings_notes")
        show_page(page, "Sampler parameters")
        assert page.input_value("#setting_eta_noise_seed_delta input") == "31337"
    finally:
        second.stop()


def test_reload_ui_reloads_the_page_with_the_saved_settings(ui_server, page):
    open_settings(page, ui_server)
    show_page(page, "Sampler parameters")
    type_into(page, "setting_eta_noise_seed_delta", 42)
    page.click("#settings_submit")
    wait_saved(page, ui_server, "eta_noise_seed_delta", 42)
    page.evaluate("window.__before_reload = true")
    page.click("#settings_reload_ui")
    page.wait_for_function("window.__before_reload === undefined", timeout=60_000)
    open_settings(page, ui_server)  # the new page, read afresh
    show_page(page, "Sampler parameters")
    assert page.input_value("#setting_eta_noise_seed_delta input") == "42"
