"""The txt2img gallery in a real browser at 1600x1000, as an A1111 user uses it: a 2x2 batch shows four
whole images, selecting one shows its own seed, "Time taken" under the infotext, the served PNGs
keep their parameters, Save writes the log folder and log.csv, Zip downloads the PNGs with their
parameters, and the lightbox opens, zooms, steps with the arrow keys and closes with Esc."""

import csv
import io
import zipfile

import pytest
from PIL import Image

from modules.images.infotext import parse_infotext
from tests.e2e.browser import open_ui, set_number, start_ui_server

pytestmark = pytest.mark.browser

INFO = "document.querySelector('#html_info_txt2img').innerText"
THUMBS = "#txt2img_gallery .thumbnail-item img"


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, tiny_single_file):
    running = start_ui_server(tmp_path_factory.mktemp("ui-gallery"), tiny_single_file)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def batch(ui_server, page):
    """A 2x2 batch (count 2 x size 2, seeds 70..73) made once for the module's tests."""
    page.set_viewport_size({"width": 1600, "height": 1000})
    open_ui(page, ui_server)
    page.fill("#txt2img_prompt textarea", "a gallery check")
    for elem_id, value in (("txt2img_steps", 2), ("txt2img_width", 64), ("txt2img_height", 64),
                           ("txt2img_batch_count", 2), ("txt2img_batch_size", 2)):  # fmt: skip
        set_number(page, elem_id, value)
    seed = page.locator("#txt2img_seed input")
    seed.fill("70")
    seed.press("Tab")
    page.click("#txt2img_generate")
    page.wait_for_function(f"document.querySelectorAll('{THUMBS}').length === 4", timeout=90_000)
    page.wait_for_function(f"{INFO}.includes('Seed: 70')", timeout=30_000)
    return page


def fetch_png(page, src: str) -> Image.Image:
    image = Image.open(io.BytesIO(page.request.get(src).body()))
    image.load()
    return image


def test_a_2x2_batch_shows_four_whole_images_in_view(batch):
    page = batch
    gallery = page.locator("#txt2img_gallery .grid-wrap")
    gallery.scroll_into_view_if_needed()
    box = gallery.bounding_box()
    assert box["height"] <= 1000  # the whole gallery fits in the window
    images = page.locator(THUMBS)
    for index in range(4):
        inner = images.nth(index).bounding_box()
        assert inner["width"] > 100 and inner["height"] > 100  # shown large, not as a strip of icons
        assert box["x"] - 1 <= inner["x"] and inner["x"] + inner["width"] <= box["x"] + box["width"] + 1
        assert box["y"] - 1 <= inner["y"] and inner["y"] + inner["height"] <= box["y"] + box["height"] + 1
        assert 0 <= inner["y"] and inner["y"] + inner["height"] <= 1000  # inside the window too
    # Whole images: drawn with "contain", so a picture is never cropped to fill its tile.
    fits = images.evaluate_all("(imgs) => imgs.map((img) => getComputedStyle(img).objectFit)")
    assert fits == ["contain"] * 4
    assert page.locator("#txt2img_gallery button[aria-label*='hare' i]").count() == 0  # no Share button


def test_selecting_image_3_shows_its_seed_and_time_taken_is_shown(batch):
    page = batch
    assert "Seed: 70" in page.inner_text("#html_info_txt2img")
    page.locator(THUMBS).nth(2).click()
    page.wait_for_function(f"{INFO}.includes('Seed: 72')", timeout=30_000)
    page.keyboard.press("Escape")
    page.wait_for_function(f"document.querySelectorAll('{THUMBS}').length === 4", timeout=10_000)
    log = page.inner_text("#html_log_txt2img")
    assert log.startswith("Time taken: ") and " sec." in log and "Process peak RSS: " in log


def test_gallery_images_are_pngs_with_their_parameters(batch):
    page = batch
    sources = page.locator(THUMBS).evaluate_all("(imgs) => imgs.map((img) => img.src)")
    seeds = []
    for src in sources:
        image = fetch_png(page, src)
        assert image.format == "PNG" and image.size == (64, 64)
        parsed = parse_infotext(image.info["parameters"])
        assert parsed["Prompt"] == "a gallery check"
        seeds.append(parsed["Seed"])
    assert seeds == [70, 71, 72, 73]


def test_zip_downloads_every_png_with_its_parameters(batch):
    page = batch
    page.click("#txt2img_zip")
    link = page.locator("#txt2img_download_files a[download]").first
    link.wait_for(timeout=30_000)
    with page.expect_download() as download_info:
        link.click()
    data = download_info.value.path().read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        seeds = [parse_infotext(Image.open(io.BytesIO(archive.read(name))).info["parameters"])["Seed"]
                 for name in names]  # fmt: skip
    assert names == ["00000-70.png", "00001-71.png", "00002-72.png", "00003-73.png"]
    assert seeds == [70, 71, 72, 73]


