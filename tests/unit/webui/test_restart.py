"""Who may restart the server (Settings' Reload UI), and that a refused request changes nothing."""

import time

from modules.config.flags import parse_flags
from webui.restart import ServerRestart


class Server:  # the two fields uvicorn.Server reads to stop
    should_exit = False
    force_exit = False


def test_a_local_server_may_restart_one_listening_beyond_only_with_the_insecure_flag():
    assert ServerRestart(parse_flags([])).allowed
    assert not ServerRestart(parse_flags(["--listen"])).allowed
    assert ServerRestart(parse_flags(["--listen", "--enable-insecure-extension-access"])).allowed


def test_a_refused_request_neither_stops_nor_restarts():
    restart = ServerRestart(parse_flags(["--listen"]))
    server = Server()
    restart.attach(server)
    assert restart.request() is False
    assert not restart.requested and not server.should_exit
    restart.exec_if_requested()  # returns: nothing was asked


def test_an_allowed_request_stops_the_server_after_the_answer(monkeypatch):
    monkeypatch.setattr("webui.restart.STOP_DELAY_SECONDS", 0.0)
    restart = ServerRestart(parse_flags([]))
    server = Server()
    restart.attach(server)
    assert restart.request() is True and restart.requested
    for _ in range(100):
        if server.should_exit:
            break
        time.sleep(0.01)
    assert server.should_exit and server.force_exit
