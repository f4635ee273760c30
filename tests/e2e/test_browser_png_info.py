"""The PNG Info tab in a real browser: an image's parameters shown, sent to txt2img (every
control filled) and to Extras (the same image there); no parameters and oversized images get
a message."""

import io
import json
import struct
import uuid
import zlib

import pytest
import requests
from PIL import Image, PngImagePlugin

from modules.images.saving import png_bytes
from tests.e2e.browser import open_ui, start_ui_server

pytestmark = pytest.mark.browser

INFOTEXT = (
    "a lighthouse on a cliff at dusk, oil painting\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 7, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 5.5, Seed: 1234, Size: 96x64, "
    "Model hash: 0123456789, Model: tiny"
)


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, tiny_single_file):
    running = start_ui_server(tmp_path_factory.mktemp("ui-pnginfo"), tiny_single_file)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pnginfo-pictures")
    # As the app saves its images: pixels with a gradient, so a re-encode or a resize would show.
    image = Image.new("RGB", (96, 64))
    image.putdata([(x * 2, y * 3, (x + y) % 256) for y in range(64) for x in range(96)])
    (folder / "generated.png").write_bytes(png_bytes(image, INFOTEXT))
    # Metadata, but no parameters.
    chunks = PngImagePlugin.PngInfo()
    chunks.add_text("Comment", "drawn by hand")
    Image.new("RGB", (32, 32), "white").save(folder / "plain.png", pnginfo=chunks)
    # 20 M pixels: over the default image_max_pixels (16,777,216), a few kB on disk.
    Image.new("L", (5000, 4000)).save(folder / "huge.png")
    # 16000x16000 declared in a few hundred bytes: over twice Pillow's own limit, which Gradio's
    # preprocessing would answer with a bare "Error".
    (folder / "bomb.png").write_bytes(declared_only_png(16000, 16000))
    names = ("generated", "plain", "huge", "bomb")
    return {"image": image, **{name: folder / f"{name}.png" for name in names}}


def declared_only_png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    scanline = zlib.compress(b"\0" * (width + 1))  # one row of the declared many
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", scanline) + chunk(b"IEND", b"")


def open_png_info(page, server, path) -> None:
    open_ui(page, server)
    page.get_by_role("tab", name="PNG Info", exact=True).click()
    page.set_input_files("#pnginfo_image input[type=file]", str(path))


def wait_for_text(page, selector: str, text: str, timeout: int = 30_000) -> None:
    page.wait_for_function(
        f"(document.querySelector({selector!r})?.innerText || '').includes({text!r})", timeout=timeout
    )


def selected_tab(page) -> str:
    return page.locator("#tabs [role=tab][aria-selected=true]").inner_text().strip()


def test_parameters_shown_and_sent_to_txt2img(ui_server, page, pictures):
    open_png_info(page, ui_server, pictures["generated"])
    wait_for_text(page, "#html_info_pnginfo", "Seed: 1234")
    shown = page.inner_text("#html_info_pnginfo")
    assert "parameters" in shown and "a lighthouse on a cliff at dusk" in shown
    assert "Negative prompt: blurry, lowres" in shown and "Schedule type: Karras" in shown

    page.click("#pnginfo_send_txt2img")
    page.wait_for_function(
        "document.querySelector('#txt2img_prompt textarea').value.startsWith('a lighthouse')", timeout=30_000
    )
    assert selected_tab(page) == "txt2img"
    value = page.input_value
    assert value("#txt2img_prompt textarea") == "a lighthouse on a cliff at dusk, oil painting"
    assert value("#txt2img_neg_prompt textarea") == "blurry, lowres"
    assert value("#txt2img_steps input[type=number]") == "7"
    assert value("#txt2img_sampling input") == "DPM++ 2M"
    assert value("#txt2img_scheduler input") == "Karras"
    assert float(value("#txt2img_cfg_scale input[type=number]")) == 5.5
    assert value("#txt2img_seed input") == "1234"
    assert value("#txt2img_width input[type=number]") == "96"
    assert value("#txt2img_height input[type=number]") == "64"


def test_image_without_parameters_says_so_and_shows_its_other_chunks(ui_server, page, pictures):
    open_png_info(page, ui_server, pictures["plain"])
    wait_for_text(page, "#html_info_pnginfo", "drawn by hand")
    shown = page.inner_text("#html_info_pnginfo")
    assert "This image holds no generation parameters" in shown and "Comment" in shown
    page.click("#pnginfo_send_txt2img")
    wait_for_text(page, "#pnginfo_message", "Nothing to send")
    assert selected_tab(page) == "PNG Info"


@pytest.mark.parametrize(
    ("name", "said"), [("huge", "5000x4000 is 20000000 pixels, more than the limit"), ("bomb", "the limit is 16777216")]
)
def test_image_over_the_pixel_cap_is_refused_with_a_message(ui_server, page, pictures, name, said):
    open_png_info(page, ui_server, pictures[name])
    wait_for_text(page, "#pnginfo_message", said)
    assert page.inner_text("#html_info_pnginfo").strip() == ""
    page.click("#pnginfo_send_extras")  # nothing accepted: nothing to send
    wait_for_text(page, "#pnginfo_message", "Upload an image first")
    assert selected_tab(page) == "PNG Info"


def test_send_to_extras_puts_the_same_image_there(ui_server, page, pictures):
    open_png_info(page, ui_server, pictures["generated"])
    wait_for_text(page, "#html_info_pnginfo", "Seed: 1234")
    page.click("#pnginfo_send_extras")
    page.wait_for_selector("#extras_image img", timeout=30_000)
    assert selected_tab(page) == "Extras"
    src = page.get_attribute("#extras_image img", "src")
    sent = Image.open(io.BytesIO(page.request.get(src).body()))
    assert sent.size == (96, 64)
    assert sent.convert("RGB").tobytes() == pictures["image"].tobytes()
    # The tab's own value holds it too (not only the preview): Extras now asks for a step, not an image.
    page.click("#extras_generate")
    wait_for_text(page, "#extras_message", "Enable at least one step")


def test_a_path_that_is_not_an_upload_is_never_read(ui_server, pictures):
    """The tab reads uploads unprocessed: Gradio's own check must still stop a client naming any file."""
    url, session = ui_server.url, requests.Session()
    config = session.get(url + "/config", timeout=30).json()
    image_id = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "pnginfo_image")
    fn_index = next(d["id"] for d in config["dependencies"] if [image_id, "change"] in d["targets"])
    session_hash = uuid.uuid4().hex[:11]
    planted = {"path": str(pictures["generated"]), "meta": {"_type": "gradio.FileData"}}
    body = {"data": [planted], "fn_index": fn_index, "trigger_id": image_id, "session_hash": session_hash}
    joined = session.post(url + "/gradio_api/queue/join", json={**body, "event_data": None},
                          headers={"Origin": url}, timeout=30)  # fmt: skip
    assert joined.status_code == 200, joined.text
    stream = session.get(url + "/gradio_api/queue/data", params={"session_hash": session_hash}, stream=True,
                         timeout=60)  # fmt: skip
    answer = next(
        message
        for line in stream.iter_lines(decode_unicode=True)
        if line.startswith("data:") and (message := json.loads(line[5:])).get("msg") == "process_completed"
    )
    stream.close()
    assert answer["success"] is False and "not uploaded by a user" in answer["output"]["error"], answer
    assert "Seed: 1234" not in json.dumps(answer)
