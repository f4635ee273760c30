"""A1111's unload-checkpoint and reload-checkpoint over real HTTP: unloading leaves no model
loaded (the options say so), the next generation loads it again; reloading reads the file again
(a new model object), and generation goes on."""

import requests

from tests.server import start_api_server

SMALL = {"prompt": "a cat", "steps": 1, "width": 64, "height": 64, "seed": 3}


def test_unload_then_reload_over_http(tmp_path, tiny_single_file):
    server = start_api_server(tmp_path / "data", tiny_single_file.parents[1])
    try:
        api = server.url + "/sdapi/v1"
        assert requests.post(api + "/txt2img", json=SMALL, timeout=300).status_code == 200
        assert requests.get(api + "/options", timeout=60).json()["sd_model_checkpoint"].startswith("tiny")
        answer = requests.post(api + "/unload-checkpoint", timeout=120)
        assert answer.status_code == 200 and answer.json() == {}
        assert requests.get(api + "/options", timeout=60).json()["sd_model_checkpoint"] is None
        first = requests.post(api + "/txt2img", json=SMALL, timeout=300)
        assert first.status_code == 200 and len(first.json()["images"]) == 1  # loaded again on demand
        answer = requests.post(api + "/reload-checkpoint", timeout=300)
        assert answer.status_code == 200 and answer.json() == {}
        assert requests.get(api + "/options", timeout=60).json()["sd_model_checkpoint"].startswith("tiny")
        again = requests.post(api + "/txt2img", json=SMALL, timeout=300)
        assert again.json()["images"] == first.json()["images"]  # the same file: the same picture
    finally:
        server.stop()


def test_reload_reads_the_file_again(engine):
    before = engine.models.get()
    reloaded = engine.submit_reload_checkpoint().outcome()
    assert reloaded is engine.models.loaded and reloaded is not before
    assert reloaded.info.path == before.info.path
    assert engine.submit_unload_checkpoint().outcome() == before.info and engine.models.loaded is None