def test_save_writes_the_selected_image_and_a_log_line(batch, ui_server):
    page = batch
    page.locator(THUMBS).nth(1).click()
    page.wait_for_function(f"{INFO}.includes('Seed: 71')", timeout=30_000)
    page.keyboard.press("Escape")
    assert "log folder" in page.get_attribute("#txt2img_save", "title")  # the icon says what it does
    page.click("#txt2img_save")
    page.wait_for_function("document.querySelector('#txt2img_message').innerText.includes('log.csv')",
                           timeout=30_000)  # fmt: skip
    log_dir = ui_server.data_dir / "log"
    saved = sorted((log_dir / "images").glob("*.png"))
    assert [path.name for path in saved] == ["00000-71.png"]
    with Image.open(saved[0]) as image:
        assert parse_infotext(image.info["parameters"])["Seed"] == 71
    rows = list(csv.reader((log_dir / "log.csv").open(encoding="utf-8")))
    assert rows[0][:8] == ["prompt", "seed", "width", "height", "sampler", "cfgs", "steps", "filename"]
    assert rows[1][:4] == ["a gallery check", "71", "64", "64"] and rows[1][7] == "00000-71.png"
    assert len(rows) == 2
    link = page.locator("#txt2img_download_files a[download]").first
    link.wait_for(timeout=30_000)
    href = link.get_attribute("href")
    assert href.endswith("/00000-71.png")  # the saved file is offered for download, parameters and all
    assert parse_infotext(fetch_png(page, href).info["parameters"])["Seed"] == 71


def test_lightbox_opens_zooms_steps_with_arrows_and_closes_with_escape(batch):
    page = batch
    page.locator(THUMBS).nth(0).click()
    big = page.locator("#txt2img_gallery .preview .media-button img")
    big.wait_for(timeout=10_000)
    page.wait_for_function(f"{INFO}.includes('Seed: 70')", timeout=30_000)
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"{INFO}.includes('Seed: 71')", timeout=30_000)
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(f"{INFO}.includes('Seed: 70')", timeout=30_000)
    big.click()  # a click zooms in (A1111's lightbox), not to the next image
    page.wait_for_function(
        "document.querySelector('#txt2img_gallery .preview .media-button img').style.transform.includes('scale(2')",
        timeout=10_000,
    )
    assert "Seed: 70" in page.inner_text("#html_info_txt2img")
    big.hover()
    page.mouse.wheel(0, 200)  # the wheel zooms out again
    page.wait_for_function(
        "!document.querySelector('#txt2img_gallery .preview .media-button img').style.transform.includes('scale(2)')",
        timeout=10_000,
    )
    page.keyboard.press("Escape")
    page.wait_for_selector("#txt2img_gallery .preview", state="detached", timeout=10_000)


def test_live_preview_is_drawn_at_output_size_in_the_gallery(batch):
    page = batch
    for elem_id, value in (("txt2img_steps", 150), ("txt2img_width", 96), ("txt2img_height", 64),
                           ("txt2img_batch_count", 1), ("txt2img_batch_size", 1)):  # fmt: skip
        set_number(page, elem_id, value)
    page.click("#txt2img_generate")
    # The gallery holds the one preview in place of the last batch's four, while the job runs.
    page.wait_for_function(
        f"document.querySelectorAll('{THUMBS}').length === 1 && "
        "document.querySelector('#txt2img_progress').innerText.includes('Step')",
        timeout=60_000,
    )
    preview = fetch_png(page, page.locator(THUMBS).first.get_attribute("src"))
    assert preview.size == (96, 64)  # the latent preview (12x8) drawn at the picture's size
    assert page.locator("#txt2img_live_preview").count() == 0  # no separate small box any more
    page.click("#txt2img_interrupt")
    page.wait_for_function("document.querySelector('#txt2img_message').innerText.includes('Interrupted')",
                           timeout=60_000)  # fmt: skip


def test_a_single_tall_result_is_shown_whole(batch):
    page = batch
    for elem_id, value in (("txt2img_steps", 1), ("txt2img_width", 64), ("txt2img_height", 256)):
        set_number(page, elem_id, value)
    page.click("#txt2img_generate")
    page.wait_for_function(f"{INFO}.includes('Size: 64x256')", timeout=60_000)
    page.wait_for_function(
        f"document.querySelectorAll('{THUMBS}').length === 1 && "
        f"document.querySelector('{THUMBS}').naturalHeight === 256",
        timeout=30_000,
    )
    gallery = page.locator("#txt2img_gallery .grid-wrap")
    gallery.scroll_into_view_if_needed()
    box, image = gallery.bounding_box(), page.locator(THUMBS).first
    inner = image.bounding_box()
    assert box["y"] - 1 <= inner["y"] and inner["y"] + inner["height"] <= box["y"] + box["height"] + 1
    assert inner["height"] > 300  # drawn large, whole (contain), not cropped to a square tile
    assert image.evaluate("(img) => getComputedStyle(img).objectFit") == "contain"
