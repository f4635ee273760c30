"""Host and Origin rules of the HTTP guard."""

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from modules.api.origins import CorsOrigins, allowed_host_names, from_own_page, same_origin, split_host
from modules.api.security import GuardPolicy, HttpGuard
from modules.config.flags import parse_flags


@pytest.mark.parametrize(
    "header, parsed",
    [
        ("localhost:7860", ("localhost", 7860)),
        ("Example.COM", ("example.com", None)),
        ("[::1]:7860", ("::1", 7860)),
        ("::1", ("::1", None)),
        ("host:port", None),
        ("[::1", None),
        ("", None),
        (None, None),
    ],
)
def test_split_host(header, parsed):
    assert split_host(header) == parsed


@pytest.mark.parametrize(
    "origin, host, same",
    [
        ("http://127.0.0.1:7860", "127.0.0.1:7860", True),
        ("http://LOCALHOST:7860", "localhost:7860", True),
        ("http://127.0.0.1:3000", "127.0.0.1:7860", False),  # another local port is another origin
        ("http://localhost:7860", "127.0.0.1:7860", False),
        ("https://sd.example", "sd.example", True),  # behind a TLS proxy that keeps Host
        ("http://sd.example:80", "sd.example", True),
        ("http://[::1]:7860", "[::1]:7860", True),
        ("null", "127.0.0.1:7860", False),
        ("file://", "127.0.0.1:7860", False),
        ("http://127.0.0.1:99999", "127.0.0.1:7860", False),
    ],
)
def test_same_origin(origin, host, same):
    assert same_origin(origin, host) == same


def test_allowed_hosts_follow_the_listen_flags():
    machine = {"studio-box", "192.168.1.20"}
    local = allowed_host_names(parse_flags([]), machine)
    assert {"localhost", "127.0.0.1", "::1"} <= local and not local & machine
    listening = allowed_host_names(parse_flags(["--listen", "--allowed-hosts", "sd.example, Other:8000"]), machine)
    assert machine | {"sd.example", "other"} <= listening and "0.0.0.0" not in listening
    named = allowed_host_names(parse_flags(["--server-name", "10.0.0.5"]), machine)
    assert "10.0.0.5" in named
    assert allowed_host_names(parse_flags(["--allowed-hosts", "*"]), machine) is None


def test_cors_origins_match_names_and_regex():
    cors = CorsOrigins.from_flags(
        parse_flags(
            ["--cors-allow-origins", "http://a.example:8000/", "--cors-allow-origins-regex", r"https://.*\.b\.example"]
        )
    )
    assert cors.enabled and cors.allows("http://a.example:8000") and cors.allows("https://x.b.example")
    assert not cors.allows("http://a.example:8001") and not cors.allows("https://x.b.example.evil")
    assert not CorsOrigins.from_flags(parse_flags([])).enabled


def test_own_page_for_extension_changes():
    assert from_own_page({"origin": "http://127.0.0.1:7860", "host": "127.0.0.1:7860"})
    assert not from_own_page({"origin": "http://allowed.example", "host": "127.0.0.1:7860"})
    assert from_own_page({"host": "127.0.0.1:7860"})  # a script, no browser involved
    assert not from_own_page({"host": "127.0.0.1:7860", "sec-fetch-site": "same-site"})


def test_websockets_from_other_origins_are_closed():
    async def echo(websocket: WebSocket):
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    policy = GuardPolicy(allowed_hosts=frozenset({"testserver"}))
    app = HttpGuard(Starlette(routes=[WebSocketRoute("/ws", echo)]), policy)
    client = TestClient(app)
    with client.websocket_connect("/ws", headers={"origin": "http://testserver"}) as socket:
        assert socket.receive_text() == "hello"
    for headers in ({"origin": "http://evil.example"}, {"host": "evil.example", "origin": "http://evil.example"}):
        with pytest.raises(WebSocketDisconnect) as closed:
            with client.websocket_connect("/ws", headers=headers) as socket:
                socket.receive_text()
        assert closed.value.code == 1008
