"""A job's "VAE type for decode" and "VAE tiling" (Settings > VAE, or override_settings per request):
TAESD decodes the final picture when its file is there (and only then), tiling never changes the size."""

import numpy as np
import pytest
import torch
from diffusers import AutoencoderTiny
from safetensors.torch import save_file

from modules.processing.request import Txt2ImgRequest
from tests.conftest import make_engine


@pytest.fixture(scope="module")
def engine(tmp_path_factory, tiny_single_file):
    models = tmp_path_factory.mktemp("decode-models")
    (models / "Stable-diffusion").mkdir()
    (models / "Stable-diffusion" / "tiny.safetensors").symlink_to(tiny_single_file)
    built = make_engine(tmp_path_factory.mktemp("decode-data"), "--models-dir", str(models))
    yield built
    built.queue.shutdown()


def picture(engine, **overrides) -> np.ndarray:
    request = Txt2ImgRequest(prompt="a cat", steps=2, width=64, height=64, seed=3, sampler_name="Euler",
                             batch_size=2, save_images=False, override_settings=overrides)  # fmt: skip
    result = engine.submit_txt2img(request).outcome()
    assert len(result.images) == 2
    return np.asarray(result.images[1].image, dtype=np.int16)


def test_taesd_decodes_the_final_picture_only_when_its_file_is_there(engine):
    full = picture(engine)
    assert np.array_equal(picture(engine, sd_vae_decode_method="TAESD"), full)  # no file: the full VAE
    torch.manual_seed(0)
    decoder = {k: v.contiguous() for k, v in AutoencoderTiny().state_dict().items() if k.startswith("decoder.")}
    folder = engine.paths.models_dir / "VAE-approx"
    folder.mkdir(exist_ok=True)
    save_file(decoder, str(folder / "taesd_decoder.safetensors"))
    try:
        fast = picture(engine, sd_vae_decode_method="TAESD")  # the second of a batch: every image is decoded
        assert fast.shape == full.shape and np.abs(fast - full).max() > 8
    finally:
        (folder / "taesd_decoder.safetensors").unlink()


def test_tiling_always_and_never_keep_the_picture_size(engine):
    never, always = picture(engine, vae_tiling="Never"), picture(engine, vae_tiling="Always")
    assert never.shape == always.shape == (64, 64, 3)
    assert np.abs(never.astype(int) - always).mean() < 8  # the tiny VAE's one-tile decode
