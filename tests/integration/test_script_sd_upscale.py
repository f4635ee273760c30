"""SD upscale (A1111 v1.10's built-in script) through the engine on the tiny model, over HTTP with
A1111's positional script_args, and on the bundled demo model where seams must be judged."""

import base64
import io
import json
import math

import numpy as np
import pytest
import requests
from PIL import Image

from modules.images.infotext import parse_infotext
from modules.processing.request import Img2ImgRequest
from scripts._tiles import layout_tiles
from tests.server import start_api_server


def gradient(width: int = 96, height: int = 64) -> Image.Image:
    """A smooth picture: any seam the tiles leave shows against it."""
    y, x = np.mgrid[0:height, 0:width]
    return Image.fromarray(np.stack([60 + x, 80 + y, 200 - x // 2], -1).astype(np.uint8))


def submit(engine, script_args, **fields):
    fields = {"init_images": [gradient()], "width": 64, "height": 64, "steps": 2, "seed": 3, "save_images": False,
              "denoising_strength": 0.5, **fields}  # fmt: skip
    return engine.submit_img2img(Img2ImgRequest(script_name="SD upscale", script_args=script_args, **fields))


def run(engine, script_args, **fields):
    job = submit(engine, script_args, **fields)
    job.wait()
    return job, job.outcome()


def counting_unet_calls(engine):
    unet = engine.models.get().unet
    calls = []
    return calls, unet.register_forward_hook(lambda *args: calls.append(1))


@pytest.mark.parametrize(("batch_size", "batches"), [(1, 12), (5, 3)])
def test_upscales_by_the_factor_in_tiles_of_the_request_size(engine, batch_size, batches):
    columns, rows = math.ceil((192 - 16) / (64 - 16)), math.ceil((128 - 16) / (64 - 16))
    assert columns * rows == 12 == layout_tiles(192, 128, 64, 64, 16).count
    calls, handle = counting_unet_calls(engine)
    try:
        job, result = run(engine, [None, 16, "Lanczos", 2.0], batch_size=batch_size)
    finally:
        handle.remove()
    assert [item.image.size for item in result.images] == [(192, 128)]  # one picture, 96x64 x 2
    assert job.parts == batches == math.ceil(12 / batch_size)  # progress counts the tile batches
    assert len(calls) == batches * 2  # each batch: int(0.5 * 2) + 1 = 2 steps, one UNet call each
    params = parse_infotext(result.images[0].infotext)
    assert params["SD upscale overlap"] == 16 and params["SD upscale upscaler"] == "Lanczos"
    assert (params["Size-1"], params["Size-2"], params["Seed"]) == (64, 64, 3)  # A1111: the first tile's


def test_each_upscale_of_the_batch_count_starts_at_the_next_seed(engine):
    _, result = run(engine, {"overlap": 0, "upscaler_index": 2, "scale_factor": 1.0}, n_iter=2)
    assert [item.image.size for item in result.images] == [(96, 64)] * 2  # 2 tiles each
    assert [parse_infotext(item.infotext)["Seed"] for item in result.images] == [3, 4]
    assert parse_infotext(result.images[0].infotext)["SD upscale upscaler"] == "Nearest"
    assert not np.array_equal(np.asarray(result.images[0].image), np.asarray(result.images[1].image))


def saved_files(engine, folder: str) -> set:
    root = engine.paths.outputs_dir / folder
    return set(root.rglob("*.png")) if root.exists() else set()


def test_only_the_finished_picture_is_saved_not_the_tiles(engine):
    before = saved_files(engine, "img2img-images")
    _, result = run(engine, [None, 0, "Nearest", 1.0], save_images=True)  # 2 tiles
    new = saved_files(engine, "img2img-images") - before
    assert len(new) == 1 and result.images[0].path in new
    saved = Image.open(result.images[0].path)
    assert saved.size == (96, 64)
    assert "SD upscale upscaler: Nearest" in saved.info["parameters"]


def test_the_upscaler_none_keeps_the_size_as_a1111(engine):
    _, result = run(engine, [None, 0, "None", 3.0])
    assert result.images[0].image.size == (96, 64)  # two 64x64 tiles, redrawn, no upscale


@pytest.mark.parametrize(
    ("script_args", "message"),
    [
        ([None, 56, "Lanczos", 4.0], "limit of 256"),  # 41 x 25 tiles of 64x64 for 384x256
        ([None, 64, "Lanczos", 2.0], "overlap"),  # overlap as large as the tile
        ([None, 16, "ESRGAN_4x", 2.0], "unknown upscaler"),
    ],
)
def test_bad_arguments_fail_before_any_tile_is_made(engine, script_args, message):
    calls, handle = counting_unet_calls(engine)
    try:
        job = submit(engine, script_args)
        job.wait()
        with pytest.raises(ValueError, match=message):
            job.outcome()
    finally:
        handle.remove()
    assert calls == []


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_single_file):
    running = start_api_server(tmp_path_factory.mktemp("api-sd-upscale"), tiny_single_file.parents[1])
    yield running
    running.stop()


def test_over_http_with_a1111s_positional_script_args(server):
    buffer = io.BytesIO()
    gradient().save(buffer, format="PNG")
    body = {"init_images": [base64.b64encode(buffer.getvalue()).decode()], "width": 64, "height": 64, "steps": 2,
            "seed": 5, "denoising_strength": 0.4, "script_name": "sd upscale",
            "script_args": ["", 16, "Lanczos", 2.0]}  # fmt: skip
    answer = requests.post(server.url + "/sdapi/v1/img2img", json=body, timeout=300)
    assert answer.status_code == 200, answer.text
    images = answer.json()["images"]
    assert len(images) == 1
    assert Image.open(io.BytesIO(base64.b64decode(images[0]))).size == (192, 128)
    info = json.loads(answer.json()["info"])
    assert "SD upscale overlap: 16" in info["infotexts"][0]
    bad = requests.post(server.url + "/sdapi/v1/img2img", json={**body, "script_args": ["", 16, "Lanczos", 9]},
                        timeout=300)  # fmt: skip
    assert bad.status_code == 422 and "scale_factor" in bad.text


@pytest.fixture(scope="module")
def demo_engine(tmp_path_factory):
    from modules.config.flags import parse_flags
    from modules.engine import Engine

    built = Engine.from_flags(parse_flags(["--data-dir", str(tmp_path_factory.mktemp("demo-sd-upscale"))]))
    yield built
    built.queue.shutdown()


def seam_jump(picture: Image.Image, overlap: int) -> int:
    """The largest difference between neighbouring pixels where tiles meet (each overlap band and
    the pixel after it, along x and y)."""
    levels = np.asarray(picture).astype(int)
    layout = layout_tiles(picture.width, picture.height, 64, 64, overlap)
    along_x = np.abs(np.diff(levels, axis=1)).max(axis=2)  # [:, c - 1]: column c against column c - 1
    along_y = np.abs(np.diff(levels, axis=0)).max(axis=2)
    columns = [c - 1 for x in layout.xs[1:] for c in range(x, x + overlap + 1)]
    rows = [r - 1 for y in layout.ys[1:] for r in range(y, y + overlap + 1)]
    return int(max(along_x[:, columns].max(), along_y[rows, :].max()))


def test_no_visible_seam_on_a_smooth_picture(demo_engine):
    """Measured on this picture (4 steps, strength 0.2): 7 with a 16-pixel overlap, 87 without one.
    The bound keeps a margin over the first and is far below the second."""
    fields = {"prompt": "a smooth gradient", "steps": 4, "denoising_strength": 0.2}
    _, blended = run(demo_engine, [None, 16, "Lanczos", 2.0], **fields)
    assert blended.images[0].image.size == (192, 128)
    assert seam_jump(blended.images[0].image, 16) <= 20
    _, hard = run(demo_engine, [None, 0, "Lanczos", 2.0], **fields)
    assert seam_jump(hard.images[0].image, 0) > 40  # the same tiles without blending: a visible seam
