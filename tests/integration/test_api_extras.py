"""Extras and the upscaler lists over real HTTP, in A1111's shapes: a server started as a user
starts it, with a tiny ESRGAN model in models/ESRGAN."""

import base64
import io

import numpy as np
import pytest
import requests
from PIL import Image

from modules.upscaling import UpscalerRegistry
from tests.fixtures.tiny_upscaler import save_tiny_esrgan
from tests.server import start_api_server


def png_b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def image_of(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def picture(seed: int = 0, size: tuple[int, int] = (24, 16)) -> Image.Image:
    width, height = size
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    models = tmp_path_factory.mktemp("extras-models") / "models"
    save_tiny_esrgan(models / "ESRGAN" / "2x-Tiny.pth", scale=2)
    (models / "ESRGAN" / "broken.safetensors").write_bytes(b"\x00" * 64)
    running = start_api_server(tmp_path_factory.mktemp("extras-data"), models)
    yield running
    running.stop()


def post(server, path: str, body: dict) -> requests.Response:
    return requests.post(server.url + "/sdapi/v1" + path, json=body, timeout=120)


def test_upscalers_lists_the_model_in_a1111_shape(server):
    listed = requests.get(server.url + "/sdapi/v1/upscalers", timeout=60).json()
    assert [item["name"] for item in listed] == ["None", "Lanczos", "Nearest", "2x-Tiny"]
    model = listed[-1]
    assert model == {"name": "2x-Tiny", "model_name": "ESRGAN", "model_path": "ESRGAN/2x-Tiny.pth",
                     "model_url": None, "scale": 2}  # fmt: skip
    modes = requests.get(server.url + "/sdapi/v1/latent-upscale-modes", timeout=60).json()
    assert modes[0] == {"name": "Latent"} and {"name": "Latent (nearest-exact)"} in modes


def test_single_image_blends_upscaler_2_at_its_visibility(server):
    source = picture()
    body = {"image": png_b64(source), "upscaler_1": "2x-Tiny", "upscaler_2": "Nearest",
            "extras_upscaler_2_visibility": 0.5, "upscaling_resize": 2}  # fmt: skip
    answer = post(server, "/extra-single-image", body)
    assert answer.status_code == 200, answer.text
    result = image_of(answer.json()["image"]).convert("RGB")
    local = UpscalerRegistry(server.data_dir / "models")
    expected = Image.blend(local.upscale(source, "2x-Tiny", 2), local.upscale(source, "Nearest", 2), 0.5)
    assert result.size == (48, 32)
    assert np.abs(np.asarray(result).astype(int) - np.asarray(expected).astype(int)).max() <= 1
    assert "Postprocess upscaler: 2x-Tiny" in answer.json()["html_info"]
    assert "Postprocess upscaler 2: Nearest" in answer.json()["html_info"]


def test_scale_to_with_crop_gives_the_size(server):
    body = {"image": png_b64(picture()), "upscaler_1": "2x-Tiny", "resize_mode": 1, "upscaling_resize_w": 40,
            "upscaling_resize_h": 40, "upscaling_crop": True}  # fmt: skip
    assert image_of(post(server, "/extra-single-image", body).json()["image"]).size == (40, 40)
    body["upscaling_crop"] = False
    assert image_of(post(server, "/extra-single-image", body).json()["image"]).size == (60, 40)


def test_batch_images_upscales_each(server):
    images = [{"data": png_b64(picture(1)), "name": "a.png"}, {"data": png_b64(picture(2, (10, 12))), "name": "b"}]
    answer = post(server, "/extra-batch-images", {"imageList": images, "upscaler_1": "Lanczos", "upscaling_resize": 3})
    assert answer.status_code == 200, answer.text
    sizes = [image_of(data).size for data in answer.json()["images"]]
    assert sizes == [(72, 48), (30, 36)]


def test_unknown_and_skipped_upscalers_are_422_naming_them(server):
    answer = post(server, "/extra-single-image", {"image": png_b64(picture()), "upscaler_1": "4x-Nothing"})
    assert answer.status_code == 422 and "4x-Nothing" in answer.json()["detail"]
    skipped = post(server, "/extra-single-image", {"image": png_b64(picture()), "upscaler_1": "broken"})
    assert skipped.status_code == 422 and "not a readable weights file" in skipped.json()["detail"]
    too_big = post(server, "/extra-single-image", {"image": png_b64(picture()), "upscaler_1": "Lanczos",
                                                   "upscaling_resize": 9})  # fmt: skip
    assert too_big.status_code == 422 and "upscaling_resize" in too_big.text


def test_built_in_steps_make_several_pictures_from_one(server):
    images = [{"data": png_b64(picture(3, (8, 6))), "name": "a.png"}, {"data": png_b64(picture(4)), "name": "b.png"}]
    body = {"imageList": images, "upscaler_1": "Nearest", "upscaling_resize": 2,
            "steps": {"Create flipped copies": {"directions": ["Horizontal", "Vertical"]}}}  # fmt: skip
    answer = post(server, "/extra-batch-images", body)
    assert answer.status_code == 200, answer.text
    made = [np.asarray(image_of(data).convert("RGB")) for data in answer.json()["images"]]
    upscaled = np.asarray(picture(3, (8, 6)).resize((16, 12), Image.Resampling.NEAREST))
    assert len(made) == 6 and made[0].shape == (12, 16, 3)
    assert np.array_equal(made[0], upscaled)
    assert np.array_equal(made[1], upscaled[:, ::-1]) and np.array_equal(made[2], upscaled[::-1])
    assert made[3].shape == (32, 48, 3)  # the second picture and its two copies follow


def test_split_oversized_uses_the_scale_to_size(server):
    body = {"resize_mode": 1, "upscaling_resize_w": 16, "upscaling_resize_h": 16,
            "steps": {"Split oversized images": {"overlap_ratio": 0}}}  # fmt: skip
    answer = post(server, "/extra-batch-images", {**body, "imageList": [{"data": png_b64(picture(5, (16, 64)))}]})
    assert answer.status_code == 200, answer.text
    assert [image_of(data).size for data in answer.json()["images"]] == [(16, 16)] * 4
    bad = post(server, "/extra-batch-images", {**body, "imageList": [{"data": png_b64(picture())}],
                                               "steps": {"Auto-sized crop": {"min_dimension": 900}}})  # fmt: skip
    assert bad.status_code == 422 and "dimension lower bound 900" in bad.json()["detail"]
