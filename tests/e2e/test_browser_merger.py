"""The Checkpoint Merger tab in a real browser: pick A and B, merge; the status names the new file,
it is on disk, and the top checkpoint dropdown offers it at once. A method missing its model says
so in the status box."""

import re

import pytest

from tests.e2e.browser import open_ui, start_ui_server
from tests.fixtures.tiny_model import save_single_file

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, tiny_single_file):
    data_dir = tmp_path_factory.mktemp("ui-merger")
    save_single_file(data_dir / "models" / "Stable-diffusion" / "other.safetensors", seed=1)
    running = start_ui_server(data_dir, tiny_single_file)
    yield running
    running.stop()


def pick(page, elem_id: str, name: str) -> None:
    """Choose a checkpoint by file name (its label gains " [hash]" once hashed)."""
    page.click(f"#{elem_id} input")
    page.locator(f"#{elem_id}").get_by_role(
        "option", name=re.compile(rf"^{re.escape(name)}( \[[0-9a-f]+\])?( · SD 1\.x)?$")
    ).click()
    page.keyboard.press("Escape")
    page.wait_for_function(f"document.querySelector('#{elem_id} input').value.startsWith({name!r})")


def wait_for_result(page) -> str:
    page.wait_for_function(
        "/Checkpoint saved|Error/.test(document.querySelector('#modelmerger_result').innerText)", timeout=60_000
    )
    return page.inner_text("#modelmerger_result")


def test_merge_two_checkpoints_in_the_browser(ui_server, page):
    open_ui(page, ui_server)
    page.get_by_role("tab", name="Checkpoint Merger", exact=True).click()
    pick(page, "modelmerger_primary_model_name", "tiny.safetensors")
    pick(page, "modelmerger_secondary_model_name", "other.safetensors")
    page.fill("#modelmerger_custom_name textarea", "browser-merge")
    top_before = page.input_value("#setting_sd_model_checkpoint input")
    assert top_before  # a checkpoint is shown, and it must stay shown
    page.click("#modelmerger_merge")
    status = wait_for_result(page)
    target = ui_server.data_dir / "models" / "Stable-diffusion" / "browser-merge.safetensors"
    assert f"Checkpoint saved to {target.resolve()}" in status or f"Checkpoint saved to {target}" in status
    assert target.is_file() and target.stat().st_size > 100_000
    # The top dropdown offers it without a refresh, and still shows the loaded model.
    assert page.input_value("#setting_sd_model_checkpoint input") == top_before
    page.click("#setting_sd_model_checkpoint input")
    offered = page.locator("#setting_sd_model_checkpoint").get_by_role("option", name=re.compile(r"^browser-merge\."))
    assert offered.count() == 1
    page.keyboard.press("Escape")


def test_add_difference_without_c_says_why_in_the_status(ui_server, page):
    open_ui(page, ui_server)
    page.get_by_role("tab", name="Checkpoint Merger", exact=True).click()
    pick(page, "modelmerger_primary_model_name", "tiny.safetensors")
    pick(page, "modelmerger_secondary_model_name", "other.safetensors")
    page.get_by_label("Add difference").check()
    page.click("#modelmerger_merge")
    assert "Error: Add difference needs a tertiary model (C)" in wait_for_result(page)
