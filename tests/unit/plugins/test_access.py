"""Who may install, update and remove extensions from the UI."""

import gradio as gr
import pytest
from starlette.requests import Request

from modules.config.flags import parse_flags
from webui.tabs.extensions import FOREIGN_PAGE, NOT_CONFIRMED, access_refused, change_refused


@pytest.mark.parametrize(
    "argv, refused",
    [
        ((), False),
        (("--listen",), True),
        (("--server-name", "192.168.1.5"), True),
        (("--server-name", "localhost"), False),
        (("--listen", "--enable-insecure-extension-access"), False),
        (("--listen", "--gradio-auth", "a:b"), True),  # a login alone does not open it
    ],
)
def test_install_access_depends_on_where_the_server_listens(argv, refused):
    assert (access_refused(parse_flags(list(argv))) is not None) == refused


def gradio_request(**headers: str) -> gr.Request:
    """What Gradio hands an event function: the request that joined the queue."""
    raw = [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    return gr.Request(request=Request({"type": "http", "method": "POST", "path": "/", "headers": raw}))


def test_changes_need_the_confirmation_and_our_own_page():
    flags = parse_flags(["--cors-allow-origins", "http://allowed.example"])
    own = gradio_request(host="127.0.0.1:7860", origin="http://127.0.0.1:7860")
    assert change_refused(flags, True, own) is None
    assert change_refused(flags, False, own) == NOT_CONFIRMED
    assert change_refused(flags, None, own) == NOT_CONFIRMED
    assert change_refused(flags, "yes", own) == NOT_CONFIRMED  # only the dialog's true counts
    allowed_elsewhere = gradio_request(host="127.0.0.1:7860", origin="http://allowed.example")
    assert change_refused(flags, True, allowed_elsewhere) == FOREIGN_PAGE
    other_port = gradio_request(host="localhost:7860", sec_fetch_site="same-site")
    assert change_refused(flags, True, other_port) == FOREIGN_PAGE
    assert change_refused(flags, True, gradio_request(host="127.0.0.1:7860")) is None  # a script's client
    listening = parse_flags(["--listen", "--insecure"])
    assert "--enable-insecure-extension-access" in change_refused(listening, True, own)
