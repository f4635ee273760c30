"""A checkpoint shipped without a VAE: it loads, generates with the VAE file beside it (Automatic)
exactly as the full file does, and without any VAE file the job says what to do instead of drawing
with untrained weights."""

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from modules.processing.request import Txt2ImgRequest
from tests.conftest import make_engine
from tests.fixtures.tiny_families import save_tiny_family


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    models = tmp_path_factory.mktemp("no-vae-models")
    folder = models / "Stable-diffusion"
    full = save_tiny_family("sd1", folder / "full.safetensors", seed=5)
    state = load_file(full)
    with safe_open(str(full), "pt") as handle:
        metadata = handle.metadata()
    without = {key: value for key, value in state.items() if not key.startswith("first_stage_model.")}
    save_file(without, folder / "bare.safetensors", metadata=metadata)
    save_file(without, folder / "lonely.safetensors", metadata=metadata)
    vae = {key: value for key, value in state.items() if key.startswith("first_stage_model.")}
    save_file(vae, folder / "bare.vae.safetensors")
    built = make_engine(tmp_path_factory.mktemp("no-vae-data"), "--models-dir", str(models))
    yield built
    built.queue.shutdown()


def pixels(engine, checkpoint: str) -> np.ndarray:
    request = Txt2ImgRequest(prompt="a cat", steps=3, width=64, height=64, seed=4, sampler_name="Euler",
                             checkpoint=checkpoint, save_images=False)  # fmt: skip
    return np.asarray(engine.submit_txt2img(request).outcome().images[0].image)


def test_the_vae_beside_it_is_used_and_nothing_is_drawn_without_one(engine):
    assert "bare.vae.safetensors" not in [info.name for info in engine.models.checkpoints()]
    assert np.array_equal(pixels(engine, "bare.safetensors"), pixels(engine, "full.safetensors"))
    with pytest.raises(ValueError, match="lonely.safetensors holds no VAE: put a VAE file in models/VAE"):
        pixels(engine, "lonely.safetensors")
