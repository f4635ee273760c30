"""--xformers on a machine without CUDA: the engine says why, falls back to SDPA and generates the
same picture as the default engine; GET /sdapi/v1/memory reports RAM and the attention backend."""

import logging

import numpy as np
import pytest
import requests
import torch

from modules.processing.request import Txt2ImgRequest
from tests.conftest import make_engine
from tests.server import start_api_server

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="the xformers fallback is for machines without CUDA")
REASON = "--xformers needs an NVIDIA GPU and the xformers package; this machine has no CUDA device: using SDPA"


def picture(engine) -> np.ndarray:
    request = Txt2ImgRequest(prompt="a red cube", steps=3, width=64, height=64, seed=7, sampler_name="Euler",
                             checkpoint="tiny.safetensors", save_images=False)  # fmt: skip
    return np.asarray(engine.submit_txt2img(request).outcome().images[0].image, dtype=np.int16)


def test_xformers_falls_back_to_sdp_and_says_why(tmp_path, tiny_single_file, caplog):
    models = str(tiny_single_file.parents[1])
    with caplog.at_level(logging.WARNING, logger="modules.attention"):
        xformers = make_engine(tmp_path / "x", "--models-dir", models, "--xformers")
    default = make_engine(tmp_path / "d", "--models-dir", models)
    try:
        assert [record.getMessage() for record in caplog.records] == [REASON]  # logged once, at start
        ours, theirs = picture(xformers), picture(default)
        processors = {type(p).__name__ for p in xformers.models.get("tiny.safetensors").unet.attn_processors.values()}
    finally:
        xformers.queue.shutdown()
        default.queue.shutdown()
    assert processors == {"AttnProcessor2_0"}
    assert np.abs(ours - theirs).max() <= 1
    assert ours.std() > 1


def test_memory_route_reports_ram_and_attention(tmp_path, tiny_single_file):
    server = start_api_server(tmp_path, tiny_single_file.parents[1], "--xformers")
    try:
        response = requests.get(f"{server.url}/sdapi/v1/memory", timeout=30)
        log = server.log()
    finally:
        server.stop()
    assert log.count(REASON) == 1
    assert response.status_code == 200
    body = response.json()
    assert body["ram"]["total"] > 0 and 0 < body["ram"]["used"] <= body["ram"]["total"]
    assert body["ram"]["free"] == body["ram"]["total"] - body["ram"]["used"]
    assert "error" in body["cuda"]
    assert body["attention"].startswith("xformers unavailable: --xformers needs an NVIDIA GPU")
    assert body["attention"].endswith("-> sdp (scaled dot product)")
