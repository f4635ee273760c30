"""Outpainting mk2 and Poor man's outpainting (A1111 v1.10's built-in scripts) through the engine
on the tiny model: the canvas grows on the chosen sides, the original pixels outside the blurred
mask band come back exactly, the new area is painted, and bad arguments fail before any work."""

import numpy as np
import pytest
from PIL import Image

from modules.images.infotext import parse_infotext
from modules.images.masks import blur_kernel_size
from modules.processing.request import Img2ImgRequest


def noise_picture(width: int, height: int, seed: int = 0) -> Image.Image:
    """Every pixel differs from its neighbours: any change to the original shows."""
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def submit(engine, script_name, script_args, init, **fields):
    fields = {"init_images": [init], "width": 64, "height": 64, "steps": 2, "seed": 3, "save_images": False,
              "denoising_strength": 0.8, **fields}  # fmt: skip
    return engine.submit_img2img(Img2ImgRequest(script_name=script_name, script_args=script_args, **fields))


def run(engine, script_name, script_args, init, **fields):
    job = submit(engine, script_name, script_args, init, **fields)
    job.wait()
    return job, job.outcome()


def band(shrink: int, blur: int) -> int:
    """How far into the original the painted band can reach from a grown edge: the mask's shrink,
    then the blur's kernel radius (the composite keeps the original where the blurred mask is 0)."""
    return shrink + blur_kernel_size(blur) // 2


def test_outpainting_mk2_grows_left_and_up_and_keeps_the_original(engine):
    init = noise_picture(96, 96)
    job, result = run(engine, "Outpainting mk2", [None, 32, 2, ["left", "up"], 1.0, 0.05], init)
    assert [item.image.size for item in result.images] == [(128, 128)]  # 32 on the left, 32 on top
    assert job.parts == 2  # one pass per direction
    out = np.asarray(result.images[0].image).astype(int)
    original = np.asarray(init).astype(int)
    reach = band(2, 2 * 4)  # mask shrunk by the blur, blurred by 4 x the blur
    assert reach < 32
    assert np.array_equal(out[32 + reach :, 32 + reach :], original[reach:, reach:])
    strip = out[:32, :]  # the new area: painted, not left black
    assert strip.mean() > 20 and strip.std() > 5
    params = parse_infotext(result.images[0].infotext)
    assert params["Outpainting direction"] == "left, up" and params["Outpainting pixels"] == 32
    assert params["Mask blur"] == 8 and params["Masked content"] == "original"


def test_outpainting_mk2_grows_to_a_multiple_of_64_on_one_side(engine):
    init = noise_picture(64, 64, seed=1)
    _, result = run(engine, "Outpainting mk2", {"pixels": 32, "mask_blur": 1, "direction": ["down"]}, init)
    assert result.images[0].image.size == (64, 128)  # 64 + 32 rounded up to 128: the side takes 64
    out = np.asarray(result.images[0].image).astype(int)
    reach = band(1, 4)
    assert np.array_equal(out[: 64 - reach], np.asarray(init).astype(int)[: 64 - reach])


def test_outpainting_mk2_batch_gives_a_grid_first(engine):
    init = noise_picture(64, 64, seed=2)
    images, grids = engine.paths.outputs_dir / "img2img-images", engine.paths.outputs_dir / "img2img-grids"
    before = {path for root in (images, grids) if root.exists() for path in root.rglob("*.png")}
    _, result = run(engine, "Outpainting mk2", [None, 64, 1, ["right"], 1.0, 0.05], init, batch_size=2,
                    save_images=True)  # fmt: skip
    sizes = [item.image.size for item in result.images]
    assert sizes == [(256, 64), (128, 64), (128, 64)]  # the grid (one row of two), then the pictures
    seeds = [parse_infotext(item.infotext)["Seed"] for item in result.images[1:]]
    assert seeds == [3, 4]
    saved = {path for root in (images, grids) if root.exists() for path in root.rglob("*.png")} - before
    assert saved == {item.path for item in result.images}  # the pictures and the grid, not the passes
    assert result.images[0].path.parent.parent == grids


def test_poor_mans_outpainting_grows_left_and_right_tile_by_tile(engine):
    init = noise_picture(128, 64, seed=3)
    job, result = run(engine, "Poor man's outpainting", [32, 2, "fill", ["left", "right"]], init)
    assert [item.image.size for item in result.images] == [(192, 64)]  # 128 + 2 x 32: a multiple of 64 already
    # 192 wide in 64-wide tiles overlapping by 32: x = 0, 32, 64, 96, 128; those at 32, 64 and 96 lie
    # inside the original (32..160) and are skipped
    assert job.parts == 2
    out = np.asarray(result.images[0].image).astype(int)
    reach = band(2 * 2, 2 * 2)  # mask shrunk by 2 x blur, blurred by 2 x blur
    assert np.array_equal(out[:, 32 + reach : 160 - reach], np.asarray(init).astype(int)[:, reach : 128 - reach])
    assert out[:, :32].std() > 5 and out[:, 160:].std() > 5  # both new strips painted
    params = parse_infotext(result.images[0].infotext)
    assert params["Masked content"] == "fill" and params["Mask blur"] == 4
    assert params["Outpainting direction"] == "left, right"


def test_poor_mans_outpainting_keeps_every_original_row_when_growing_sideways(engine):
    init = noise_picture(64, 40, seed=4)  # 40 high: the canvas is padded to 64, then cut back
    _, result = run(engine, "Poor man's outpainting", [16, 1, "original", ["right"]], init)
    assert result.images[0].image.size == (128, 40)  # 64 + 16 rounded up to 128: the right side takes 64
    out = np.asarray(result.images[0].image).astype(int)
    reach = band(2, 2)
    assert np.array_equal(out[:, : 64 - reach], np.asarray(init).astype(int)[:, : 64 - reach])


@pytest.mark.parametrize("script", ["Outpainting mk2", "Poor man's outpainting"])
def test_no_direction_is_refused_before_the_job_is_queued(engine, script):
    with pytest.raises(ValueError, match="direction"):
        submit(engine, script, {"direction": []}, noise_picture(64, 64))


@pytest.mark.parametrize(
    ("script", "script_args", "size", "message"),
    [
        ("Outpainting mk2", {"pixels": 256}, (1900, 64), "at most 2048"),
        ("Poor man's outpainting", {"pixels": 256}, (1900, 64), "at most 2048"),
        ("Poor man's outpainting", {"pixels": 64, "direction": ["left"]}, (64, 64), "overlap"),  # pixels >= tile
    ],
)
def test_too_large_is_refused_before_any_work(engine, script, script_args, size, message):
    unet = engine.models.get().unet
    calls = []
    handle = unet.register_forward_hook(lambda *args: calls.append(1))
    try:
        job = submit(engine, script, script_args, noise_picture(*size))
        job.wait()
        with pytest.raises(ValueError, match=message):
            job.outcome()
    finally:
        handle.remove()
    assert calls == []
