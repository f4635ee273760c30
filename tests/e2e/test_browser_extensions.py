"""A real browser on the extension UI: the Extensions, Settings and Extras tabs, an
extension's own tab, the Script menu and the extra-networks picker."""

import json

import pytest

from tests.e2e.browser import open_ui, set_number, start_ui_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, tiny_single_file):
    extensions = ("example", "broken_import", "failing_hook")
    running = start_ui_server(tmp_path_factory.mktemp("ui-ext-data"), tiny_single_file, extensions=extensions)
    yield running
    running.stop()


def open_tab(page, server, name: str) -> None:
    open_ui(page, server)
    page.get_by_role("tab", name=name, exact=True).click()


def test_extensions_tab_lists_status_errors_and_saves_enabled_set(ui_server, page):
    open_tab(page, ui_server, "Extensions")
    table = page.locator("#extensions_installed")
    table.wait_for(timeout=30_000)
    text = table.inner_text()
    assert "example\t0.3.1\tuser\tloaded" in text
    assert "broken_import" in text and "No module named 'this_module_does_not_exist'" in text
    page.locator("#extensions_enabled label", has_text="example").click()
    page.click("#extensions_apply")
    page.wait_for_function("document.querySelector('#extensions_message').innerText.includes('Restart')")
    saved = json.loads((ui_server.data_dir / "config.json").read_text())
    assert saved["disabled_extensions"] == "example"
    page.locator("#extensions_enabled label", has_text="example").click()
    page.click("#extensions_apply")
    page.wait_for_function("document.querySelector('#extensions_message').innerText.includes('all enabled')")
    assert json.loads((ui_server.data_dir / "config.json").read_text())["disabled_extensions"] == ""


def click_and_answer(page, selector: str, accept: bool) -> list[str]:
    """Click, answering the confirm() dialog this brings up; returns the dialog's text once shown.
    (Playwright dismisses dialogs nobody handles.)"""
    asked: list[str] = []

    def on_dialog(dialog):
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", on_dialog)
    page.click(selector)
    return asked


def test_install_asks_for_confirmation_first(ui_server, page, tmp_path):
    source = tmp_path / "greeter"
    source.mkdir()
    (source / "plugin.py").write_text("from modules.plugins import hookimpl\n")
    open_tab(page, ui_server, "Extensions")
    page.get_by_role("tab", name="Install", exact=True).click()
    page.fill("#extensions_install_url textarea, #extensions_install_url input", str(source))

    asked = click_and_answer(page, "#extensions_install", accept=False)
    page.wait_for_function("document.querySelector('#extensions_install_result').innerText.includes('Cancelled')")
    assert len(asked) == 1 and str(source) in asked[0] and "trust" in asked[0]
    assert not (ui_server.data_dir / "extensions" / "greeter").exists()

    asked = click_and_answer(page, "#extensions_install", accept=True)
    page.wait_for_function("document.querySelector('#extensions_install_result').innerText.includes('Installed')")
    assert len(asked) == 1
    assert (ui_server.data_dir / "extensions" / "greeter" / "plugin.py").exists()


def test_extension_tab_works(ui_server, page):
    open_tab(page, ui_server, "Example")
    page.fill("#example_input textarea", "hello")
    page.click("#example_shout")
    page.wait_for_function("document.querySelector('#example_output textarea').value === 'HELLO!'")


def test_settings_tab_saves_extension_settings(ui_server, page):
    open_tab(page, ui_server, "Settings")
    page.locator("#settings_pages label", has_text="Example").first.click()
    page.fill("#setting_example_suffix textarea, #setting_example_suffix input", "at night")
    page.click("#settings_submit")
    page.wait_for_function("document.querySelector('#settings_result').innerText.includes('saved')")
    assert json.loads((ui_server.data_dir / "config.json").read_text())["example_suffix"] == "at night"
    assert "example_suffix" in page.inner_text("#settings_result")


