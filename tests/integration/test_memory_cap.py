"""The memory cap over real HTTP, out-of-memory at run time, and device work on the one queue.

A server started with a small --memory-budget refuses a request that would exceed it (422 with the
reason, nothing queued) and goes on serving; a job that really fails to allocate (a script of a
test extension asks torch for 4 EiB) fails with "out of memory at WxH" and the next job runs.
Extras and background removal run as jobs of their kinds, behind a running generation."""

import base64
import io
import threading
import time

import numpy as np
import pytest
import requests
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from modules.images.postprocessing import submit_extras
from modules.jobs import JobState
from tests.conftest import make_engine
from tests.server import start_api_server

OOM_EXTENSION = '''
"""Test extension: a Script-menu script whose run makes a real allocation that cannot succeed."""

import torch

from modules.plugins import Script, hookimpl


class OutOfMemoryOnPurpose(Script):
    title = "Out of memory on purpose"

    def run(self, p, args):
        return torch.empty(1 << 60, dtype=torch.float32)  # 4 EiB: the allocator refuses it


@hookimpl
def scripts():
    return [OutOfMemoryOnPurpose]
'''
SMALL = {"prompt": "a cat", "steps": 2, "width": 64, "height": 64, "seed": 3}


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_single_file):
    data_dir = tmp_path_factory.mktemp("memory-cap")
    (data_dir / "extensions" / "oom_on_purpose").mkdir(parents=True)
    (data_dir / "extensions" / "oom_on_purpose" / "plugin.py").write_text(OOM_EXTENSION)
    # Classic attention: its score matrices make a 1024x1024 picture of even the tiny model too big.
    running = start_api_server(
        data_dir, tiny_single_file.parents[1], "--memory-budget", "1", "--disable-opt-split-attention"
    )
    yield running
    running.stop()


def txt2img(server, **fields):
    return requests.post(server.url + "/sdapi/v1/txt2img", json={**SMALL, **fields}, timeout=300)


def picture(answer) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(answer.json()["images"][0]))).convert("RGB"))


def internal_progress(server, task_id: str) -> dict:
    answer = requests.post(server.url + "/internal/progress", json={"id_task": task_id}, timeout=30)
    assert answer.status_code == 200
    return answer.json()


def test_a_request_over_the_cap_is_refused_before_it_is_queued_and_the_server_keeps_serving(server):
    refused = txt2img(server, width=1024, height=1024, force_task_id="too-big")
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert detail.startswith("needs about ") and "at 1024x1024 with classic attention" in detail, detail
    assert "the memory cap is 1.0 GiB (--memory-budget)" in detail and "--opt-sdp-attention" in detail
    never_queued = internal_progress(server, "too-big")
    assert not never_queued["queued"] and not never_queued["active"] and not never_queued["completed"]

    served = txt2img(server, force_task_id="small")
    assert served.status_code == 200, served.text
    pixels = picture(served)
    assert pixels.shape == (64, 64, 3) and pixels.std() > 1  # a picture, not a blank
    assert internal_progress(server, "small")["kind"] == "generate"


def test_a_job_that_runs_out_of_memory_fails_saying_so_and_the_next_job_runs(server):
    failed = txt2img(server, script_name="Out of memory on purpose")
    assert failed.status_code == 500, failed.text
    detail = failed.json()["detail"]
    assert detail.startswith("out of memory at 64x64: "), detail
    assert "can't allocate memory" in detail and "4611686018427387904 bytes" in detail
    after = txt2img(server, seed=4)
    assert after.status_code == 200, after.text
    assert picture(after).shape == (64, 64, 3)
    assert "out of memory at 64x64" in server.log()  # the log says it too, without a traceback's noise


# --- device work on the one queue, in process -------------------------------------------------


@pytest.fixture(scope="module")
def engine(tmp_path_factory, tiny_single_file):
    built = make_engine(tmp_path_factory.mktemp("queue-kinds"), "--models-dir", str(tiny_single_file.parents[1]))
    yield built
    built.queue.shutdown()


class Blocker:
    """A running job that holds the queue until released."""

    def __init__(self, engine):
        self.started, self.gate = threading.Event(), threading.Event()
        self.job = engine.queue.submit(self._work, description="blocker")
        assert self.started.wait(30)

    def _work(self, job):
        self.started.set()
        self.gate.wait(60)
        return "blocker done"

    def release(self):
        self.gate.set()
        assert self.job.outcome() == "blocker done"


def wait_for_kind(engine, kind: str, deadline_s: float = 60.0):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        found = [job for job in engine.queue.listing() if job.kind == kind]
        if found:
            return found[0]
        time.sleep(0.01)
    raise AssertionError(f"no {kind} job was queued")


def test_extras_wait_behind_a_running_job_as_an_extras_job(engine):
    source = Image.fromarray(np.arange(48 * 32 * 3, dtype=np.uint8).reshape(32, 48, 3))
    blocker = Blocker(engine)
    job = submit_extras(engine, [("a.png", source)], None, [])
    assert job.kind == "extras" and job.state == JobState.QUEUED and engine.queue.position(job) == 1
    assert [j.kind for j in engine.queue.listing()] == ["generate", "extras"]
    blocker.release()
    outputs = job.outcome()
    assert job.started >= blocker.job.finished  # it ran after the blocker, on the same worker
    assert np.array_equal(np.asarray(outputs[0].image.convert("RGB")), np.asarray(source))


def test_background_removal_over_http_runs_as_a_rembg_job_behind_a_running_job(engine):
    app = FastAPI()
    engine.extensions.call("app_started", app=app, engine=engine)
    client = TestClient(app)
    image = Image.new("RGB", (64, 64), "white")
    image.paste((200, 30, 30), (16, 16, 48, 48))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    answers = []
    blocker = Blocker(engine)
    caller = threading.Thread(
        target=lambda: answers.append(
            client.post("/rembg", json={"input_image": base64.b64encode(buffer.getvalue()).decode()})
        )
    )
    caller.start()
    job = wait_for_kind(engine, "rembg")
    assert job.state == JobState.QUEUED and answers == []  # waiting behind the running job
    blocker.release()
    caller.join(120)
    assert answers and answers[0].status_code == 200, answers and answers[0].text
    assert job.state == JobState.DONE and job.started >= blocker.job.finished
    cutout = Image.open(io.BytesIO(base64.b64decode(answers[0].json()["image"])))
    assert cutout.mode == "RGBA" and cutout.size == (64, 64)
