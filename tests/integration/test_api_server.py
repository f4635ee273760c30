"""The HTTP API over a real server on 127.0.0.1, started as a user starts it."""

import base64
import io
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
from PIL import Image

from modules.images.infotext import parse_infotext
from tests.server import start_api_server


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_single_file):
    data_dir = tmp_path_factory.mktemp("api-data")
    running = start_api_server(data_dir, tiny_single_file.parents[1])
    yield running
    running.stop()


def post(server, body, path="/sdapi/v1/txt2img"):
    return requests.post(server.url + path, json=body, timeout=120)


def decode(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def test_txt2img_answers_a1111_shape_with_png_and_infotext(server):
    body = {
        "prompt": "a red circle",
        "negative_prompt": "blue",
        "steps": 5,
        "width": 128,
        "height": 96,
        "seed": 11,
        "sampler_name": "DPM++ 2M",
        "scheduler": "Karras",
        "batch_size": 2,
        "unknown_field": {"ignored": True},
    }
    response = post(server, body)
    assert response.status_code == 200, response.text
    data = response.json()
    assert set(data) == {"images", "parameters", "info"}
    info = json.loads(data["info"])
    assert info["all_seeds"] == [11, 12] and info["sd_model_name"] == "tiny"
    images = [decode(b) for b in data["images"]]
    assert [im.size for im in images] == [(128, 96), (128, 96)]
    parsed = parse_infotext(images[1].info["parameters"])
    assert (parsed["Seed"], parsed["Sampler"], parsed["Schedule type"], parsed["Steps"]) == (
        12,
        "DPM++ 2M",
        "Karras",
        5,
    )
    assert parsed["Prompt"] == "a red circle" and parsed["Negative prompt"] == "blue"
    assert data["parameters"]["prompt"] == "a red circle"

    again = post(server, {**body, "batch_size": 1, "seed": 12}).json()
    same = np.asarray(decode(again["images"][0]).convert("RGB"), dtype=np.int16)
    assert np.abs(same - np.asarray(images[1].convert("RGB"), dtype=np.int16)).max() <= 2


def test_save_images_writes_to_outputs(server):
    response = post(server, {"prompt": "saved", "steps": 2, "width": 64, "height": 64, "seed": 3, "save_images": True})
    assert response.status_code == 200
    saved = list((server.data_dir / "outputs" / "txt2img-images").rglob("*-3.png"))
    assert len(saved) == 1
    with Image.open(saved[0]) as image:
        assert parse_infotext(image.info["parameters"])["Prompt"] == "saved"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"steps": -1}, "steps"),
        ({"steps": 100000}, "steps"),
        ({"width": 0}, "width"),
        ({"width": "abc"}, "width"),
        ({"cfg_scale": "lots"}, "cfg_scale"),
        ({"sampler_name": "Nope"}, "sampler"),
    ],
)
def test_bad_input_is_422_with_a_reason_and_the_server_keeps_serving(server, body, field):
    response = post(server, body)
    assert response.status_code == 422
    assert field in response.text
    assert requests.get(server.url + "/sdapi/v1/samplers", timeout=10).status_code == 200


def test_concurrent_requests_queue_and_all_succeed(server):
    bodies = [{"prompt": f"p{i}", "steps": 3, "width": 64, "height": 64, "seed": i} for i in range(3)]
    with ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(lambda b: post(server, b), bodies))
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert [json.loads(r.json()["info"])["seed"] for r in responses] == [0, 1, 2]


def test_models_samplers_and_schedulers(server):
    post(server, {"steps": 1, "width": 64, "height": 64})  # make sure the model (and its hash) is loaded
    models = requests.get(server.url + "/sdapi/v1/sd-models", timeout=10).json()
    assert len(models) == 1
    assert models[0]["model_name"] == "tiny" and len(models[0]["hash"]) == 10
    assert models[0]["title"] == f"tiny.safetensors [{models[0]['hash']}]"
    names = [s["name"] for s in requests.get(server.url + "/sdapi/v1/samplers", timeout=10).json()]
    assert {"Euler a", "Euler", "DPM++ 2M", "DDIM"} <= set(names)
    labels = [s["label"] for s in requests.get(server.url + "/sdapi/v1/schedulers", timeout=10).json()]
    assert "Karras" in labels
    assert requests.get(server.url + "/", timeout=10).status_code == 404  # --nowebui: no UI


def test_no_checkpoint_is_a_clear_error(tmp_path):
    running = start_api_server(tmp_path)
    try:
        response = post(running, {"steps": 1})
        assert response.status_code == 503
        assert "No checkpoint found" in response.json()["detail"]
        assert "Stable-diffusion" in response.json()["detail"]
    finally:
        running.stop()


def test_progress_and_interrupt_over_the_api(server):
    import threading
    import time

    body = {"prompt": "slow", "steps": 150, "width": 256, "height": 256, "seed": 9}
    answer = {}
    worker = threading.Thread(target=lambda: answer.update(response=post(server, body)))
    worker.start()
    deadline = time.time() + 60
    progress = {}
    while time.time() < deadline:
        progress = requests.get(server.url + "/sdapi/v1/progress", timeout=10).json()
        if progress["state"]["sampling_step"] >= 1:
            break
        time.sleep(0.05)
    assert progress["state"]["sampling_steps"] == 150 and 0 < progress["progress"] < 1
    assert requests.post(server.url + "/sdapi/v1/interrupt", timeout=10).status_code == 200
    worker.join(60)
    info = json.loads(answer["response"].json()["info"])
    assert info["interrupted"] is True and len(answer["response"].json()["images"]) == 1
    idle = requests.get(server.url + "/sdapi/v1/progress", timeout=10).json()
    assert idle["progress"] == 0 and idle["state"]["sampling_step"] == 0


def test_styles_embeddings_and_clip_skip_over_the_api(server):
    (server.data_dir / "styles.csv").write_text('name,prompt,negative_prompt\nshiny,"{prompt}, shiny",dull\n')
    styles = requests.get(server.url + "/sdapi/v1/prompt-styles", timeout=30).json()
    assert styles == [{"name": "shiny", "prompt": "{prompt}, shiny", "negative_prompt": "dull"}]
    body = {"prompt": "a cube", "steps": 2, "width": 64, "height": 64, "seed": 3, "styles": ["shiny"],
            "override_settings": {"CLIP_stop_at_last_layers": 2}}  # fmt: skip
    info = json.loads(post(server, body).json()["info"])
    assert info["infotexts"][0].startswith("a cube, shiny\nNegative prompt: dull\n")
    assert "Clip skip: 2" in info["infotexts"][0]
    unknown = post(server, {**body, "styles": ["nope"]})
    assert unknown.status_code == 422 and "nope" in unknown.json()["detail"]

    import torch
    from safetensors.torch import save_file

    folder = server.data_dir / "models" / "embeddings"
    folder.mkdir(parents=True, exist_ok=True)
    save_file({"emb_params": torch.ones(3, 32)}, str(folder / "trio.safetensors"))
    save_file({"emb_params": torch.ones(1, 768)}, str(folder / "wide.safetensors"))
    assert requests.post(server.url + "/sdapi/v1/refresh-embeddings", timeout=60).status_code == 200
    embeddings = requests.get(server.url + "/sdapi/v1/embeddings", timeout=60).json()
    assert embeddings["loaded"]["trio"]["vectors"] == 3 and embeddings["loaded"]["trio"]["shape"] == 32
    assert "wide.safetensors" in embeddings["skipped"] and "768" in embeddings["skipped"]["wide.safetensors"]
