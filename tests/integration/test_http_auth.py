"""Logins over a real server: --gradio-auth, --gradio-auth-path and --api-auth over HTTP Basic and
the login form's session cookie, on the UI, the A1111 API, an extension route and Gradio's routes."""

import base64
import io

import pytest
import requests
from PIL import Image

from tests.server import RunningServer

UI_PATHS = ("/", "/config", "/gradio_api/info")
API_PATHS = ("/sdapi/v1/sd-models", "/sdapi/v1/loras")  # the core API and an extension's route
WRONG = [None, ("alice", "nope"), ("nobody", "pa:ss word"), ("", "")]


def start(tmp_path_factory, name: str, *args: str) -> RunningServer:
    data_dir = tmp_path_factory.mktemp(name)
    running = RunningServer(
        ["--api", "--no-demo-model", "--no-model-preload", "--data-dir", str(data_dir), *args],
        data_dir / "server.log",
    )
    running.data_dir = data_dir
    return running


@pytest.fixture(scope="module")
def split_server(tmp_path_factory):
    """UI users from a file, API users of their own."""
    secrets = tmp_path_factory.mktemp("secrets") / "users.txt"
    secrets.write_text("alice:pa:ss word\ncarol:c4rol, dave:d4ve\n")
    running = start(tmp_path_factory, "auth-split", "--gradio-auth-path", str(secrets), "--api-auth", "bot:t0ken")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    """One --gradio-auth user for everything, listening beyond localhost (allowed: there is a login)."""
    running = start(tmp_path_factory, "auth-shared", "--listen", "--gradio-auth", "alice:s3cret-pass")
    yield running
    running.stop()


def get(server, path: str, auth=None, **kwargs) -> requests.Response:
    return requests.get(server.url + path, auth=auth, timeout=30, allow_redirects=False, **kwargs)


def post_rembg(server, auth=None) -> requests.Response:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG")
    body = {"input_image": base64.b64encode(buffer.getvalue()).decode()}
    return requests.post(server.url + "/rembg", json=body, auth=auth, timeout=60)


def assert_refused(answer: requests.Response) -> None:
    assert answer.status_code == 401, (answer.url, answer.status_code)
    assert answer.headers["www-authenticate"].startswith("Basic")


def test_split_realms_each_take_their_own_users(split_server):
    for path in UI_PATHS + API_PATHS:
        for auth in WRONG:
            assert_refused(get(split_server, path, auth))
    for user, password in (("alice", "pa:ss word"), ("carol", "c4rol"), ("dave", "d4ve")):
        for path in UI_PATHS:
            assert get(split_server, path, (user, password)).status_code == 200, (user, path)
        for path in API_PATHS:
            assert_refused(get(split_server, path, (user, password)))
    for path in API_PATHS:
        assert get(split_server, path, ("bot", "t0ken")).status_code == 200, path
    for path in UI_PATHS:
        assert_refused(get(split_server, path, ("bot", "t0ken")))
    assert_refused(post_rembg(split_server))
    assert post_rembg(split_server, ("bot", "t0ken")).status_code == 200


def test_one_gradio_auth_login_covers_ui_api_extensions_and_gradio(shared_server):
    for path in UI_PATHS + API_PATHS:
        for auth in WRONG + [("alice", "s3cret-pass ")]:
            assert_refused(get(shared_server, path, auth))
        assert get(shared_server, path, ("alice", "s3cret-pass")).status_code == 200, path
    assert_refused(post_rembg(shared_server))
    assert post_rembg(shared_server, ("alice", "s3cret-pass")).status_code == 200
    assert "s3cret-pass" not in shared_server.log()


def test_api_auth_alone_also_guards_the_ui(tmp_path_factory):
    server = start(tmp_path_factory, "auth-api-only", "--api-auth", "bot:t0ken")
    try:
        for path in UI_PATHS + API_PATHS:
            assert_refused(get(server, path))
            assert get(server, path, ("bot", "t0ken")).status_code == 200, path
    finally:
        server.stop()


def test_cmd_flags_does_not_echo_passwords(shared_server):
    answer = get(shared_server, "/sdapi/v1/cmd-flags", ("alice", "s3cret-pass"))
    if answer.status_code == 404:
        pytest.skip("/sdapi/v1/cmd-flags is not served yet")
    assert answer.status_code == 200
    assert "s3cret-pass" not in answer.text and "alice" not in answer.text


def test_browser_login_form_sets_a_session_cookie(split_server):
    page = get(split_server, "/", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/"
    form = get(split_server, "/login?next=/")
    assert form.status_code == 200 and 'name="password"' in form.text
    session = requests.Session()
    wrong = session.post(
        split_server.url + "/login", data={"username": "alice", "password": "x", "next": "/"}, allow_redirects=False
    )
    assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text and not session.cookies
    right = session.post(
        split_server.url + "/login",
        data={"username": "alice", "password": "pa:ss word", "next": "/config"},
        allow_redirects=False,
    )
    assert right.status_code == 303 and right.headers["location"] == "/config"
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "pa:ss" not in cookie
    for path in UI_PATHS:
        assert session.get(split_server.url + path, timeout=30).status_code == 200, path
    # The UI user's session does not open the API realm, which has users of its own.
    assert_refused(session.get(split_server.url + "/sdapi/v1/sd-models", timeout=30))
    # A forged or altered cookie is no session.
    [name] = session.cookies.keys()
    forged = session.cookies[name].replace("YWxpY2U", "Ym90")  # alice -> bot
    assert_refused(requests.get(split_server.url + "/config", cookies={name: forged}, timeout=30))


def test_login_refuses_foreign_pages_and_open_redirects(split_server):
    fields = {"username": "alice", "password": "pa:ss word"}
    foreign = requests.post(
        split_server.url + "/login", data=fields, headers={"Origin": "http://evil.example"}, allow_redirects=False
    )
    assert foreign.status_code == 403 and "set-cookie" not in foreign.headers
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        answer = requests.post(split_server.url + "/login", data={**fields, "next": target}, allow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/", target
