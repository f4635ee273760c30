"""Pasted infotext in a real browser: the settings it records (ENSD, Emphasis) show in the
Override settings box and apply to the next generation without changing the saved settings."""

import json

import pytest

from tests.e2e.browser import open_ui, start_ui_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, tiny_single_file):
    running = start_ui_server(tmp_path_factory.mktemp("ui-overrides"), tiny_single_file)
    yield running
    running.stop()


def test_pasted_ensd_and_emphasis_apply_to_the_next_generation_only(ui_server, page):
    open_ui(page, ui_server)
    infotext = (
        "a (red:1.4) dog\n"
        "Steps: 2, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 64x64, ENSD: 31337, Emphasis: No norm"
    )
    page.fill("#txt2img_prompt textarea", infotext)
    page.click("#txt2img_paste")
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value === 'a (red:1.4) dog'")
    page.wait_for_function(
        "(document.querySelector('#txt2img_override_settings') || {innerText: ''}).innerText.includes('ENSD: 31337')"
    )
    assert "Emphasis: No norm" in page.inner_text("#txt2img_override_settings")
    page.click("#txt2img_generate")
    page.wait_for_function(
        "document.querySelector('#html_info_txt2img').innerText.includes('ENSD: 31337')", timeout=60_000
    )
    assert "Emphasis: No norm" in page.inner_text("#html_info_txt2img")
    config = ui_server.data_dir / "config.json"
    saved = json.loads(config.read_text()) if config.exists() else {}
    assert saved.get("eta_noise_seed_delta", 0) == 0 and saved.get("emphasis", "Original") == "Original"
