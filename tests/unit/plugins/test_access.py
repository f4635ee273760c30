"""Who may install extensions from the UI."""

import pytest

from modules.config.flags import parse_flags
from webui.tabs.extensions import access_refused


@pytest.mark.parametrize(
    "argv, refused",
    [
        ((), False),
        (("--listen",), True),
        (("--server-name", "192.168.1.5"), True),
        (("--server-name", "localhost"), False),
        (("--listen", "--enable-insecure-extension-access"), False),
    ],
)
def test_install_access_depends_on_where_the_server_listens(argv, refused):
    assert (access_refused(parse_flags(list(argv))) is not None) == refused
