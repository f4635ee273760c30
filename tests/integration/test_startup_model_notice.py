"""The first minute: while the default model loads, a Generate waits saying "Loading model ..."
and runs on that model once it is ready; a default model that fails to load is named, with the
reason, in the job's error and in the notice the page shows (tiny model, real queue, real files)."""

import threading

import pytest

from modules.jobs import Job
from modules.models.loading import CheckpointLoadError, load_checkpoint
from modules.processing.request import Txt2ImgRequest
from tests.conftest import make_engine
from webui.components.progress import progress_html

REQUEST = {"prompt": "a cat", "steps": 1, "width": 64, "height": 64, "seed": 3, "save_images": False}


@pytest.fixture
def broken_engine(tmp_path):
    checkpoints = tmp_path / "data" / "models" / "Stable-diffusion"
    checkpoints.mkdir(parents=True)
    (checkpoints / "broken.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not a header at all")
    built = make_engine(tmp_path / "data")
    yield built
    built.queue.shutdown()


def test_a_broken_default_model_is_named_with_the_reason(broken_engine):
    preload = broken_engine.preload()
    with pytest.raises(CheckpointLoadError):
        preload.outcome()
    notice = broken_engine.model_notice()
    assert notice.startswith("Model broken.safetensors failed to load: not a readable .safetensors file")
    job = broken_engine.submit_txt2img(Txt2ImgRequest(**REQUEST))
    with pytest.raises(CheckpointLoadError) as failed:
        job.outcome()
    assert "broken.safetensors" in str(failed.value) and "not a readable .safetensors file" in str(failed.value)
    assert broken_engine.models.loaded is None and broken_engine.model_loading() is None


def test_a_generate_waiting_for_the_model_says_so_and_runs_once_it_is_loaded(tmp_path, tiny_single_file):
    engine = make_engine(tmp_path / "data", "--models-dir", str(tiny_single_file.parents[1]))
    entered, release, loads = threading.Event(), threading.Event(), []

    def held_load(*args):
        # The test holds the load midway, so "while it loads" is a state, not a race.
        loads.append(args[0].name)
        entered.set()
        assert release.wait(120)
        return load_checkpoint(*args)

    engine.models.loader = held_load
    try:
        engine.preload()
        assert entered.wait(120)
        job = engine.submit_txt2img(Txt2ImgRequest(**REQUEST))
        assert engine.model_loading() == "tiny.safetensors"
        shown = progress_html(job, engine.queue.position(job), engine.model_loading())
        assert "Loading model tiny.safetensors..." in shown and "Waiting in queue" not in shown
        release.set()
        result = job.outcome()
    finally:
        release.set()
        engine.queue.shutdown()
    assert len(result.images) == 1 and result.images[0].image.size == (64, 64)
    assert loads == ["tiny.safetensors"]  # the job used the preloaded model, not a second load
    assert engine.model_loading() is None and engine.model_notice() is None
    # With no load in progress, a queued job shows its place in the queue again.
    queued = Job("queued", "", lambda job: None)
    assert "Waiting in queue: position 1" in progress_html(queued, 1, engine.model_loading())
