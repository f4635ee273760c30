"""Engine errors answer by what they are: the client's mistake is 4xx, a valid request this
machine cannot serve is 5xx, each with the reason."""

import pytest
import requests

from tests.server import start_api_server

SMALL = {"prompt": "a cat", "steps": 2, "width": 64, "height": 64, "seed": 1}


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_single_file):
    running = start_api_server(tmp_path_factory.mktemp("api-errors"), tiny_single_file.parents[1])
    yield running
    running.stop()


def test_a_gpu_only_option_on_a_cpu_machine_is_501_with_the_reason(server):
    api = server.url + "/sdapi/v1"
    assert requests.post(api + "/options", json={"randn_source": "GPU"}, timeout=30).status_code == 200
    try:
        answer = requests.post(api + "/txt2img", json=SMALL, timeout=120)
        assert answer.status_code == 501, answer.text
        assert "RNG source 'GPU'" in answer.json()["detail"] and "use RNG source 'CPU'" in answer.json()["detail"]
    finally:
        assert requests.post(api + "/options", json={"randn_source": "CPU"}, timeout=30).status_code == 200
    assert requests.post(api + "/txt2img", json=SMALL, timeout=120).status_code == 200


def test_a_bad_request_is_422_with_the_reason(server):
    answer = requests.post(server.url + "/sdapi/v1/txt2img", json={**SMALL, "sampler_name": "No such"}, timeout=30)
    assert answer.status_code == 422 and "No such" in answer.text
