"""Settings' Reload UI restarts the server in place: the page comes back rebuilt (a user.css
written after start-up now applies, which only a rebuilt page can show), on the same port and
process; a server listening beyond this machine only reloads the page."""

import pytest

from tests.e2e.browser import open_ui, start_ui_server

pytestmark = pytest.mark.browser

USER_CSS = "#txt2img_prompt { outline: 3px solid rgb(9, 8, 7) !important; }\n"


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, tiny_single_file):
    running = start_ui_server(tmp_path_factory.mktemp("ui-reload"), tiny_single_file)
    yield running
    running.stop()


def outline(page) -> str:
    return page.eval_on_selector("#txt2img_prompt", "node => getComputedStyle(node).outlineColor")


def test_reload_ui_restarts_the_server_and_rebuilds_the_page(ui_server, page):
    open_ui(page, ui_server)
    (ui_server.data_dir / "user.css").write_text(USER_CSS)
    page.reload()
    page.wait_for_selector("#txt2img_prompt textarea", timeout=60_000)
    assert outline(page) != "rgb(9, 8, 7)"  # read at start-up: not there yet
    pid = ui_server.process.pid
    page.get_by_role("tab", name="Settings", exact=True).click()
    page.click("#settings_reload_ui")
    page.wait_for_function(
        "document.querySelector('#txt2img_prompt') && "
        "getComputedStyle(document.querySelector('#txt2img_prompt')).outlineColor === 'rgb(9, 8, 7)'",
        timeout=120_000,
    )
    assert ui_server.process.poll() is None and ui_server.process.pid == pid  # the same process, restarted
    assert ui_server.log().count("Running on local URL") == 2
    assert "Restarting: Reload UI" in ui_server.log()
