"""override_settings over real HTTP, as A1111's clients send it: every declared setting can be
overridden for one request, shows in that request's infotext and is gone for the next; with
override_settings_restore_afterwards false it sticks; an unknown key or bad value is a 422."""

import json

import pytest
import requests

from tests.server import start_api_server

SMALL = {"prompt": "a (red:1.6) cat", "sampler_name": "Euler a", "steps": 2, "width": 64, "height": 64, "seed": 5}


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_single_file):
    running = start_api_server(tmp_path_factory.mktemp("api-overrides"), tiny_single_file.parents[1])
    yield running
    running.stop()


def txt2img(server, **fields) -> requests.Response:
    return requests.post(server.url + "/sdapi/v1/txt2img", json={**SMALL, **fields}, timeout=120)


def infotext(response: requests.Response) -> str:
    assert response.status_code == 200, response.text
    return json.loads(response.json()["info"])["infotexts"][0]


def options(server) -> dict:
    return requests.get(server.url + "/sdapi/v1/options", timeout=30).json()


def test_each_override_shows_in_its_request_only(server):
    for override, shown in (
        ({"eta_noise_seed_delta": 31337}, "ENSD: 31337"),
        ({"emphasis": "No norm"}, "Emphasis: No norm"),
        ({"CLIP_stop_at_last_layers": 2}, "Clip skip: 2"),
    ):
        assert shown in infotext(txt2img(server, override_settings=override))
        assert shown.split(":")[0] not in infotext(txt2img(server))
    assert (options(server)["eta_noise_seed_delta"], options(server)["emphasis"]) == (0, "Original")


def test_restore_afterwards_false_keeps_the_override(server):
    kept = txt2img(server, override_settings={"emphasis": "Ignore"}, override_settings_restore_afterwards=False)
    assert "Emphasis: Ignore" in infotext(kept)
    try:
        assert options(server)["emphasis"] == "Ignore"
        assert "Emphasis: Ignore" in infotext(txt2img(server))
    finally:
        requests.post(server.url + "/sdapi/v1/options", json={"emphasis": "Original"}, timeout=30)


def test_unknown_or_bad_overrides_are_422_naming_them(server):
    for override in ({"no_such_setting": 1}, {"emphasis": "Loud"}, {"eta_noise_seed_delta": "lots"}):
        response = txt2img(server, override_settings=override)
        assert response.status_code == 422, response.text
        assert next(iter(override)) in response.json()["detail"]
    assert txt2img(server).status_code == 200  # still serving
