"""The Checkpoint Merger through the engine: two tiny SD 1.x checkpoints (seeds 0 and 1) merged in
the job queue; the merged file is listed at once, with its hash, loads and generates; an M=0 merge
generates A's pixels exactly, a real merge neither A's nor B's."""

import numpy as np
import pytest

from modules.models.merging import MergeRecipe, submit_merge
from modules.processing.request import Txt2ImgRequest
from tests.conftest import make_engine
from tests.fixtures.tiny_model import save_single_file


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("merger")
    folder = data_dir / "models" / "Stable-diffusion"
    save_single_file(folder / "a.safetensors", seed=0)
    save_single_file(folder / "b.safetensors", seed=1)
    built = make_engine(data_dir)
    yield built
    built.queue.shutdown()


def picture(engine, checkpoint: str) -> np.ndarray:
    request = Txt2ImgRequest(prompt="a cat", steps=2, width=64, height=64, seed=5, checkpoint=checkpoint,
                             save_images=False)  # fmt: skip
    return np.asarray(engine.submit_txt2img(request).outcome().images[0].image).astype(int)


def test_a_merge_at_m_zero_is_listed_and_generates_a_pixels(engine):
    job = submit_merge(engine, MergeRecipe("a.safetensors", "b.safetensors", multiplier=0.0, custom_name="zero"))
    result = job.outcome()
    assert result.path == engine.paths.checkpoint_dirs[0] / "zero.safetensors"
    listed = {info.name: info for info in engine.models.checkpoints()}
    assert "zero.safetensors" in listed
    assert engine.models.cached_short_hash(listed["zero.safetensors"])  # hashed: the title shows it at once
    assert np.array_equal(picture(engine, "zero.safetensors"), picture(engine, "a.safetensors"))


def test_a_weighted_sum_loads_and_generates_something_between(engine):
    result = submit_merge(engine, MergeRecipe("a", "b", multiplier=0.5, save_as_half=True)).outcome()
    assert result.name == "0.5(a) + 0.5(b).safetensors"
    merged = picture(engine, result.name)
    assert engine.models.loaded.info.name == result.name
    a, b = picture(engine, "a"), picture(engine, "b")
    assert merged.shape == (64, 64, 3)
    assert not np.array_equal(merged, a) and not np.array_equal(merged, b)


def test_unknown_names_are_refused_before_anything_is_queued(engine):
    waiting = engine.queue.waiting
    with pytest.raises(LookupError, match="not found among the listed checkpoints"):
        submit_merge(engine, MergeRecipe("a", "../b.safetensors"))
    assert engine.queue.waiting == waiting
