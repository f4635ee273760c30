"""The X/Y/Z plot from a real browser: pick the script, set two axes by their labels, Generate;
the infotext shown is the grid's (its axes) and each cell is saved as a picture of its own."""

import pytest
from PIL import Image

from modules.images.infotext import parse_infotext
from tests.e2e.browser import open_ui, set_number, start_ui_server
from tests.e2e.test_browser_every_control import choose

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, tiny_single_file):
    running = start_ui_server(tmp_path_factory.mktemp("ui-xyz"), tiny_single_file)
    yield running
    running.stop()


def pick(page, group, label: str, option: str) -> None:
    """Open the dropdown, click the option, and wait for the choice to show (the list then closes)."""
    box = group.get_by_label(label, exact=True)
    box.click()
    page.locator("ul[role=listbox]:visible").get_by_role("option", name=option, exact=True).click()
    page.wait_for_function(
        "([box, option]) => box.value === option", arg=[box.element_handle(), option], timeout=10_000
    )
    box.press("Tab")


def test_xyz_plot_from_the_browser(ui_server, page):
    open_ui(page, ui_server)
    page.fill("#txt2img_prompt textarea", "a plot")
    for elem_id, value in (("txt2img_steps", 2), ("txt2img_width", 64), ("txt2img_height", 64)):
        set_number(page, elem_id, value)
    seed = page.locator("#txt2img_seed input")
    seed.fill("77")
    seed.press("Tab")
    choose(page, "txt2img_script", "X/Y/Z plot")
    group = page.locator("#txt2img_script_group_x_y_z_plot")
    group.wait_for(state="visible", timeout=10_000)
    pick(page, group, "X type", "Steps")
    group.get_by_label("X values", exact=True).fill("1,2")
    pick(page, group, "Y type", "CFG Scale")
    group.get_by_label("Y values", exact=True).fill("3, 6")
    page.click("#txt2img_generate")
    page.wait_for_function(
        "document.querySelector('#html_info_txt2img').innerText.includes('X Type: Steps')", timeout=90_000
    )
    info = parse_infotext(page.inner_text("#html_info_txt2img"))
    assert (info["X Values"], info["Y Type"], info["Y Values"], info["Seed"]) == ("1,2", "CFG Scale", "3, 6", 77)
    saved = sorted((ui_server.data_dir / "outputs" / "txt2img-images").rglob("*.png"))
    made = []
    for path in saved:
        with Image.open(path) as image:
            params = parse_infotext(image.info["parameters"])
            made.append((params["Steps"], params["CFG scale"]))
    assert sorted(made) == [(1, 3), (1, 6), (2, 3), (2, 6)]
