"""Job control over HTTP under load: progress, interrupt and skip answer at once with any queue,
and a client stops only its own job (A1111's force_task_id and /internal/progress)."""

import threading
import time

import numpy as np
import pytest
import requests

from tests.integration.test_api_server import decode
from tests.server import start_api_server

QUEUED_CLIENTS = 64


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_single_file):
    data_dir = tmp_path_factory.mktemp("api-jobs")
    running = start_api_server(data_dir, tiny_single_file.parents[1])
    yield running
    running.stop()


def body(task_id: str, **fields) -> dict:
    return {"prompt": "a cat", "steps": 12, "width": 64, "height": 64, "seed": 7, "force_task_id": task_id, **fields}


def submit_in_background(server, payload: dict, answers: dict) -> threading.Thread:
    def call():
        answers[payload["force_task_id"]] = requests.post(server.url + "/sdapi/v1/txt2img", json=payload, timeout=600)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread


def internal_progress(server, task_id: str) -> dict:
    answer = requests.post(server.url + "/internal/progress", json={"id_task": task_id}, timeout=10)
    assert answer.status_code == 200
    return answer.json()


def wait_until(predicate, timeout=120, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


def timed(call) -> tuple[float, requests.Response]:
    started = time.perf_counter()
    answer = call()
    return time.perf_counter() - started, answer


def test_progress_interrupt_and_skip_answer_within_a_second_behind_64_waiting_clients(server):
    answers: dict = {}
    threads = [
        submit_in_background(server, body(f"load-{n}", steps=20, seed=n), answers) for n in range(QUEUED_CLIENTS)
    ]
    progress = lambda: requests.get(server.url + "/sdapi/v1/progress", timeout=30)  # noqa: E731
    wait_until(lambda: progress().json()["state"]["queued"] >= QUEUED_CLIENTS - 8, what="a deep queue")
    try:
        for _ in range(5):
            seconds, answer = timed(progress)
            assert answer.status_code == 200 and seconds < 1.0, seconds
            assert answer.json()["state"]["queued"] > 0
            seconds, answer = timed(lambda: requests.post(server.url + "/sdapi/v1/skip", json={"id_task": "nobody"}))
            assert answer.status_code == 404 and seconds < 1.0, seconds
            seconds, answer = timed(lambda: internal_progress(server, f"load-{QUEUED_CLIENTS - 1}"))
            assert answer["queued"] and seconds < 1.0, seconds
    finally:
        for n in range(QUEUED_CLIENTS):  # drop them all by id: queued ones never start
            requests.post(server.url + "/sdapi/v1/interrupt", json={"id_task": f"load-{n}"}, timeout=30)
        for thread in threads:
            thread.join(120)
    assert len(answers) == QUEUED_CLIENTS
    assert all(answer.status_code == 200 for answer in answers.values()), {
        k: (a.status_code, a.text[:200]) for k, a in answers.items() if a.status_code != 200
    }


def test_interrupt_by_id_stops_only_that_clients_job(server):
    reference = requests.post(server.url + "/sdapi/v1/txt2img", json=body("b-alone", steps=60), timeout=600).json()
    answers: dict = {}
    b_thread = submit_in_background(server, body("client-b", steps=60), answers)
    wait_until(lambda: internal_progress(server, "client-b")["active"], what="client B's job to run")
    a_thread = submit_in_background(server, body("client-a", steps=60, seed=99), answers)
    wait_until(lambda: internal_progress(server, "client-a")["queued"], what="client A's job to queue")

    assert requests.post(server.url + "/sdapi/v1/interrupt", json={"id_task": "client-a"}, timeout=10).ok
    a_thread.join(120)
    b_thread.join(300)
    b = answers["client-b"].json()
    assert answers["client-b"].status_code == 200
    assert len(b["images"]) == 1 and '"interrupted": false' in b["info"].replace(": False", ": false")
    mine, alone = (np.asarray(decode(x["images"][0])) for x in (b, reference))
    assert np.array_equal(mine, alone)  # whole: the same picture as the same request alone
    assert answers["client-a"].status_code == 200 and answers["client-a"].json()["images"] == []
    assert internal_progress(server, "client-b")["completed"]


def test_global_interrupt_still_stops_the_running_job(server):
    answers: dict = {}
    thread = submit_in_background(server, body("old-client", steps=150, n_iter=3), answers)
    wait_until(lambda: internal_progress(server, "old-client")["active"], what="the job to run")
    assert requests.post(server.url + "/sdapi/v1/interrupt", timeout=10).status_code == 200  # no body, as old clients
    thread.join(120)
    answer = answers["old-client"].json()
    assert answers["old-client"].status_code == 200 and len(answer["images"]) < 3


def test_internal_progress_reports_unknown_queued_running_and_done(server):
    unknown = internal_progress(server, "never-submitted")
    assert (unknown["active"], unknown["queued"], unknown["completed"]) == (False, False, False)
    answers: dict = {}
    thread = submit_in_background(server, body("watched", steps=100), answers)
    wait_until(lambda: internal_progress(server, "watched")["active"], what="the job to run")
    running = internal_progress(server, "watched")
    assert 0.0 <= running["progress"] < 1.0
    thread.join(300)
    done = internal_progress(server, "watched")
    assert done["completed"] and not done["active"]


def test_a_task_id_in_use_is_refused(server):
    first = requests.post(server.url + "/sdapi/v1/txt2img", json=body("same-id", steps=2), timeout=120)
    second = requests.post(server.url + "/sdapi/v1/txt2img", json=body("same-id", steps=2), timeout=120)
    assert first.status_code == 200
    assert second.status_code == 422 and "same-id" in second.text