def test_script_menu_and_extra_networks_picker(ui_server, page):
    open_ui(page, ui_server)
    page.fill("#txt2img_prompt textarea", "a cat")
    page.locator("#txt2img_extra_networks_accordion").get_by_text("Extra networks").first.click()  # closed at first
    page.click("#txt2img_extra_networks_list input")
    page.get_by_role("option", name="example: demo").click()
    page.click("#txt2img_extra_networks_add")
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value === 'a cat <example:demo:1>'")
    set_number(page, "txt2img_steps", 2)
    set_number(page, "txt2img_width", 64)
    set_number(page, "txt2img_height", 64)
    page.click("#txt2img_script input")
    page.get_by_role("option", name="Example repeat").click()
    page.wait_for_selector("#example_repeats", state="visible")
    set_number(page, "example_repeats", 3)
    page.click("#txt2img_generate")
    page.wait_for_function("document.querySelectorAll('#txt2img_gallery img').length >= 3", timeout=60_000)
    info = page.inner_text("#html_info_txt2img")
    assert "a cat <example:demo:1>, at night" in info  # tag kept in infotext; suffix from the setting


def test_pasted_infotext_fills_fields_and_script_controls(ui_server, page):
    open_ui(page, ui_server)
    infotext = (
        "a red cube\nNegative prompt: blurry\n"
        'Steps: 7, Sampler: DPM++ 2M Karras, CFG scale: 4.5, Seed: 99, Size: 96x80, Example mirror: "left, right"'
    )
    page.fill("#txt2img_prompt textarea", infotext)
    page.click("#txt2img_paste")
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value === 'a red cube'")
    assert page.input_value("#txt2img_neg_prompt textarea") == "blurry"
    assert page.input_value("#txt2img_steps input[type=number]") == "7"
    assert page.input_value("#txt2img_width input[type=number]") == "96"
    assert page.input_value("#txt2img_seed input") == "99"
    assert page.input_value("#txt2img_sampling input") == "DPM++ 2M"
    assert page.input_value("#txt2img_scheduler input") == "Karras"
    page.click("#txt2img_script_example_mirror")  # open the always-on script's accordion
    assert page.is_checked("#example_mirror_enabled input")
    assert page.input_value("#example_mirror_label textarea, #example_mirror_label input") == "left, right"


def test_installing_is_refused_when_listening_beyond_localhost(tmp_path_factory, tiny_single_file, page):
    server = start_ui_server(tmp_path_factory.mktemp("ui-listen"), tiny_single_file, "--listen", "--insecure")
    try:
        open_tab(page, server, "Extensions")  # the same browser, pointed at the second server
        page.get_by_role("tab", name="Install", exact=True).click()
        assert "--enable-insecure-extension-access" in page.inner_text("#extensions_install_result")
        assert page.locator("#extensions_install").is_disabled()
    finally:
        server.stop()
    assert not (server.data_dir / "extensions").exists()


def test_update_and_remove_a_user_extension(ui_server, page):
    open_tab(page, ui_server, "Extensions")
    click_and_answer(page, "#extensions_update", accept=True)
    page.wait_for_function("document.querySelector('#extensions_message').innerText.includes('Choose')")
    page.click("#extensions_target input")
    page.get_by_role("option", name="broken_import").click()
    asked = click_and_answer(page, "#extensions_update", accept=True)
    page.wait_for_function("document.querySelector('#extensions_message').innerText.includes('not installed from git')")
    assert "Update the extension broken_import" in asked[0]
    asked = click_and_answer(page, "#extensions_remove", accept=False)
    page.wait_for_function("document.querySelector('#extensions_message').innerText.includes('Cancelled')")
    assert len(asked) == 1 and "Remove the extension broken_import" in asked[0]
    assert (ui_server.data_dir / "extensions" / "broken_import").exists()
    click_and_answer(page, "#extensions_remove", accept=True)
    page.wait_for_function("document.querySelector('#extensions_message').innerText.includes('Removed broken_import')")
    assert not (ui_server.data_dir / "extensions" / "broken_import").exists()
    assert (ui_server.data_dir / "extensions" / "example").exists()
