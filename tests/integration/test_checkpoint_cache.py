"""A1111's "Maximum number of checkpoints loaded at the same time" and "Checkpoints to cache in RAM":
models kept loaded or in RAM are not read again, and a model coming back makes the same pixels."""

import numpy as np
import pytest

from modules.models.loading import load_checkpoint
from modules.processing.request import Txt2ImgRequest
from tests.conftest import make_engine
from tests.fixtures.tiny_model import three_checkpoints


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory, tiny_single_file):
    return three_checkpoints(tmp_path_factory.mktemp("cache-models"), tiny_single_file)


@pytest.fixture
def engine(tmp_path, models_dir):
    """A fresh engine whose loads are counted: `engine.loads` lists the files read from disk."""
    built = make_engine(tmp_path, "--models-dir", str(models_dir))
    built.loads = []

    def counting_loader(info, sha256, policy, cache_dir):
        built.loads.append(info.name)
        return load_checkpoint(info, sha256, policy, cache_dir)

    built.models.loader = counting_loader
    yield built
    built.queue.shutdown()


def picture(engine, checkpoint: str, **fields) -> np.ndarray:
    request = Txt2ImgRequest(prompt="a cat", steps=2, width=64, height=64, seed=4, save_images=False,
                             checkpoint=checkpoint, **fields)  # fmt: skip
    return np.asarray(engine.submit_txt2img(request).outcome().images[0].image)


def switch(engine, *names: str) -> None:
    for name in names:
        engine.submit_model_switch(name).outcome()


def test_by_default_one_model_is_loaded_and_each_switch_reads_the_file(engine):
    switch(engine, "a.safetensors", "b.safetensors", "a.safetensors")
    assert engine.loads == ["a.safetensors", "b.safetensors", "a.safetensors"]
    assert [model.info.name for model in engine.models.resident] == ["a.safetensors"]


def test_with_a_limit_of_two_switching_back_and_forth_loads_each_once(engine):
    engine.settings.update({"sd_checkpoints_limit": 2})
    first = picture(engine, "a.safetensors")
    switch(engine, "b.safetensors", "a.safetensors", "b.safetensors")
    again = picture(engine, "a.safetensors")
    assert engine.loads == ["a.safetensors", "b.safetensors"]
    assert np.array_equal(first, again)
    assert engine.models.loaded.info.name == "a.safetensors"  # the one used last is the current one
    switch(engine, "c.safetensors")  # the least recently used (b) leaves
    assert [model.info.name for model in engine.models.resident] == ["a.safetensors", "c.safetensors"]
    switch(engine, "b.safetensors")
    assert engine.loads == ["a.safetensors", "b.safetensors", "c.safetensors", "b.safetensors"]


def test_a_refiner_and_its_base_both_stay_loaded_with_a_limit_of_two(engine):
    engine.settings.update({"sd_checkpoints_limit": 2})
    refined = [picture(engine, "a.safetensors", refiner_checkpoint="b.safetensors", refiner_switch_at=0.5)
               for _ in range(2)]  # fmt: skip
    assert engine.loads == ["a.safetensors", "b.safetensors"]
    assert np.array_equal(*refined)


def test_the_ram_cache_brings_a_model_back_without_reading_it_with_the_same_pixels(engine):
    engine.settings.update({"sd_checkpoint_cache": 1})
    first = picture(engine, "a.safetensors")
    switch(engine, "b.safetensors")
    assert [model.info.name for model in engine.models.resident] == ["b.safetensors"]  # one loaded at a time
    again = picture(engine, "a.safetensors")
    assert engine.loads == ["a.safetensors", "b.safetensors"]
    assert np.array_equal(first, again)
    # a came back, b went into the cache; loading c puts a there instead, so b is read again.
    switch(engine, "c.safetensors", "b.safetensors")
    assert engine.loads == ["a.safetensors", "b.safetensors", "c.safetensors", "b.safetensors"]


def test_unload_keeps_cached_weights_and_reload_reads_the_file_again(engine):
    engine.settings.update({"sd_checkpoint_cache": 1})
    first = picture(engine, "a.safetensors")
    engine.submit_unload_checkpoint().outcome()
    assert engine.models.loaded is None
    assert np.array_equal(first, picture(engine, "a.safetensors"))
    assert engine.loads == ["a.safetensors"]
    engine.submit_reload_checkpoint().outcome()  # reload-checkpoint: from disk, never from the cache
    assert engine.loads == ["a.safetensors", "a.safetensors"]
    assert np.array_equal(first, picture(engine, "a.safetensors"))


def test_the_limits_are_checked_settings(engine):
    for key, bad in (("sd_checkpoints_limit", 0), ("sd_checkpoints_limit", 11), ("sd_checkpoint_cache", -1)):
        with pytest.raises(ValueError, match=key):
            engine.settings.update({key: bad})
