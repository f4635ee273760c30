"""Size limits over real HTTP: decompression bombs refused before decoding (memory stays put),
hires targets and batches within the size limits, and a full disk answered 507 with the images."""

import base64
import json
import struct
import zlib
from pathlib import Path

import pytest
import requests

from tests.fixtures.filesystems import fill, small_tmpfs
from tests.server import start_api_server

SMALL = {"steps": 2, "width": 64, "height": 64, "seed": 3}


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_single_file):
    data_dir = tmp_path_factory.mktemp("api-limits")
    running = start_api_server(data_dir, tiny_single_file.parents[1])
    yield running
    running.stop()


def post(server, path: str, body: dict) -> requests.Response:
    return requests.post(server.url + "/sdapi/v1" + path, json=body, timeout=120)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bilevel_png(width: int, height: int, with_pixels: bool = True) -> bytes:
    """A valid 1-bit black PNG: 12000x12000 compresses to ~18 KB but decodes to 144 MB.
    Without pixels, only the header (enough for a decoder to learn the size)."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    rows = b"\0" * ((width + 7) // 8 + 1) * height if with_pixels else b""
    pixels = _chunk(b"IDAT", zlib.compress(rows, 9)) if with_pixels else b""
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + pixels + _chunk(b"IEND", b"")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def peak_rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))


def test_decompression_bombs_are_413_before_decoding_and_memory_stays_bounded(server):
    bomb = bilevel_png(12000, 12000)
    assert len(bomb) < 40_000
    small = b64(bilevel_png(64, 64))
    for path, body in (("/png-info", {"image": small}), ("/extra-single-image", {"image": small})):
        assert post(server, path, body).status_code == 200  # warm both routes up first
    before = peak_rss_kib(server.process.pid)
    for path in ("/png-info", "/extra-single-image"):
        for image in (bomb, bilevel_png(30000, 30000, with_pixels=False)):
            response = post(server, path, {"image": b64(image)})
            assert response.status_code == 413, response.text
            detail = response.json()["detail"]
            assert "16777216" in detail or "limit" in detail, detail
    grown_mib = (peak_rss_kib(server.process.pid) - before) / 1024
    assert grown_mib < 64, f"peak memory grew by {grown_mib:.0f} MiB: the bomb was decoded"
    assert requests.get(server.url + "/sdapi/v1/samplers", timeout=10).status_code == 200


def test_the_pixel_cap_is_the_image_max_pixels_setting(server):
    image = b64(bilevel_png(100, 100))
    try:
        assert post(server, "/options", {"image_max_pixels": 4096}).status_code == 200
        refused = post(server, "/png-info", {"image": image})
        assert refused.status_code == 413 and "4096" in refused.json()["detail"]
    finally:
        assert post(server, "/options", {"image_max_pixels": 16_777_216}).status_code == 200
    assert post(server, "/png-info", {"image": image}).status_code == 200


def test_not_an_image_is_422(server):
    for image in ("not base64 at all!", b64(b"GIF89a but not really"), ""):
        response = post(server, "/png-info", {"image": image})
        assert response.status_code == 422 and "image" in response.json()["detail"], response.text


def test_hires_targets_and_batches_beyond_the_size_limits_are_422(server):
    for fields, named in (
        ({"hr_resize_x": 8192, "hr_resize_y": 8192}, "hr_resize_x"),
        ({"width": 2048, "height": 2048, "hr_scale": 8}, "hr_scale"),
        ({"width": 512, "height": 2048, "hr_resize_x": 2048}, "hr_resize"),  # y follows the aspect: 8192
        ({"width": 2048, "height": 1024, "hr_scale": 1.5}, "hr_scale"),
    ):
        response = post(server, "/txt2img", {**SMALL, "enable_hr": True, **fields})
        assert response.status_code == 422, (fields, response.text)
        assert named in response.text and "2048" in response.text
    batch = post(server, "/txt2img", {**SMALL, "batch_size": 8, "width": 2048, "height": 2048})
    assert batch.status_code == 422 and "batch_size" in batch.text
    for field in ("seed_resize_from_w", "seed_resize_from_h"):
        response = post(server, "/txt2img", {**SMALL, field: 8192})
        assert response.status_code == 422 and field in response.text
    # Within the limits, the hires fix still runs.
    within = post(server, "/txt2img", {**SMALL, "enable_hr": True, "hr_scale": 2, "hr_second_pass_steps": 1})
    assert within.status_code == 200, within.text
    assert "Hires upscale: 2" in json.loads(within.json()["info"])["infotexts"][0]


def test_full_disk_is_507_with_the_reason_and_the_images(server):
    outputs = server.data_dir / "outputs" / "txt2img-images"
    with small_tmpfs(outputs, size_kib=64):
        fill(outputs)
        response = post(server, "/txt2img", {**SMALL, "save_images": True, "batch_size": 2})
    assert response.status_code == 507, response.text
    data = response.json()
    assert "No space left" in data["detail"] or "space" in data["detail"].lower(), data["detail"]
    assert len(data["images"]) == 2 and json.loads(data["info"])["all_seeds"] == [3, 4]
