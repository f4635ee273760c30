"""Extras saves its results as A1111 does: the UI's Single image and Batch process into
outputs/extras-images (NNNNN.png, numbering on), keeping the source's generation parameters and
adding the postprocess infotext; the API's path (no save_to) writes nothing."""

import io

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from modules.images.postprocessing import EXTRAS_FOLDER, UpscaleOptions, submit_extras, submit_extras_folder
from tests.conftest import make_engine

SOURCE_PARAMETERS = "a red fox\nSteps: 2, Sampler: Euler, CFG scale: 7, Seed: 42, Size: 24x16"


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    built = make_engine(tmp_path_factory.mktemp("extras-saving"))
    yield built
    built.queue.shutdown()


def generated_picture(seed: int = 0) -> Image.Image:
    """A PNG as a generation writes it (with its "parameters" chunk), read back as an upload is."""
    pixels = np.random.default_rng(seed).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", SOURCE_PARAMETERS)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", pnginfo=info)
    return Image.open(io.BytesIO(buffer.getvalue()))


def lanczos_by_two() -> UpscaleOptions:
    return UpscaleOptions(upscaler_1="Lanczos", upscaling_resize=2)


def test_single_image_is_saved_with_its_parameters_and_the_postprocess_infotext(engine):
    folder = engine.paths.outputs_dir / EXTRAS_FOLDER
    outputs = submit_extras(engine, [("", generated_picture())], lanczos_by_two(), [], save_to=folder).outcome()
    saved = folder / "00000.png"
    assert outputs[0].saved == saved
    with Image.open(saved) as image:
        assert image.size == (48, 32)
        assert image.info["parameters"] == SOURCE_PARAMETERS
        assert image.info["postprocessing"] == "Postprocess upscale by: 2.0, Postprocess upscaler: Lanczos"
        assert image.info["extras"] == image.info["postprocessing"]
        assert np.array_equal(np.asarray(image.convert("RGB")), np.asarray(outputs[0].image.convert("RGB")))


def test_batch_results_number_on_after_the_files_there_and_keep_their_names(engine):
    folder = engine.paths.outputs_dir / EXTRAS_FOLDER
    before = {path.name for path in folder.glob("*.png")} if folder.exists() else set()
    start = max((int(name[:5]) for name in before), default=-1) + 1
    images = [("fox.png", generated_picture(1)), ("owl.jpg", generated_picture(2))]
    submit_extras(engine, images, lanczos_by_two(), [], save_to=folder).outcome()
    made = {path.name for path in folder.glob("*.png")} - before
    assert made == {f"{start:05d}-fox.png", f"{start + 1:05d}-owl.png"}


def test_without_a_folder_nothing_is_saved_as_for_the_api(engine, tmp_path):
    other = make_engine(tmp_path)
    try:
        outputs = submit_extras(other, [("", generated_picture())], lanczos_by_two(), []).outcome()
        assert outputs[0].image.size == (48, 32) and outputs[0].saved is None
        assert not (other.paths.outputs_dir / EXTRAS_FOLDER).exists()
    finally:
        other.queue.shutdown()


def test_batch_from_directory_keeps_the_source_parameters_too(engine, tmp_path):
    source_dir, target_dir = tmp_path / "in", tmp_path / "out"
    source_dir.mkdir()
    generated_picture(3).save(source_dir / "cat.png", pnginfo=_parameters_chunk())
    outputs = submit_extras_folder(engine, str(source_dir), str(target_dir), lanczos_by_two(), []).outcome()
    assert outputs[0].saved == target_dir / "cat.png"
    with Image.open(target_dir / "cat.png") as image:
        assert image.size == (48, 32)
        assert image.info["parameters"] == SOURCE_PARAMETERS
        assert "Postprocess upscaler: Lanczos" in image.info["postprocessing"]


def _parameters_chunk() -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", SOURCE_PARAMETERS)
    return info
