"""The HTTP guard over a real server: foreign Host and Origin refused on every state-changing route
(Gradio's own included), CORS only for the origins the flags name, a body-size cap, and the
start-up refusal of --listen without a login."""

import base64
import io
import socket

import pytest
import requests
from PIL import Image

from tests import gradio_events
from tests.server import RunningServer, ServerExited, free_port

ALLOWED_ORIGIN = "http://allowed.example:8000"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("guard-data")
    args = ["--api", "--no-demo-model", "--no-model-preload", "--data-dir", str(data_dir)]
    args += ["--cors-allow-origins", ALLOWED_ORIGIN, "--max-body-size", "1"]
    running = RunningServer(args, data_dir / "server.log")
    running.data_dir = data_dir
    yield running
    running.stop()


def png_b64() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# Every kind of state-changing route: A1111's body-less POSTs, a JSON one, an extension's, Gradio's.
ROUTES = {
    "interrupt": ("/sdapi/v1/interrupt", None),
    "skip": ("/sdapi/v1/skip", None),
    "refresh-checkpoints": ("/sdapi/v1/refresh-checkpoints", None),
    "refresh-loras": ("/sdapi/v1/refresh-loras", None),
    "options": ("/sdapi/v1/options", {}),
    "rembg": ("/rembg", "image"),
    "gradio-upload": ("/gradio_api/upload", "file"),
}


def post(server, route: str, headers: dict) -> requests.Response:
    path, body = ROUTES[route]
    if body == "file":
        return requests.post(server.url + path, files={"files": ("a.txt", b"hello")}, headers=headers, timeout=60)
    if body == "image":
        body = {"input_image": png_b64()}
    return requests.post(server.url + path, json=body, headers=headers, timeout=60)


def foreign_requests(port: int) -> dict[str, dict]:
    other = free_port()
    return {
        "another site": {"Origin": "http://evil.example"},
        "another local port": {"Origin": f"http://127.0.0.1:{other}"},
        "localhost, another port": {"Origin": f"http://localhost:{other}", "Host": f"localhost:{port}"},
        "sandboxed page": {"Origin": "null"},
        "no origin, cross-site fetch": {"Sec-Fetch-Site": "cross-site"},
        "no origin, same-site fetch": {"Sec-Fetch-Site": "same-site"},
    }


@pytest.mark.parametrize("route", list(ROUTES))
def test_state_changing_routes_refuse_foreign_origins_and_serve_their_own(server, route):
    for what, headers in foreign_requests(server.port).items():
        answer = post(server, route, headers)
        assert answer.status_code == 403, (what, answer.status_code, answer.text)
        assert "may not change anything" in answer.json()["detail"]
    own = {
        "own page": {"Origin": server.url},
        "own page via localhost": {"Origin": f"http://localhost:{server.port}", "Host": f"localhost:{server.port}"},
        "own page, same-origin fetch": {"Sec-Fetch-Site": "same-origin"},
        "script without Origin": {},
        "CORS-allowed origin": {"Origin": ALLOWED_ORIGIN},
    }
    for what, headers in own.items():
        answer = post(server, route, headers)
        assert answer.status_code == 200, (what, answer.status_code, answer.text)


@pytest.mark.parametrize("route", list(ROUTES))
def test_dns_rebinding_host_is_refused_even_with_a_matching_origin(server, route):
    rebound = f"evil.example:{server.port}"
    answer = post(server, route, {"Host": rebound, "Origin": f"http://{rebound}"})
    assert answer.status_code == 421 and "evil.example" in answer.json()["detail"]


def test_a_foreign_host_is_refused_on_every_request(server):
    for path in ("/", "/config", "/gradio_api/info", "/sdapi/v1/sd-models", "/sdapi/v1/loras", "/docs"):
        answer = requests.get(server.url + path, headers={"Host": f"evil.example:{server.port}"}, timeout=30)
        assert answer.status_code == 421, path
        assert requests.get(server.url + path, timeout=30).status_code == 200, path


def test_extension_install_event_is_refused_cross_origin_and_without_confirmation(server, tmp_path):
    source = tmp_path / "planted"
    source.mkdir()
    (source / "plugin.py").write_text("raise SystemExit('this must never run')\n")
    installed = server.data_dir / "extensions" / "planted"
    session = requests.Session()

    def install(headers: dict, confirmed: bool) -> tuple[int, str]:
        joined, session_hash = gradio_events.join(
            session, server.url, "extensions_install", [str(source), "", confirmed], headers
        )
        if joined.status_code != 200:
            return joined.status_code, joined.text
        return 200, gradio_events.result(session, server.url, session_hash)[0]

    status, _ = install({"Origin": "http://evil.example"}, True)
    assert status == 403 and not installed.exists()
    status, _ = install({"Origin": f"http://localhost:{free_port()}", "Host": f"localhost:{server.port}"}, True)
    assert status == 403 and not installed.exists()
    status, message = install({"Origin": ALLOWED_ORIGIN}, True)  # CORS lets it in; installing needs our own page
    assert status == 200 and "own page" in message and not installed.exists()
    status, message = install({"Origin": server.url}, False)
    assert status == 200 and "Cancelled" in message and not installed.exists()
    status, message = install({"Origin": server.url}, True)
    assert status == 200 and "Installed" in message and (installed / "plugin.py").exists()


