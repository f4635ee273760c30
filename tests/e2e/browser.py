"""Debian chromium driven by Playwright, and starting a UI server for it."""

import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.fixtures.installing import install_fixture_extensions
from tests.server import RunningServer

CHROMIUM = shutil.which("chromium")
BROWSER_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    # A failure, never a skip: a run without the browser tests must not look like a pass.
    # (`python3 launch.py --test` installs chromium first, or stops saying how.)
    if CHROMIUM is None:
        pytest.fail("Debian chromium is not installed: `apt-get install chromium`, then run the tests again")


def start_ui_server(data_dir: Path, tiny_single_file: Path, *args: str, extensions: tuple[str, ...] = ()):
    """The app on the tiny model, with the named test extensions installed as a user would."""
    require_chromium()
    shutil.copytree(tiny_single_file.parents[1], data_dir / "models", dirs_exist_ok=True)  # models/ may be seeded
    install_fixture_extensions(data_dir, *extensions)
    running = RunningServer(["--no-demo-model", "--data-dir", str(data_dir), *args], data_dir / "server.log")
    running.data_dir = data_dir
    return running


@contextmanager
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_FLAGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


def open_ui(page, server, ready_selector: str = "#txt2img_prompt textarea") -> None:
    page.goto(server.url + "/")
    page.wait_for_selector(ready_selector, timeout=60_000)
    # The page reads the saved settings once loaded: wait, or that would overwrite what we type.
    page.wait_for_function(
        "(document.querySelector('#settings_read')?.textContent || '').includes('settings read')", timeout=60_000
    )


def choose(page, elem_id: str, option: str) -> None:
    """Pick an option of a Gradio dropdown as a user does: open it, click the option."""
    page.click(f"#{elem_id} input")
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")
    page.wait_for_function(
        f"document.querySelector('#{elem_id}').innerText.includes({option!r}) || "
        f"document.querySelector('#{elem_id} input').value === {option!r}"
    )


def set_number(page, elem_id: str, value) -> None:
    """Type into a slider's number box and commit it, as a user does."""
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")
