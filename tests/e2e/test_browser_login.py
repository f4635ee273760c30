"""A real browser logging in through the login page of a server started with --gradio-auth."""

import pytest

from tests.e2e.browser import start_ui_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, tiny_single_file):
    running = start_ui_server(
        tmp_path_factory.mktemp("ui-login"), tiny_single_file, "--gradio-auth", "alice:correct horse"
    )
    yield running
    running.stop()


def log_in(page, user: str, password: str) -> None:
    page.fill("#login_username", user)
    page.fill("#login_password", password)
    page.click("#login_submit")


def test_login_page_then_the_ui_works(ui_server, page):
    page.goto(ui_server.url + "/?__theme=light")
    page.wait_for_selector("#login_form")
    assert page.url.startswith(ui_server.url + "/login")
    log_in(page, "alice", "wrong")
    page.wait_for_selector("#login_error")
    assert "Wrong user name or password" in page.inner_text("#login_error")
    log_in(page, "alice", "correct horse")
    # Back on the page first asked for, and Gradio's own routes (config, queue) answer the session.
    page.wait_for_selector("#txt2img_prompt textarea", timeout=60_000)
    assert page.url == ui_server.url + "/?__theme=light"
    page.wait_for_function(
        "(document.querySelector('#settings_read')?.textContent || '').includes('settings read')", timeout=60_000
    )
    cookies = page.context.cookies()
    [session] = [c for c in cookies if c["name"].startswith("sdstudio_session")]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # the page's scripts cannot read it
