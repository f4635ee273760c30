"""Each tab at 1600x1000 against a stored reference screenshot, within a tolerance: a layout
regression (a control moved, a row grown, a panel gone) changes whole regions of the page, while
another font build or anti-aliasing only nudges the shade of small areas. So both pictures are
compared as 16x16-pixel blocks (grey level averaged): a page shifted by a pixel or two, or text
drawn a little differently, moves few blocks' shade; a different layout moves many (the txt2img and
img2img pages, alike at a glance, differ in twice the allowed share: see the last test).

References live in tests/e2e/references/. After an intended layout change, rewrite them with
`SDSTUDIO_UPDATE_SCREENSHOTS=1 venv/bin/python -m pytest tests/e2e/test_browser_screenshots.py`
(the run then fails, saying which were written, so a rewrite is never a silent pass), look at
them, and commit them."""

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.e2e.browser import open_ui, start_ui_server

pytestmark = pytest.mark.browser

REFERENCES = Path(__file__).parent / "references"
TABS = ("txt2img", "img2img", "Extras", "PNG Info", "Outputs", "Extensions", "Settings")
VIEWPORT = {"width": 1600, "height": 1000}
BLOCK = 16  # pixels a side of the blocks compared
SHADE_TOLERANCE = 6  # a block counts as changed when its mean grey level moved by more than this
CHANGED_SHARE = 0.02  # at most this share of the page's blocks may change


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, tiny_single_file):
    running = start_ui_server(tmp_path_factory.mktemp("ui-screens"), tiny_single_file)
    yield running
    running.stop()


def block_shades(image: Image.Image) -> np.ndarray:
    grey = np.asarray(image.convert("L"), dtype=np.float32)
    rows, cols = grey.shape[0] // BLOCK, grey.shape[1] // BLOCK
    return grey[: rows * BLOCK, : cols * BLOCK].reshape(rows, BLOCK, cols, BLOCK).mean(axis=(1, 3))


def changed_share(shot: Image.Image, reference: Image.Image) -> float:
    return float((np.abs(block_shades(shot) - block_shades(reference)) > SHADE_TOLERANCE).mean())


def slug(tab: str) -> str:
    return tab.lower().replace(" ", "_")


@pytest.mark.parametrize("tab", TABS)
def test_tab_matches_its_reference(ui_server, page, tab, tmp_path):
    page.set_viewport_size(VIEWPORT)
    open_ui(page, ui_server)
    page.get_by_role("tab", name=tab, exact=True).click()
    page.mouse.move(0, 0)  # no hover state in the picture
    page.evaluate("document.activeElement && document.activeElement.blur()")
    # The checkpoint's label gains its hash once hashed, whenever that happens: not layout.
    page.evaluate("document.querySelector('#setting_sd_model_checkpoint input').style.visibility = 'hidden'")
    page.wait_for_timeout(1500)  # the tab's fade-in and late layout settle
    shot = Image.open(io.BytesIO(page.screenshot(animations="disabled", caret="hide"))).convert("RGB")
    reference_path = REFERENCES / f"{slug(tab)}.png"
    if os.environ.get("SDSTUDIO_UPDATE_SCREENSHOTS"):
        REFERENCES.mkdir(exist_ok=True)
        shot.save(reference_path, optimize=True)
        pytest.fail(f"reference written: {reference_path} (look at it, commit it, run again without the variable)")
    assert reference_path.is_file(), f"no reference for {tab}: write it with SDSTUDIO_UPDATE_SCREENSHOTS=1"
    reference = Image.open(reference_path)
    assert shot.size == reference.size
    share = changed_share(shot, reference)
    if share > CHANGED_SHARE:
        shot.save(tmp_path / f"{slug(tab)}-now.png")  # beside pytest's tmp folder, to compare by eye
    assert share <= CHANGED_SHARE, f"{tab}: {share:.1%} of the page changed (tmp copy: {tmp_path})"


def test_the_comparison_catches_a_moved_panel():
    reference = Image.new("RGB", (400, 300), "white")
    reference.paste(Image.new("RGB", (120, 80), "orange"), (20, 20))
    moved = Image.new("RGB", (400, 300), "white")
    moved.paste(Image.new("RGB", (120, 80), "orange"), (20, 60))
    shaded = Image.fromarray(np.clip(np.asarray(reference, dtype=np.int16) - 4, 0, 255).astype(np.uint8))
    nudged = reference.transform(reference.size, Image.Transform.AFFINE, (1, 0, -1, 0, 1, 0), fillcolor="white")
    assert changed_share(moved, reference) > CHANGED_SHARE  # 2 x 40 rows of the panel moved
    assert changed_share(shaded, reference) == 0.0  # small colour shifts everywhere pass
    assert changed_share(nudged, reference) <= CHANGED_SHARE  # a one-pixel shift (another font's metrics)


def test_the_tolerance_tells_two_real_pages_apart():
    txt2img, img2img = (Image.open(REFERENCES / f"{name}.png") for name in ("txt2img", "img2img"))
    shifted = txt2img.transform(txt2img.size, Image.Transform.AFFINE, (1, 0, -1, 0, 1, 0), fillcolor="white")
    assert changed_share(img2img, txt2img) > 2 * CHANGED_SHARE
    assert changed_share(shifted, txt2img) < CHANGED_SHARE / 4
