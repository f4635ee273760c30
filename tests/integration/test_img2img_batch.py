"""img2img's Batch: a folder of pictures (and masks) through one request, results to a folder."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from modules.images.infotext import parse_infotext
from modules.images.masks import blur_mask
from modules.images.saving import png_bytes, read_generation_text
from modules.processing.img2img_batch import BatchSpec
from modules.processing.request import GenerationRequest
from tests.conftest import make_engine


def picture(seed: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8))


def run_batch(engine, spec: BatchSpec, **fields):
    fields = {"width": 64, "height": 64, "steps": 3, "seed": 5, "denoising_strength": 0.6, "mask_blur": 0, **fields}
    template = GenerationRequest(**fields)
    job = engine.submit_img2img_batch(template, spec)
    job.wait()
    return job.outcome()


def test_each_picture_with_its_mask_gives_a_result_and_an_unreadable_one_is_reported(engine, tmp_path):
    source, masks, out = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    source.mkdir()
    masks.mkdir()
    for number in range(3):
        picture(number).save(source / f"pic{number}.png")
        mask = Image.new("L", (64, 64))
        ImageDraw.Draw(mask).rectangle((16, 16, 40, 40), fill=255)
        mask.save(masks / f"pic{number}.png")
    (source / "broken.png").write_bytes(b"not a picture at all")
    result = run_batch(engine, BatchSpec(str(source), str(out), str(masks)))
    assert len(result.images) == 3
    assert sorted(path.name for path in out.iterdir()) == ["pic0.png", "pic1.png", "pic2.png"]
    assert any("broken.png" in warning for warning in result.warnings)
    outside = np.asarray(blur_mask(Image.open(masks / "pic1.png"), 0, 0)) == 0
    with Image.open(out / "pic1.png") as written:
        assert parse_infotext(read_generation_text(written))["Denoising strength"] == 0.6
        assert (np.asarray(written.convert("RGB"))[outside] == np.asarray(picture(1))[outside]).all()


def test_png_info_sets_each_pictures_own_parameters(engine, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    stored = "a blue cube\nNegative prompt: fog\nSteps: 2, Sampler: Euler, CFG scale: 5, Seed: 77, Size: 64x64"
    (source / "with-info.png").write_bytes(png_bytes(picture(4), stored))
    picture(5).save(source / "plain.png")
    result = run_batch(engine, BatchSpec(str(source), use_png_info=True), prompt="style")
    by_seed = {item.seed: parse_infotext(item.infotext) for item in result.images}
    assert set(by_seed) == {77, 5}
    assert by_seed[77]["Prompt"] == "style a blue cube" and by_seed[77]["Steps"] == 2
    assert by_seed[77]["Sampler"] == "Euler" and by_seed[77]["CFG scale"] == 5
    assert by_seed[5]["Prompt"] == "style" and by_seed[5]["Steps"] == 3
    assert all(item.path.parent.parent.name == "img2img-images" for item in result.images)  # no output folder


def test_bad_folders_are_refused_before_anything_is_queued(engine, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        run_batch(engine, BatchSpec(str(tmp_path / "missing")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no pictures"):
        run_batch(engine, BatchSpec(str(tmp_path / "empty")))
    with pytest.raises(ValueError, match="sampler"):
        picture(1).save(tmp_path / "empty" / "one.png")
        run_batch(engine, BatchSpec(str(tmp_path / "empty")), sampler_name="No such sampler")


def test_batch_folders_are_off_when_listening_beyond_this_machine(tmp_path, tiny_single_file):
    listening = make_engine(tmp_path, "--listen", "--models-dir", str(tiny_single_file.parents[1]))
    try:
        (tmp_path / "in").mkdir()
        with pytest.raises(ValueError, match="listens beyond this machine"):
            listening.submit_img2img_batch(GenerationRequest(), BatchSpec(str(tmp_path / "in")))
    finally:
        listening.queue.shutdown()


def test_resize_by_scales_each_picture_by_its_own_size(engine, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    Image.new("RGB", (96, 64), "red").save(source / "wide.png")
    Image.new("RGB", (64, 104), "blue").save(source / "tall.png")
    result = run_batch(engine, BatchSpec(str(source), scale_by=1.5), denoising_strength=0.0)
    # sorted by name: tall, wide; A1111 rounds each side down to a multiple of 8
    assert [item.image.size for item in result.images] == [(96, 152), (144, 96)]
    with pytest.raises(ValueError, match="scale"):
        run_batch(engine, BatchSpec(str(source), scale_by=9.0))
