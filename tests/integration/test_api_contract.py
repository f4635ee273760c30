"""A1111's API contract over real HTTP: what its clients send (nulls, strings for numbers, NaN
literals, trailing slashes) and what they read back (png-info keys, the info JSON, the lists)."""

import base64
import io
import json
import re

import pytest
import requests
from PIL import Image, PngImagePlugin

from modules.api.models import Txt2ImgBody
from modules.config.settings import CORE_SETTINGS
from tests.server import start_api_server

USER, PASSWORD = "tester", "s3cret-pw"
NONFINITE = ("NaN", "Infinity", "-Infinity")
SMALL = {"steps": 2, "width": 64, "height": 64, "seed": 3}


def _is_number(annotation) -> bool:
    return annotation in (int, float) or any(arg in (int, float) for arg in getattr(annotation, "__args__", ()))


TXT2IMG_NUMBERS = sorted(name for name, field in Txt2ImgBody.model_fields.items() if _is_number(field.annotation))
OPTION_NUMBERS = sorted(spec.key for spec in CORE_SETTINGS if spec.kind in ("number", "slider"))
# A1111's numeric extras fields (we ignore them, but NaN is not JSON and must not answer 500).
EXTRAS_NUMBERS = ("resize_mode", "upscaling_resize", "upscaling_resize_w", "codeformer_weight")


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_single_file):
    data_dir = tmp_path_factory.mktemp("api-contract")
    running = start_api_server(data_dir, tiny_single_file.parents[1], "--api-auth", f"{USER}:{PASSWORD}")
    running.session = requests.Session()
    running.session.auth = (USER, PASSWORD)
    yield running
    running.stop()


def post(server, path: str, body, timeout: float = 120) -> requests.Response:
    return server.session.post(server.url + "/sdapi/v1" + path, json=body, timeout=timeout)


def post_raw(server, path: str, body: dict, field: str, literal: str) -> requests.Response:
    """`body` with `field` set to a bare JSON literal (NaN is not JSON: json.dumps won't write it)."""
    text = json.dumps({**body, field: "__LITERAL__"}).replace('"__LITERAL__"', literal)
    headers = {"content-type": "application/json"}
    return server.session.post(server.url + "/sdapi/v1" + path, data=text.encode(), headers=headers, timeout=60)


def get(server, path: str) -> requests.Response:
    return server.session.get(server.url + "/sdapi/v1" + path, timeout=60)


def png_b64(image: Image.Image, text: str | None = None) -> str:
    info = PngImagePlugin.PngInfo()
    if text is not None:
        info.add_text("parameters", text)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return base64.b64encode(buffer.getvalue()).decode()


