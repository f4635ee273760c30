"""`POST /rembg` on a FastAPI app, added by the extension's app_started hook of a real engine."""

import base64
import io

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from modules.config.flags import parse_flags
from modules.engine import Engine
from tests.extensions.rembg_onnx_model import save_red_minus_blue_model
from tests.extensions.rembg_pictures import iou, pictures

PICTURE = pictures(128)[0]


def b64_png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("rembg-api")
    engine = Engine.from_flags(
        parse_flags(["--no-demo-model", "--data-dir", str(data_dir), "--models-dir", str(data_dir / "models")])
    )
    yield engine
    engine.queue.shutdown()


@pytest.fixture(scope="module")
def client(engine):
    app = FastAPI()
    engine.extensions.call("app_started", app=app, engine=engine)
    assert engine.extensions.get("rembg").status == "loaded"
    assert engine.extensions.get("rembg").errors == []
    return TestClient(app)


def test_default_method_returns_a_transparent_png(client):
    answer = client.post("/rembg", json={"input_image": b64_png(PICTURE.image)})
    assert answer.status_code == 200, answer.text
    result = decode(answer.json()["image"])
    assert result.format == "PNG" and result.mode == "RGBA" and result.size == PICTURE.image.size
    assert iou(np.asarray(result.getchannel("A")) > 127, PICTURE.mask) >= 0.93


def test_all_fields_a_data_url_and_model_none(client):
    body = {
        "input_image": "data:image/png;base64," + b64_png(PICTURE.image),
        "model": "None",
        "return_mask": True,
        "alpha_matting": True,
        "alpha_matting_foreground_threshold": 230,
        "alpha_matting_background_threshold": 20,
        "alpha_matting_erode_size": 5,
    }
    answer = client.post("/rembg", json=body)
    assert answer.status_code == 200, answer.text
    mask = decode(answer.json()["image"])
    assert mask.mode == "L" and mask.size == PICTURE.image.size
    assert iou(np.asarray(mask) > 127, PICTURE.mask) >= 0.93


def test_a_model_file_in_the_models_folder_is_used(client, engine):
    save_red_minus_blue_model(engine.paths.models_dir / "rembg" / "silueta.onnx")
    answer = client.post("/rembg", json={"input_image": b64_png(PICTURE.image), "model": "silueta"})
    assert answer.status_code == 200, answer.text
    alpha = np.asarray(decode(answer.json()["image"]).getchannel("A")) > 127
    red = np.asarray(PICTURE.image, np.int16)
    assert iou(alpha, red[..., 0] > red[..., 2] + 30) >= 0.9  # the model marks red over blue


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("not base64!!", "input_image: not valid base64"),
        (base64.b64encode(b"plain text, not a picture").decode(), "input_image: not an image"),
        ("", "input_image: not an image"),
    ],
)
def test_bad_images_are_refused_with_a_reason(client, image, reason):
    answer = client.post("/rembg", json={"input_image": image})
    assert answer.status_code == 422 and reason in answer.json()["detail"]


def test_unknown_and_missing_models_are_refused_with_a_reason(client, engine):
    answer = client.post("/rembg", json={"input_image": b64_png(PICTURE.image), "model": "no-such-model"})
    assert answer.status_code == 422 and "known: opencv, u2net" in answer.json()["detail"]

    answer = client.post("/rembg", json={"input_image": b64_png(PICTURE.image), "model": "isnet-anime"})
    assert answer.status_code == 422
    assert str(engine.paths.models_dir / "rembg" / "isnet-anime.onnx") in answer.json()["detail"]

    (engine.paths.models_dir / "rembg" / "u2netp.onnx").write_bytes(b"half a download")
    answer = client.post("/rembg", json={"input_image": b64_png(PICTURE.image), "model": "u2netp"})
    assert answer.status_code == 422 and "could not be loaded" in answer.json()["detail"]

    answer = client.post("/rembg", json={"input_image": b64_png(PICTURE.image), "alpha_matting_erode_size": -1})
    assert answer.status_code == 422  # pydantic's own validation

    answer = client.post("/rembg", json={"model": "u2net"})
    assert answer.status_code == 422  # input_image is required


def test_an_image_declaring_more_pixels_than_the_limit_is_413_before_decoding(client, engine):
    from tests.integration.test_api_limits import bilevel_png

    bomb = base64.b64encode(bilevel_png(12000, 12000)).decode("ascii")
    answer = client.post("/rembg", json={"input_image": bomb})
    assert answer.status_code == 413 and "image_max_pixels" in answer.json()["detail"]
    assert client.post("/rembg", json={"input_image": "bm90IGFuIGltYWdl"}).status_code == 422
