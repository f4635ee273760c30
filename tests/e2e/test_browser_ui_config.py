"""The data dir's page files in a real browser, as A1111 has them: ui-config.json written on the
first start and its edited values the controls' defaults after a restart, user.css applied,
notification.mp3 played when a job's pictures arrive, the footer's API link to the REST docs, and
Extras saving its result under outputs/extras-images."""

import json

import numpy as np
import pytest
import requests
from PIL import Image, PngImagePlugin

from tests.e2e.browser import open_ui, start_ui_server

pytestmark = pytest.mark.browser

USER_CSS = "#txt2img_prompt { outline: 3px solid rgb(1, 2, 3) !important; }\n"
# The browser's play() is recorded rather than sounded: headless chromium has no audio device.
RECORD_PLAYS = """
window.__played = [];
HTMLMediaElement.prototype.play = function () { window.__played.push(this.src); return Promise.resolve(); };
"""


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, tiny_single_file):
    data_dir = tmp_path_factory.mktemp("ui-config")
    first = start_ui_server(data_dir, tiny_single_file)
    first.stop()
    config_path = data_dir / "ui-config.json"
    written = json.loads(config_path.read_text())
    edited = dict(written)
    edited.update({
        "txt2img/Sampling steps/value": 2, "txt2img/Sampling steps/maximum": 200,
        "txt2img/Width/value": 64, "txt2img/Height/value": 64,
    })  # fmt: skip
    config_path.write_text(json.dumps(edited, indent=4))
    (data_dir / "user.css").write_text(USER_CSS)
    (data_dir / "notification.mp3").write_bytes(b"ID3 not really a sound")
    running = start_ui_server(data_dir, tiny_single_file, "--api")
    running.first_written = written
    yield running
    running.stop()


def test_first_start_writes_ui_config_with_a1111_keys(ui_server):
    written = ui_server.first_written
    assert written["txt2img/Sampling steps/value"] == 20
    assert written["txt2img/Sampling steps/maximum"] == 150
    assert written["img2img/Denoising strength/value"] == 0.75
    assert written["extras/Resize/step"] == 0.05
    assert written["txt2img/Sampling steps/visible"] is True


def test_edited_values_are_the_defaults_after_a_restart(ui_server, page):
    open_ui(page, ui_server)
    steps_range = page.locator("#txt2img_steps input[type=range]")
    assert steps_range.get_attribute("max") == "200"
    assert page.locator("#txt2img_steps input[type=number]").input_value() == "2"
    assert page.locator("#txt2img_width input[type=number]").input_value() == "64"
    # The restart kept the user's values and wrote nothing over them.
    stored = json.loads((ui_server.data_dir / "ui-config.json").read_text())
    assert stored["txt2img/Sampling steps/maximum"] == 200 and stored["txt2img/Width/value"] == 64


def test_user_css_is_applied(ui_server, page):
    open_ui(page, ui_server)
    outline = page.eval_on_selector("#txt2img_prompt", "node => getComputedStyle(node).outlineColor")
    assert outline == "rgb(1, 2, 3)"


def test_footer_api_link_points_to_the_rest_docs(ui_server, page):
    open_ui(page, ui_server)
    link = page.locator("#sd_api_footer a")
    link.wait_for(timeout=30_000)
    assert link.get_attribute("href") == "/docs"
    assert "/sdapi/v1/txt2img" in page.inner_text("#sd_api_footer")
    assert requests.get(ui_server.url + "/docs", timeout=30).status_code == 200
    assert page.locator("footer a:has-text('Use via API')").count() == 0  # Gradio's own panel link is gone


def test_notification_route_serves_only_that_file_and_404_without_it(ui_server):
    sound = ui_server.data_dir / "notification.mp3"
    answer = requests.get(ui_server.url + "/notification.mp3", timeout=30)
    assert answer.status_code == 200 and answer.content == sound.read_bytes()
    sound.rename(sound.with_suffix(".off"))
    try:
        assert requests.get(ui_server.url + "/notification.mp3", timeout=30).status_code == 404
    finally:
        sound.with_suffix(".off").rename(sound)


def test_the_sound_plays_when_a_generation_finishes(ui_server, page):
    page.add_init_script(RECORD_PLAYS)
    open_ui(page, ui_server)
    page.fill("#txt2img_prompt textarea", "a bell")
    assert page.evaluate("window.__played.length") == 0
    page.click("#txt2img_generate")
    page.wait_for_selector("#txt2img_gallery img", timeout=60_000)
    page.wait_for_function("window.__played.length > 0", timeout=30_000)
    assert page.evaluate("window.__played")[0] == ui_server.url + "/notification.mp3"
    saved = sorted((ui_server.data_dir / "outputs" / "txt2img-images").rglob("*.png"))
    with Image.open(saved[-1]) as image:
        assert image.size == (64, 64)  # the ui-config defaults were what the job got


def test_extras_single_image_is_saved_with_its_parameters(ui_server, page, tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a red fox\nSteps: 2, Seed: 7, Size: 20x12")
    source = tmp_path / "fox.png"
    Image.fromarray(np.random.default_rng(7).integers(0, 256, (12, 20, 3), dtype=np.uint8)).save(source, pnginfo=info)
    open_ui(page, ui_server)
    page.get_by_role("tab", name="Extras", exact=True).click()
    page.set_input_files("#extras_image input[type=file]", str(source))
    page.click("#extras_upscaler_1 input")
    page.get_by_role("option", name="Lanczos", exact=True).click()
    page.keyboard.press("Escape")
    page.click("#extras_generate")
    page.wait_for_function("document.querySelector('#extras_message').innerText.includes('saved to')", timeout=60_000)
    saved = sorted((ui_server.data_dir / "outputs" / "extras-images").glob("*.png"))
    assert [path.name for path in saved] == ["00000-fox.png"]  # the number, then the upload's name
    with Image.open(saved[0]) as image:
        assert image.size == (40, 24)
        assert image.info["parameters"] == "a red fox\nSteps: 2, Seed: 7, Size: 20x12"
        assert image.info["postprocessing"] == "Postprocess upscale by: 2.0, Postprocess upscaler: Lanczos"
    background = page.eval_on_selector("#extras_result img", "node => getComputedStyle(node).backgroundImage")
    assert background.startswith("repeating-conic-gradient")  # transparency shows on a checkerboard
