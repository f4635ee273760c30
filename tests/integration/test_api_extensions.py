"""Extensions over real HTTP: a server started as a user starts it, with a user extension
installed in its data dir (it adds a flag, a route, settings and scripts)."""

import base64
import io
import json
import shutil

import numpy as np
import pytest
import requests
from PIL import Image

from tests.fixtures.installing import install_fixture_extensions
from tests.server import RunningServer


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_single_file):
    data_dir = tmp_path_factory.mktemp("api-ext-data")
    shutil.copytree(tiny_single_file.parents[1], data_dir / "models")
    install_fixture_extensions(data_dir, "example", "broken_import")
    running = RunningServer(
        ["--nowebui", "--no-demo-model", "--data-dir", str(data_dir), "--example-greeting", "hi there"],
        data_dir / "server.log",
    )
    running.data_dir = data_dir
    yield running
    running.stop()


def txt2img(server, **fields):
    body = {"prompt": "a cat", "steps": 2, "width": 64, "height": 64, "seed": 5, **fields}
    return requests.post(server.url + "/sdapi/v1/txt2img", json=body, timeout=120)


def image_of(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB"), dtype=np.int16)


def test_extensions_listed_in_a1111_shape(server):
    response = requests.get(server.url + "/sdapi/v1/extensions", timeout=30)
    assert response.status_code == 200
    by_name = {item["name"]: item for item in response.json()}
    assert set(by_name["example"]) == {"name", "remote", "branch", "commit_hash", "commit_date", "version", "enabled"}
    assert by_name["example"]["version"] == "0.3.1" and by_name["example"]["enabled"] is True
    assert by_name["broken_import"]["enabled"] is False
    assert {"rembg", "lycoris"} <= set(by_name)
    log = server.log()
    assert "Extension broken_import: failed to load: ModuleNotFoundError" in log


def test_extension_flag_and_route(server):
    response = requests.get(server.url + "/example/ping", timeout=30)
    assert response.status_code == 200 and response.json()["greeting"] == "hi there"


def test_scripts_listed_and_run_with_positional_args(server):
    listed = requests.get(server.url + "/sdapi/v1/scripts", timeout=30).json()
    assert "example repeat" in listed["txt2img"] and "example mirror" not in listed["txt2img"]
    info = {s["name"]: s for s in requests.get(server.url + "/sdapi/v1/script-info", timeout=30).json()}
    assert [a["label"] for a in info["example repeat"]["args"]] == ["repeats", "seed_step"]
    assert info["example repeat"]["args"][0]["maximum"] == 4 and info["example mirror"]["is_alwayson"]
    response = txt2img(server, script_name="example repeat", script_args=[2, 3])
    assert response.status_code == 200, response.text
    assert json.loads(response.json()["info"])["all_seeds"] == [5, 8]


def test_alwayson_script_over_the_api(server):
    plain = txt2img(server).json()["images"][0]
    mirrored = txt2img(server, alwayson_scripts={"Example mirror": {"args": [True, "api"]}}).json()
    assert np.array_equal(image_of(mirrored["images"][0]), image_of(plain)[:, ::-1])
    assert "Example mirror: api" in json.loads(mirrored["info"])["infotexts"][0]


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"script_name": "nope"}, "not found"),
        ({"script_name": "example repeat", "script_args": {"repeats": 0}}, "repeats"),
        ({"alwayson_scripts": {"Example mirror": {"args": {"enabled": "perhaps"}}}}, "enabled"),
    ],
)
def test_bad_script_arguments_get_422_with_a_reason(server, fields, reason):
    response = txt2img(server, **fields)
    assert response.status_code == 422 and reason in response.json()["detail"]