def test_cors_headers_only_for_the_origins_named_by_the_flags(server):
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    for path in ("/sdapi/v1/options", "/gradio_api/queue/join"):
        allowed = requests.options(server.url + path, headers={"Origin": ALLOWED_ORIGIN, **preflight}, timeout=30)
        assert allowed.headers.get("access-control-allow-origin") == ALLOWED_ORIGIN, path
        for origin in ("http://evil.example", f"http://localhost:{free_port()}"):
            other = requests.options(server.url + path, headers={"Origin": origin, **preflight}, timeout=30)
            assert "access-control-allow-origin" not in other.headers, (path, origin)
    # A simple GET: the allowed origin may read the answer, a page on another local port may not.
    allowed = requests.get(server.url + "/config", headers={"Origin": ALLOWED_ORIGIN}, timeout=30)
    assert allowed.headers.get("access-control-allow-origin") == ALLOWED_ORIGIN
    local_page = {"Origin": f"http://localhost:{free_port()}", "Host": f"localhost:{server.port}"}
    assert "access-control-allow-origin" not in requests.get(server.url + "/config", headers=local_page).headers


def test_pages_may_not_be_framed_by_other_sites(server):
    assert requests.get(server.url + "/", timeout=30).headers["x-frame-options"] == "SAMEORIGIN"


def test_bodies_over_the_limit_get_413(server):
    big = b'{"prompt": "' + b"a" * (1024 * 1024 + 10) + b'"}'
    headers = {"Content-Type": "application/json"}
    declared = requests.post(server.url + "/sdapi/v1/txt2img", data=big, headers=headers, timeout=60)
    assert declared.status_code == 413 and "1 MiB" in declared.json()["detail"]
    # A generator body goes out chunked, with no Content-Length: the guard counts the bytes.
    chunks = (big[i : i + 65536] for i in range(0, len(big), 65536))
    streamed = requests.post(server.url + "/sdapi/v1/txt2img", data=chunks, headers=headers, timeout=60)
    assert streamed.status_code == 413 and "--max-body-size" in streamed.json()["detail"]
    upload = requests.post(server.url + "/gradio_api/upload", files={"files": ("big.bin", big)}, timeout=60)
    assert upload.status_code == 413
    assert requests.get(server.url + "/sdapi/v1/samplers", timeout=30).status_code == 200  # still serving


def test_listen_without_a_login_refuses_to_start(tmp_path):
    with pytest.raises(ServerExited) as refused:
        RunningServer(["--listen", "--no-demo-model", "--data-dir", str(tmp_path)], tmp_path / "server.log")
    assert refused.value.returncode != 0
    assert "Refusing to start" in refused.value.log and "without any login" in refused.value.log
    assert "--gradio-auth" in refused.value.log and "--insecure" in refused.value.log


def test_listen_with_insecure_starts_and_extension_routes_follow_api(tmp_path):
    args = ["--listen", "--insecure", "--no-demo-model", "--no-model-preload", "--data-dir", str(tmp_path)]
    server = RunningServer(args, tmp_path / "server.log")
    try:
        assert requests.get(server.url + "/", timeout=30).status_code == 200
        # LAN clients reach it by this machine's name; other names stay refused.
        by_name = {"Host": f"{socket.gethostname()}:{server.port}"}
        assert requests.get(server.url + "/", headers=by_name, timeout=30).status_code == 200
        rebound = {"Host": f"evil.example:{server.port}"}
        assert requests.get(server.url + "/", headers=rebound, timeout=30).status_code == 421
        # No --api: neither the A1111 API nor the extensions' routes are served.
        assert requests.get(server.url + "/sdapi/v1/sd-models", timeout=30).status_code == 404
        assert requests.get(server.url + "/sdapi/v1/loras", timeout=30).status_code == 404
        assert requests.post(server.url + "/rembg", json={"input_image": png_b64()}, timeout=30).status_code in (
            404,
            405,
        )
    finally:
        server.stop()
    assert "no login (--insecure)" in server.log()


def test_every_state_changing_route_the_server_lists_refuses_a_foreign_origin(server):
    """Not a sample: each POST/PUT/PATCH/DELETE route in the API schema, and every Gradio event
    of the page (through the queue, as the page calls them), refused from another site."""
    schema = requests.get(server.url + "/openapi.json", timeout=30).json()
    routes = [
        (method.upper(), path.replace("{", "").replace("}", ""))
        for path, methods in schema["paths"].items()
        for method in methods
        if method.upper() in ("POST", "PUT", "PATCH", "DELETE")
    ]
    assert len(routes) >= 10 and ("POST", "/sdapi/v1/txt2img") in routes
    foreign = {"Origin": "http://evil.example"}
    for method, path in routes:
        answer = requests.request(method, server.url + path, json={}, headers=foreign, timeout=30)
        assert answer.status_code == 403, (method, path, answer.status_code)
    config = requests.get(server.url + "/config", timeout=30).json()
    events = [index for index, _ in enumerate(config["dependencies"])]
    assert len(events) > 20
    for fn_index in events:
        body = {"data": [], "fn_index": fn_index, "session_hash": "probe", "event_data": None, "trigger_id": None}
        answer = requests.post(server.url + "/gradio_api/queue/join", json=body, headers=foreign, timeout=30)
        assert answer.status_code == 403, (fn_index, answer.status_code)
