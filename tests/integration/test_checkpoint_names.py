"""Checkpoint names from requests: matched among the listed checkpoints before anything is
queued, a failed switch keeps the model that was loaded, a FIFO in the models folder wedges
nothing, and a clip skip deeper than the model is clamped. Engine and real HTTP server."""

import os
import time

import numpy as np
import pytest
import requests

from modules.models.loading import CheckpointLoadError
from modules.models.manager import UnknownCheckpointError
from modules.processing.request import Txt2ImgRequest
from tests.conftest import make_engine
from tests.server import RunningServer

SMALL = {"prompt": "a cat", "steps": 2, "width": 64, "height": 64, "seed": 3, "save_images": False}


def models_folder(root, tiny_single_file):
    """models/ with the tiny model, a listed but corrupt checkpoint and a FIFO named like one."""
    folder = root / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    (folder / "base.safetensors").symlink_to(tiny_single_file)
    (folder / "corrupt.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    os.mkfifo(folder / "wedge.safetensors")
    return root / "models"


@pytest.fixture(scope="module")
def engine_with_choices(tmp_path_factory, tiny_single_file):
    root = tmp_path_factory.mktemp("names")
    engine = make_engine(root / "data", "--models-dir", str(models_folder(root, tiny_single_file)))
    yield engine
    engine.queue.shutdown()


def pixels(result) -> np.ndarray:
    return np.asarray(result.images[0].image, dtype=np.int16)


def test_a_failed_switch_keeps_the_old_model_and_the_next_generation_works(engine_with_choices):
    engine = engine_with_choices
    before = pixels(engine.submit_txt2img(Txt2ImgRequest(**SMALL, checkpoint="base.safetensors")).outcome())
    loaded = engine.models.loaded
    assert loaded.info.name == "base.safetensors"
    with pytest.raises(CheckpointLoadError, match="corrupt.safetensors"):
        engine.submit_model_switch("corrupt.safetensors").outcome()
    assert engine.models.loaded is loaded
    after = engine.submit_txt2img(Txt2ImgRequest(**SMALL)).outcome()
    assert np.array_equal(pixels(after), before)


@pytest.mark.parametrize(
    "fields",
    [
        {"checkpoint": "/etc/passwd"},
        {"checkpoint": "../../../etc/passwd"},
        {"checkpoint": "wedge.safetensors"},  # a FIFO in the models folder is not a checkpoint
        {"refiner_checkpoint": "/dev/zero", "refiner_switch_at": 0.5},
        {"refiner_checkpoint": "/dev/zero"},
    ],
)
def test_unknown_checkpoint_names_are_refused_before_anything_is_queued(engine_with_choices, fields):
    engine = engine_with_choices
    with pytest.raises(UnknownCheckpointError, match="available: base.safetensors, corrupt.safetensors$"):
        engine.submit_txt2img(Txt2ImgRequest(**SMALL, **fields), job_id="refused-job")
    assert engine.queue.get("refused-job") is None


def test_an_unknown_switch_is_refused_before_anything_is_queued(engine_with_choices):
    for wanted in ("/dev/zero", "wedge.safetensors", "..", str(engine_with_choices.paths.models_dir)):
        with pytest.raises(UnknownCheckpointError):
            engine_with_choices.submit_model_switch(wanted)


def test_a_clip_skip_deeper_than_the_text_encoder_uses_its_first_layer(engine):
    """The tiny model's text encoder has 2 layers: clip skip 3..12 is clamped to 2."""
    assert engine.models.get().text_encoder.config.num_hidden_layers == 2

    def image(clip_skip):
        return pixels(engine.submit_txt2img(Txt2ImgRequest(**SMALL, clip_skip=clip_skip)).outcome())

    deepest = image(2)
    assert np.array_equal(image(12), deepest) and np.array_equal(image(5), deepest)
    assert not np.array_equal(image(1), deepest)


# --- over HTTP ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_single_file):
    root = tmp_path_factory.mktemp("names-api")
    models = models_folder(root, tiny_single_file)
    data_dir = root / "data"
    args = ["--api", "--nowebui", "--no-demo-model", "--data-dir", str(data_dir), "--models-dir", str(models)]
    running = RunningServer(args, root / "server.log")
    yield running
    running.stop()


def timed(method, server, path, body=None):
    started = time.monotonic()
    response = requests.request(method, server.url + path, json=body, timeout=60)
    return response, time.monotonic() - started


def test_the_model_list_answers_with_a_fifo_in_the_models_folder(server):
    response, _ = timed("GET", server, "/sdapi/v1/sd-models")
    assert response.status_code == 200
    assert sorted(item["title"].split(" [")[0] for item in response.json()) == [
        "base.safetensors",
        "corrupt.safetensors",
    ]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/sdapi/v1/options", {"sd_model_checkpoint": "/dev/zero"}),
        ("/sdapi/v1/options", {"sd_model_checkpoint": "wedge.safetensors"}),
        ("/sdapi/v1/options", {"sd_model_checkpoint": "../../../../etc/shadow"}),
        ("/sdapi/v1/txt2img", {**SMALL, "override_settings": {"sd_model_checkpoint": "/etc/passwd"}}),
        ("/sdapi/v1/txt2img", {**SMALL, "refiner_checkpoint": "/dev/zero", "refiner_switch_at": 0.5}),
    ],
)
def test_a_path_as_checkpoint_is_refused_within_a_second_and_the_server_goes_on(server, path, body):
    timed("GET", server, "/sdapi/v1/progress")  # first contact warms the connection
    response, seconds = timed("POST", server, path, body)
    assert 400 <= response.status_code < 500, response.text
    assert seconds < 1.0
    assert "available: base.safetensors, corrupt.safetensors" in response.json()["detail"]
    progress, seconds = timed("GET", server, "/sdapi/v1/progress")
    assert progress.status_code == 200 and seconds < 1.0


def test_after_refusals_the_worker_still_generates_with_a_deep_clip_skip(server):
    """Runs after the refusals above: the one worker was never handed a path to read."""
    body = {**SMALL, "override_settings": {"CLIP_stop_at_last_layers": 5, "sd_model_checkpoint": "base"}}
    response, _ = timed("POST", server, "/sdapi/v1/txt2img", body)
    assert response.status_code == 200, response.text
    assert len(response.json()["images"]) == 1