def assert_refused_naming(response: requests.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    locations = [error["loc"] for error in response.json()["detail"]]
    assert any(field in map(str, loc) for loc in locations), locations


@pytest.mark.parametrize("literal", NONFINITE)
@pytest.mark.parametrize("field", TXT2IMG_NUMBERS)
def test_nonfinite_number_in_each_txt2img_field_is_422(server, field, literal):
    assert_refused_naming(post_raw(server, "/txt2img", SMALL, field, literal), field)


@pytest.mark.parametrize("literal", NONFINITE)
@pytest.mark.parametrize("key", OPTION_NUMBERS)
def test_nonfinite_number_in_each_numeric_option_is_422_and_changes_nothing(server, key, literal):
    before = get(server, "/options").json()[key]
    assert_refused_naming(post_raw(server, "/options", {}, key, literal), key)
    assert get(server, "/options").json()[key] == before


@pytest.mark.parametrize("literal", NONFINITE)
def test_nonfinite_numbers_in_extras_png_info_and_free_form_fields_are_422(server, literal):
    image = png_b64(Image.new("RGB", (8, 8)))
    for field in EXTRAS_NUMBERS:
        assert_refused_naming(post_raw(server, "/extra-single-image", {"image": image}, field, literal), field)
    assert_refused_naming(post_raw(server, "/png-info", {"image": image}, "width", literal), "width")
    # Inside fields typed "anything" (A1111 passes them on to settings and scripts).
    nested = json.dumps({**SMALL, "override_settings": {"CLIP_stop_at_last_layers": "__X__"}})
    response = server.session.post(
        server.url + "/sdapi/v1/txt2img",
        data=nested.replace('"__X__"', literal),
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert_refused_naming(response, "CLIP_stop_at_last_layers")
    assert get(server, "/samplers").status_code == 200  # still serving


def test_explicit_nulls_mean_the_a1111_defaults():
    nulls = Txt2ImgBody.model_validate({name: None for name in Txt2ImgBody.model_fields})
    # script_args is free-form (A1111: a list, or null for none): its null stays null.
    assert nulls.model_dump(exclude={"script_args"}) == Txt2ImgBody().model_dump(exclude={"script_args"})
    defaults = (nulls.steps, nulls.cfg_scale, nulls.width, nulls.height, nulls.sampler_index)
    assert defaults == (50, 7.0, 512, 512, "Euler")
    assert nulls.to_request().sampler_name == "Euler"


def test_nulls_and_a1111_coercions_over_http(server):
    body = {name: None for name in Txt2ImgBody.model_fields}
    body.update({"steps": "2", "width": 64.0, "height": "64", "seed": "7", "prompt": 5, "cfg_scale": "6.5"})
    response = post(server, "/txt2img", body)
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    assert (info["seed"], info["steps"], info["width"], info["prompt"], info["cfg_scale"]) == (7, 2, 64, "5", 6.5)
    nulls = post(server, "/png-info", {"image": None})
    assert nulls.status_code == 422 and "image" in nulls.text


def test_options_with_a_trailing_slash_and_nulls(server):
    response = post(server, "/options/", {"CLIP_stop_at_last_layers": 3, "eta_noise_seed_delta": None})
    assert response.status_code == 200, response.text
    assert get(server, "/options").json()["CLIP_stop_at_last_layers"] == 3
    assert post(server, "/options", {"CLIP_stop_at_last_layers": 1}).status_code == 200


def test_unknown_or_bad_override_and_checkpoint_values_are_422(server):
    for overrides in (
        {"sd_model_checkpoint": "no-such-model"},
        {"sd_model_checkpoint": 5},
        {"CLIP_stop_at_last_layers": "lots"},
        {"CLIP_stop_at_last_layers": 99},
    ):
        response = post(server, "/txt2img", {**SMALL, "override_settings": overrides})
        assert response.status_code == 422, (overrides, response.text)
        assert isinstance(response.json()["detail"], str | list)
    refused = post(server, "/options", {"sd_model_checkpoint": "no-such-model", "CLIP_stop_at_last_layers": 4})
    assert refused.status_code == 422 and "no-such-model" in refused.text
    assert get(server, "/options").json()["CLIP_stop_at_last_layers"] == 1  # nothing changed


def test_force_task_id_is_the_job_id_and_a_duplicate_is_422(server):
    first = post(server, "/txt2img", {**SMALL, "force_task_id": "client-task-1"})
    assert first.status_code == 200, first.text
    again = post(server, "/txt2img", {**SMALL, "force_task_id": "client-task-1"})
    assert again.status_code == 422 and "client-task-1" in again.text


def test_clip_skip_beyond_the_model_layers_is_not_a_500(server):
    # The tiny model's text encoder has 2 layers; clip skip 5 is a valid setting value.
    response = post(server, "/txt2img", {**SMALL, "override_settings": {"CLIP_stop_at_last_layers": 5}})
    assert response.status_code == 200, response.text


def test_info_json_carries_every_key_a1111_writes(server):
    body = {**SMALL, "override_settings": {"CLIP_stop_at_last_layers": 2}, "batch_size": 2}
    response = post(server, "/txt2img", body)
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    a1111_keys = {
        "prompt", "all_prompts", "negative_prompt", "all_negative_prompts", "seed", "all_seeds", "subseed",
        "all_subseeds", "subseed_strength", "width", "height", "sampler_name", "cfg_scale", "steps", "batch_size",
        "restore_faces", "face_restoration_model", "sd_model_name", "sd_model_hash", "sd_vae_name", "sd_vae_hash",
        "seed_resize_from_w", "seed_resize_from_h", "denoising_strength", "extra_generation_params",
        "index_of_first_image", "infotexts", "styles", "job_timestamp", "clip_skip",
        "is_using_inpainting_conditioning", "version",
    }  # fmt: skip
    assert a1111_keys <= set(info), a1111_keys - set(info)
    assert re.fullmatch(r"\d{14}", info["job_timestamp"])
    assert info["clip_skip"] == 2 and info["styles"] == [] and info["all_seeds"] == [3, 4]
    assert isinstance(info["extra_generation_params"], dict) and "Steps" not in info["extra_generation_params"]


def test_png_info_answers_a1111_keys_and_paste_defaults(server):
    made = post(server, "/txt2img", {**SMALL, "prompt": "a (red:1.2) cube", "negative_prompt": "blue"})
    image_b64 = made.json()["images"][0]
    response = post(server, "/png-info", {"image": image_b64})
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["info"].startswith("a (red:1.2) cube\nNegative prompt: blue\n")
    params = data["parameters"]
    assert params["Prompt"] == "a (red:1.2) cube" and params["Negative prompt"] == "blue"
    assert (params["Steps"], params["Seed"], params["Size-1"], params["Size-2"]) == ("2", "3", "64", "64")
    assert "Size" not in params and "prompt" not in params and "steps" not in params
    assert params["Clip skip"] == "1" and params["Hires resize-1"] == 0 and params["RNG"] == "GPU"
    assert params["Hires sampler"] == "Use same sampler" and params["Schedule max sigma"] == 0
    assert params["Emphasis"] == "Original" and params["Refiner switch by sampling steps"] is False

    plain = post(server, "/png-info", {"image": png_b64(Image.new("RGB", (8, 8)))}).json()
    assert plain["info"] == "" and plain["parameters"]["Prompt"] == "" and plain["parameters"]["Clip skip"] == "1"
    assert "Emphasis" not in plain["parameters"]


def test_lists_and_flags_in_a1111_shapes(server):
    flags = get(server, "/cmd-flags").json()
    assert flags["api"] is True and flags["nowebui"] is True
    assert flags["api_auth"] not in (None, f"{USER}:{PASSWORD}") and PASSWORD not in json.dumps(flags)
    memory = get(server, "/memory").json()
    assert memory["ram"]["total"] > memory["ram"]["used"] > 0 and memory["ram"]["free"] > 0
    assert "error" in memory["cuda"] or "system" in memory["cuda"]
    upscalers = get(server, "/upscalers").json()
    assert [u["name"] for u in upscalers][:3] == ["None", "Lanczos", "Nearest"]
    assert set(upscalers[0]) == {"name", "model_name", "model_path", "model_url", "scale"}
    modes = [m["name"] for m in get(server, "/latent-upscale-modes").json()]
    assert "Latent" in modes and "Latent (nearest-exact)" in modes
    for path in ("/sd-vae", "/hypernetworks", "/face-restorers", "/realesrgan-models"):
        response = get(server, path)
        assert response.status_code == 200 and response.json() == [], path


def test_broken_default_checkpoint_is_503_with_the_reason(tmp_path):
    folder = tmp_path / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    (folder / "broken.safetensors").write_bytes(b"this is not a safetensors file" * 10)
    running = start_api_server(tmp_path)
    try:
        for response in (
            requests.get(running.url + "/sdapi/v1/embeddings", timeout=60),
            requests.post(running.url + "/sdapi/v1/txt2img", json=SMALL, timeout=60),
        ):
            assert response.status_code == 503, response.text
            assert "broken" in response.json()["detail"]
    finally:
        running.stop()
