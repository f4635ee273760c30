"""One browser page per test module, pointed at that module's `ui_server`."""

import pytest

from tests.e2e.browser import browser_page


@pytest.fixture(scope="module")
def page(ui_server):
    with browser_page() as page:
        yield page
