"""The compact A1111 layout in a real browser (served with `--theme dark`): counters inside the
prompt boxes, icon buttons that work, number boxes that fit, Generate above the fold on a phone,
styles kept across a reload."""

import pytest

from tests.e2e.browser import open_ui, start_ui_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, tiny_single_file):
    running = start_ui_server(tmp_path_factory.mktemp("ui-layout"), tiny_single_file, "--theme", "dark")
    yield running
    running.stop()


@pytest.fixture
def wide(page):
    page.set_viewport_size({"width": 1600, "height": 1000})
    return page


def box(page, selector: str) -> dict:
    found = page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not shown"
    return found


def inside(inner: dict, outer: dict) -> bool:
    return (
        inner["x"] >= outer["x"]
        and inner["y"] >= outer["y"]
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"]
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"]
    )


def test_theme_flag_opens_the_page_dark(ui_server, wide):
    open_ui(wide, ui_server)
    assert wide.evaluate("document.body.classList.contains('dark')")


def test_token_counters_sit_inside_their_prompt_boxes(ui_server, wide):
    open_ui(wide, ui_server)
    for counter, prompt in (("txt2img_token_counter", "txt2img_prompt"),
                            ("txt2img_negative_token_counter", "txt2img_neg_prompt")):  # fmt: skip
        counter_box, prompt_box = box(wide, f"#{counter} .token-counter"), box(wide, f"#{prompt}")
        assert inside(counter_box, prompt_box)
        # In the top-right corner, over the label row: no row of its own.
        assert counter_box["x"] > prompt_box["x"] + prompt_box["width"] / 2
        assert counter_box["y"] < box(wide, f"#{prompt} textarea")["y"]


def test_batch_number_boxes_are_fully_visible(ui_server, wide):
    open_ui(wide, ui_server)
    for elem_id in ("txt2img_batch_count", "txt2img_batch_size", "txt2img_width", "txt2img_steps"):
        number = f"#{elem_id} input[type=number]"
        assert inside(box(wide, number), box(wide, f"#{elem_id}")), elem_id
        assert inside(box(wide, f"#{elem_id} input[type=range]"), box(wide, f"#{elem_id}")), elem_id
        # The value is not cut by the box's own width.
        assert wide.evaluate(f"(() => {{ const e = document.querySelector('{number}'); "
                             "return e.scrollWidth <= e.clientWidth; })()"), elem_id  # fmt: skip
    wide.fill("#txt2img_batch_count input[type=number]", "100")
    assert wide.input_value("#txt2img_batch_count input[type=number]") == "100"


def test_generate_interrupt_and_skip_share_one_font_size(ui_server, wide):
    open_ui(wide, ui_server)
    sizes = {wide.evaluate(f"getComputedStyle(document.querySelector('#txt2img_{name}')).fontSize")
             for name in ("generate", "interrupt", "skip")}  # fmt: skip
    assert len(sizes) == 1, sizes


def test_swap_button_swaps_width_and_height(ui_server, wide):
    open_ui(wide, ui_server)
    for elem_id, value in (("txt2img_width", 128), ("txt2img_height", 320)):
        number = wide.locator(f"#{elem_id} input[type=number]")
        number.fill(str(value))
        number.press("Enter")
    wide.click("#txt2img_res_switch_btn")
    wide.wait_for_function("document.querySelector('#txt2img_width input[type=number]').value === '320'")
    assert wide.input_value("#txt2img_height input[type=number]") == "128"


def test_seed_icons_set_random_and_clear_prompt_asks_first(ui_server, wide):
    open_ui(wide, ui_server)
    seed = wide.locator("#txt2img_seed input")
    seed.fill("77")
    seed.press("Tab")
    wide.fill("#txt2img_prompt textarea", "keep me")
    wide.fill("#txt2img_neg_prompt textarea", "and me")
    wide.once("dialog", lambda dialog: dialog.dismiss())
    wide.click("#txt2img_clear_prompt")
    # 🎲 after the dismissed question: once its seed shows, the question's answer was applied too.
    wide.click("#txt2img_random_seed")
    wide.wait_for_function("document.querySelector('#txt2img_seed input').value === '-1'")
    assert wide.input_value("#txt2img_prompt textarea") == "keep me"
    assert wide.input_value("#txt2img_neg_prompt textarea") == "and me"
    wide.once("dialog", lambda dialog: dialog.accept())
    wide.click("#txt2img_clear_prompt")
    wide.wait_for_function("document.querySelector('#txt2img_prompt textarea').value === ''")
    assert wide.input_value("#txt2img_neg_prompt textarea") == ""


def test_style_saved_with_the_pencil_is_listed_after_a_reload(ui_server, wide):
    open_ui(wide, ui_server)
    wide.fill("#txt2img_prompt textarea", "watercolor, {prompt}")
    wide.fill("#txt2img_style_name textarea, #txt2img_style_name input", "")
    wide.once("dialog", lambda dialog: dialog.accept("wet paint"))  # ✎ asks for the name
    wide.click("#txt2img_style_create")
    wide.wait_for_function("document.querySelector('#txt2img_style_message').innerText.includes('Saved')")
    assert "wet paint" in (ui_server.data_dir / "styles.csv").read_text(encoding="utf-8-sig")
    wide.reload()
    open_ui(wide, ui_server)
    wide.click("#txt2img_styles input")
    wide.get_by_role("option", name="wet paint").click()
    wide.keyboard.press("Escape")
    wide.fill("#txt2img_prompt textarea", "a boat")
    wide.click("#txt2img_style_apply")
    wide.wait_for_function("document.querySelector('#txt2img_prompt textarea').value === 'watercolor, a boat'")


def test_generate_is_above_the_fold_at_phone_width(ui_server, page):
    page.set_viewport_size({"width": 420, "height": 900})
    try:
        open_ui(page, ui_server)
        generate = box(page, "#txt2img_generate")
        assert inside(generate, {"x": 0, "y": 0, "width": 420, "height": 900}), generate
        assert page.evaluate("window.scrollY") == 0
    finally:
        page.set_viewport_size({"width": 1600, "height": 1000})