def test_extension_settings_through_options(server):
    options = requests.get(server.url + "/sdapi/v1/options", timeout=30).json()
    assert options["example_invert"] is False and options["samples_save"] is True
    config = server.data_dir / "config.json"
    before = config.read_bytes() if config.exists() else None
    bad = requests.post(server.url + "/sdapi/v1/options", json={"example_suffix": "x", "example_invert": 3}, timeout=30)
    assert bad.status_code == 422 and "example_invert" in bad.json()["detail"]
    unknown = requests.post(server.url + "/sdapi/v1/options", json={"no_such_option": 1}, timeout=30)
    assert unknown.status_code == 422 and "no_such_option" in unknown.json()["detail"]
    assert (config.read_bytes() if config.exists() else None) == before
    plain = image_of(txt2img(server).json()["images"][0])
    assert requests.post(server.url + "/sdapi/v1/options", json={"example_invert": True}, timeout=30).ok
    assert json.loads(config.read_text())["example_invert"] is True
    inverted = image_of(txt2img(server).json()["images"][0])
    requests.post(server.url + "/sdapi/v1/options", json={"example_invert": False}, timeout=30)
    assert np.array_equal(inverted, 255 - plain)


def test_extras_refuses_bad_input(server):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    good = base64.b64encode(buffer.getvalue()).decode()
    url = server.url + "/sdapi/v1/extra-single-image"
    bad_image = requests.post(url, json={"image": "not base64!"}, timeout=30)
    assert bad_image.status_code == 422 and "base64" in bad_image.json()["detail"]
    unknown = requests.post(url, json={"image": good, "steps": {"No such step": {}}}, timeout=30)
    assert unknown.status_code == 422 and "unknown post-processing step" in unknown.json()["detail"]
    # The server is still up and serving after the refusals.
    assert requests.get(server.url + "/sdapi/v1/extensions", timeout=30).status_code == 200


def test_png_info_gives_back_script_args_by_name(server):
    response = txt2img(server, alwayson_scripts={"Example mirror": {"args": {"enabled": True, "label": "x, y"}}})
    png = response.json()["images"][0]
    info = requests.post(server.url + "/sdapi/v1/png-info", json={"image": png}, timeout=30).json()
    assert info["parameters"]["alwayson_scripts"] == {"Example mirror": {"enabled": True, "label": "x, y"}}
    # A1111's keys and text values, as its png-info answers
    assert (info["parameters"]["Seed"], info["parameters"]["Steps"], info["parameters"]["Size-1"]) == ("5", "2", "64")
    # The extension's infotext_pasted hook upgrades a key an older release wrote.
    legacy = info["info"].replace('Example mirror: "x, y"', "Example legacy label: old")
    buffer = io.BytesIO()
    from PIL import PngImagePlugin

    meta = PngImagePlugin.PngInfo()
    meta.add_text("parameters", legacy)
    Image.new("RGB", (4, 4)).save(buffer, format="PNG", pnginfo=meta)
    body = {"image": base64.b64encode(buffer.getvalue()).decode()}
    pasted = requests.post(server.url + "/sdapi/v1/png-info", json=body, timeout=30).json()
    assert pasted["parameters"]["alwayson_scripts"] == {"Example mirror": {"enabled": True, "label": "old"}}


def test_extras_runs_the_background_removal_step(server):
    from tests.extensions.rembg_pictures import iou, pictures

    picture = pictures(96)[1]
    buffer = io.BytesIO()
    picture.image.save(buffer, format="PNG")
    body = {"image": base64.b64encode(buffer.getvalue()).decode(), "steps": {"Background removal": {}}}
    response = requests.post(server.url + "/sdapi/v1/extra-single-image", json=body, timeout=60)
    assert response.status_code == 200, response.text
    result = Image.open(io.BytesIO(base64.b64decode(response.json()["image"])))
    assert result.mode == "RGBA" and iou(np.asarray(result)[..., 3] > 127, picture.mask) > 0.9
    missing = {**body, "steps": {"background removal": {"model": "u2net"}}}
    refused = requests.post(server.url + "/sdapi/v1/extra-single-image", json=missing, timeout=60)
    assert refused.status_code == 422 and "u2net.onnx" in refused.json()["detail"]
