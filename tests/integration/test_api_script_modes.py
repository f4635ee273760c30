"""Scripts declare the modes they run in: GET /sdapi/v1/scripts lists each mode's Script-menu
scripts, script-info lists a script once per mode (A1111's shape), and txt2img refuses a script
that does not run there. Over real HTTP, with the fixture extension installed as a user would."""

import pytest
import requests

from tests.fixtures.installing import install_fixture_extensions
from tests.server import start_api_server


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_single_file):
    data_dir = tmp_path_factory.mktemp("script-modes")
    install_fixture_extensions(data_dir, "script_modes")
    running = start_api_server(data_dir, tiny_single_file.parents[1])
    yield running
    running.stop()


def test_scripts_are_listed_per_mode(server):
    listed = requests.get(server.url + "/sdapi/v1/scripts", timeout=30).json()
    assert "modes both" in listed["txt2img"] and "modes both" in listed["img2img"]
    assert "modes img2img only" in listed["img2img"] and "modes img2img only" not in listed["txt2img"]
    assert "modes txt2img always-on" not in listed["txt2img"] + listed["img2img"]  # always-on: not a menu entry


def test_script_info_lists_a_script_once_per_mode(server):
    info = requests.get(server.url + "/sdapi/v1/script-info", timeout=30).json()
    modes = {}
    for entry in info:
        modes.setdefault(entry["name"], []).append(entry["is_img2img"])
    assert modes["modes both"] == [False, True]
    assert modes["modes img2img only"] == [True]
    assert modes["modes txt2img always-on"] == [False]
    both = [entry for entry in info if entry["name"] == "modes both"]
    assert all(entry["args"][0]["label"] == "times" and not entry["is_alwayson"] for entry in both)


def test_txt2img_refuses_a_script_of_another_mode(server):
    body = {"prompt": "a cat", "steps": 1, "width": 64, "height": 64, "script_name": "modes img2img only"}
    response = requests.post(server.url + "/sdapi/v1/txt2img", json=body, timeout=60)
    assert response.status_code == 422
    assert "does not run in txt2img" in response.text
