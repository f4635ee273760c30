"""A1111's keys and "Generate forever" in a real browser: Ctrl+Enter generates, Esc interrupts,
Ctrl+Up / Ctrl+Down edit attention weights, right click on Generate repeats until cancelled."""

import pytest

from tests.e2e.browser import open_ui, set_number, start_ui_server

pytestmark = pytest.mark.browser

BUSY = "document.querySelector('#txt2img_generate').innerText.trim() === 'Generating...'"
IDLE = "document.querySelector('#txt2img_generate').innerText.trim() === 'Generate'"


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, tiny_single_file):
    running = start_ui_server(tmp_path_factory.mktemp("ui-keyboard"), tiny_single_file)
    yield running
    running.stop()


def small_job(page, steps: int = 1) -> None:
    for elem_id, value in (("txt2img_steps", steps), ("txt2img_width", 64), ("txt2img_height", 64)):
        set_number(page, elem_id, value)


def saved(ui_server) -> list:
    return sorted((ui_server.data_dir / "outputs" / "txt2img-images").rglob("*.png"))


def press_in_prompt(page, text: str, start: int, end: int, key: str) -> str:
    """Select [start, end) of `text` in the prompt box, press `key`, return the box's text."""
    box = page.locator("#txt2img_prompt textarea")
    box.fill(text)
    box.evaluate(f"(el) => el.setSelectionRange({start}, {end})")
    box.press(key)
    return box.input_value()


def test_ctrl_enter_generates_and_generate_shows_busy_until_done(ui_server, page):
    open_ui(page, ui_server)
    small_job(page)
    page.fill("#txt2img_prompt textarea", "keyboard made this")
    page.locator("#txt2img_prompt textarea").press("Control+Enter")
    page.wait_for_function(
        "document.querySelector('#html_info_txt2img').innerText.includes('keyboard made this')", timeout=60_000
    )
    assert page.locator("#txt2img_gallery img").count() == 1
    page.wait_for_function(IDLE, timeout=30_000)
    # Alt+Enter from outside the prompt box too.
    page.fill("#txt2img_prompt textarea", "alt made this")
    page.locator("#txt2img_seed input").press("Alt+Enter")
    page.wait_for_function(
        "document.querySelector('#html_info_txt2img').innerText.includes('alt made this')", timeout=60_000
    )


def test_escape_interrupts_a_running_job(ui_server, page):
    open_ui(page, ui_server)
    small_job(page, steps=150)
    page.fill("#txt2img_prompt textarea", "long one")
    page.locator("#txt2img_prompt textarea").press("Control+Enter")
    page.wait_for_function(BUSY, timeout=30_000)
    page.wait_for_function("/Step [1-9]\\d*\\/150/.test(document.querySelector('#txt2img_progress').innerText)",
                           timeout=60_000)  # fmt: skip
    page.keyboard.press("Escape")
    page.wait_for_function(
        "document.querySelector('#txt2img_message').innerText.includes('Interrupted')", timeout=30_000
    )
    page.wait_for_function(IDLE, timeout=30_000)


def test_ctrl_up_and_down_edit_the_attention_weight(ui_server, page):
    open_ui(page, ui_server)
    text = "a cat, dog"
    assert press_in_prompt(page, text, 2, 5, "Control+ArrowUp") == "a (cat:1.1), dog"
    box = page.locator("#txt2img_prompt textarea")
    box.press("Control+ArrowUp")  # the word stays selected
    assert box.input_value() == "a (cat:1.2), dog"
    box.press("Control+ArrowDown")
    assert box.input_value() == "a (cat:1.1), dog"
    box.press("Control+ArrowDown")  # back at 1.0 the parentheses go, as in A1111
    assert box.input_value() == "a cat, dog"
    # Nothing selected: the word under the cursor, and an existing weight edited in place.
    assert press_in_prompt(page, "a cat, dog", 9, 9, "Control+ArrowUp") == "a cat, (dog:1.1)"
    assert press_in_prompt(page, "x, (red hat:1.3), y", 7, 7, "Control+ArrowDown") == "x, (red hat:1.2), y"
    assert press_in_prompt(page, "((old))", 3, 3, "Control+ArrowUp") == "(old:1.3)"
    # Gradio saw the edited text: the generation uses it.
    small_job(page)
    assert press_in_prompt(page, "a boat", 2, 6, "Control+ArrowUp") == "a (boat:1.1)"
    box.press("Control+Enter")
    page.wait_for_function(
        "document.querySelector('#html_info_txt2img').innerText.includes('a (boat:1.1)')", timeout=60_000
    )


def test_generate_forever_repeats_until_cancelled(ui_server, page):
    open_ui(page, ui_server)
    small_job(page)
    page.fill("#txt2img_prompt textarea", "forever")
    before = len(saved(ui_server))
    page.click("#txt2img_generate", button="right")
    page.click("#sd_generate_forever")
    for _ in range(600):  # until two more images are saved
        if len(saved(ui_server)) >= before + 2:
            break
        page.wait_for_timeout(100)
    assert len(saved(ui_server)) >= before + 2
    page.click("#txt2img_generate", button="right")
    page.click("#sd_cancel_generate_forever")
    page.wait_for_function(IDLE, timeout=60_000)
    stopped_at = len(saved(ui_server))
    # One more click makes exactly one more image: nothing repeats any more.
    page.fill("#txt2img_prompt textarea", "just once")
    page.click("#txt2img_generate")
    page.wait_for_function(
        "document.querySelector('#html_info_txt2img').innerText.includes('just once')", timeout=60_000
    )
    page.wait_for_function(IDLE, timeout=30_000)
    assert len(saved(ui_server)) == stopped_at + 1
