"""A1111's "Hires checkpoint": the hires pass on another checkpoint. A byte-identical twin of the first
pass's checkpoint gives exactly the pictures of a plain hires fix (the switch itself changes nothing),
another checkpoint another picture, recorded in the infotext; a latent upscale into another latent
space is refused before anything runs."""

import shutil

import numpy as np
import pytest

from modules.images.infotext import parse_infotext
from modules.processing.request import Txt2ImgRequest
from tests.conftest import make_engine
from tests.fixtures.tiny_families import save_tiny_family
from tests.fixtures.tiny_model import save_single_file


@pytest.fixture(scope="module")
def engine(tmp_path_factory, tiny_single_file):
    models = tmp_path_factory.mktemp("hires-ckpt-models")
    folder = models / "Stable-diffusion"
    folder.mkdir()
    shutil.copy(tiny_single_file, folder / "base.safetensors")
    shutil.copy(tiny_single_file, folder / "twin.safetensors")
    save_single_file(folder / "other.safetensors", seed=1)
    save_tiny_family("sdxl", folder / "xl.safetensors", seed=2)
    built = make_engine(tmp_path_factory.mktemp("hires-ckpt-data"), "--models-dir", str(models))
    yield built
    built.queue.shutdown()


def hires(engine, **fields):
    base = {"prompt": "a cat", "steps": 3, "width": 64, "height": 64, "seed": 9, "sampler_name": "Euler",
            "checkpoint": "base.safetensors", "enable_hr": True, "hr_scale": 1.5, "hr_upscaler": "Lanczos",
            "denoising_strength": 0.6, "save_images": False, "n_iter": 2}  # fmt: skip
    result = engine.submit_txt2img(Txt2ImgRequest(**{**base, **fields})).outcome()
    return [np.asarray(image.image, dtype=np.int16) for image in result.images], result


def test_the_hires_pass_runs_on_its_own_checkpoint(engine):
    plain, _ = hires(engine)
    twin, result = hires(engine, hr_checkpoint_name="twin.safetensors")
    other, _ = hires(engine, hr_checkpoint_name="other")
    assert all(np.array_equal(a, b) for a, b in zip(plain, twin, strict=True))  # both batches
    assert np.abs(other[0] - plain[0]).max() > 8
    assert parse_infotext(result.images[0].infotext)["Hires checkpoint"].startswith("twin.safetensors")
    assert hires(engine, hr_checkpoint_name="Use same checkpoint")[0][0].tolist() == plain[0].tolist()
    pasted = engine.fields_from_infotext(result.images[0].infotext)
    assert pasted["hr_checkpoint_name"].startswith("twin.safetensors")


def test_another_latent_space_is_refused_for_a_latent_upscale_only(engine):
    with pytest.raises(ValueError, match="xl.safetensors is an SDXL model and base.safetensors an SD 1.x model"):
        hires(engine, hr_checkpoint_name="xl.safetensors", hr_upscaler="Latent")
    with pytest.raises(LookupError, match="nope"):
        hires(engine, hr_checkpoint_name="nope.safetensors")
    pictures, result = hires(engine, hr_checkpoint_name="xl.safetensors", n_iter=1)  # decoded, upscaled, re-encoded
    assert pictures[0].shape == (96, 96, 3)
