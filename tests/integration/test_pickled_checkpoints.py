"""Pickled checkpoints (.ckpt / .pt): listed beside .safetensors, loaded with an unpickler that
runs nothing, generating the same pixels as the .safetensors twin; a pickle that would run code
(legacy and zip formats) is refused naming the file, and what it asked for never happens."""

import pickle

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from modules.models.loading import EMBEDDED_CONFIG_KEY, CheckpointLoadError
from modules.processing.request import Txt2ImgRequest
from tests.conftest import make_engine
from tests.fixtures.hostile_pickle import TouchOnUnpickle


@pytest.fixture(scope="module")
def engine(tmp_path_factory, tiny_single_file):
    data_dir = tmp_path_factory.mktemp("pickled")
    folder = data_dir / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    with safe_open(str(tiny_single_file), framework="pt") as handle:
        config = handle.metadata()[EMBEDDED_CONFIG_KEY]
    state = load_file(str(tiny_single_file))
    (folder / "tiny.safetensors").write_bytes(tiny_single_file.read_bytes())
    torch.save({"state_dict": state, EMBEDDED_CONFIG_KEY: config}, folder / "tiny.ckpt")
    marker = data_dir / "pwned"
    (folder / "legacy-evil.ckpt").write_bytes(pickle.dumps({"state_dict": TouchOnUnpickle(marker)}))
    torch.save({"state_dict": TouchOnUnpickle(marker)}, folder / "zip-evil.pt")
    built = make_engine(data_dir)
    built.marker = marker
    yield built
    built.queue.shutdown()


def picture(engine, checkpoint: str) -> np.ndarray:
    request = Txt2ImgRequest(prompt="a cat", steps=2, width=64, height=64, seed=9, checkpoint=checkpoint,
                             save_images=False)  # fmt: skip
    return np.asarray(engine.submit_txt2img(request).outcome().images[0].image)


def test_the_payload_really_runs_when_unpickled_plainly(tmp_path):
    control = tmp_path / "ran"
    pickle.loads(pickle.dumps(TouchOnUnpickle(control)))  # noqa: S301 - the point: plain pickle runs it
    assert control.exists()  # so the refusal below is what keeps the marker away


def test_pickled_checkpoints_are_listed(engine):
    names = {info.name for info in engine.models.checkpoints()}
    assert {"tiny.ckpt", "tiny.safetensors", "legacy-evil.ckpt", "zip-evil.pt"} <= names


def test_a_ckpt_generates_what_its_safetensors_twin_does(engine):
    assert np.array_equal(picture(engine, "tiny.ckpt"), picture(engine, "tiny.safetensors"))


@pytest.mark.parametrize("name", ["legacy-evil.ckpt", "zip-evil.pt"])
def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(engine, name):
    engine.models.get("tiny.safetensors")
    with pytest.raises(CheckpointLoadError, match=rf"{name}: refused: its pickle asks to run code"):
        engine.submit_model_switch(name).outcome()
    assert not engine.marker.exists()
    assert engine.models.loaded.info.name == "tiny.safetensors"  # the model before stays loaded
