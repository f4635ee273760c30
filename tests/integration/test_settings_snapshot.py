"""A job reads the settings as they were when it was submitted (with its own override_settings):
the Settings tab changing meanwhile changes nothing in it, and an override lasts one request
unless override_settings_restore_afterwards is False. Pasted infotext gives the settings back."""

import threading

import numpy as np
import pytest

from modules.images.infotext import parse_infotext
from modules.processing.request import Txt2ImgRequest
from tests.conftest import make_engine

# An ancestral sampler (ENSD moves its step noise) and a weighted prompt (emphasis changes it).
BASE = {"prompt": "a (red:1.6) cat", "sampler_name": "Euler a", "steps": 3, "width": 64, "height": 64,
        "seed": 11, "save_images": False}  # fmt: skip
CHANGED = {"eta_noise_seed_delta": 31337, "emphasis": "No norm", "CLIP_stop_at_last_layers": 2}
DEFAULTS = {"eta_noise_seed_delta": 0, "emphasis": "Original", "CLIP_stop_at_last_layers": 1}


@pytest.fixture(scope="module")
def own_engine(tmp_path_factory, tiny_single_file):
    """An engine of its own: these tests change its settings."""
    built = make_engine(tmp_path_factory.mktemp("snapshot"), "--models-dir", str(tiny_single_file.parents[1]))
    yield built
    built.queue.shutdown()


@pytest.fixture
def engine(own_engine):
    own_engine.settings.update(DEFAULTS)
    yield own_engine
    own_engine.settings.update(DEFAULTS)


def generate(engine, **fields):
    return engine.submit_txt2img(Txt2ImgRequest(**{**BASE, **fields})).outcome()


def pixels(result):
    return np.asarray(result.images[0].image, dtype=np.int16)


def params(result) -> dict:
    return parse_infotext(result.images[0].infotext)


def test_a_setting_changed_while_the_job_runs_does_not_change_it(engine):
    reference = generate(engine)
    load = engine.models.get

    def load_then_change_settings(name):  # runs inside the job, before it reads any setting
        model = load(name)
        engine.settings.update(CHANGED)
        return model

    engine.models.get = load_then_change_settings
    try:
        during = generate(engine)
    finally:
        del engine.models.get  # the instance attribute: back to the method
    assert engine.settings.get("eta_noise_seed_delta") == 31337  # the change did happen, mid-job
    assert during.images[0].infotext == reference.images[0].infotext
    assert np.array_equal(pixels(during), pixels(reference))
    after = generate(engine)  # the next job sees the new settings, and they change the picture
    assert {k: params(after).get(k) for k in ("ENSD", "Emphasis", "Clip skip")} == {
        "ENSD": 31337, "Emphasis": "No norm", "Clip skip": 2}  # fmt: skip
    assert not np.array_equal(pixels(after), pixels(reference))


def test_a_setting_changed_while_the_job_waits_in_the_queue_does_not_change_it(engine):
    reference = generate(engine)
    release = threading.Event()
    blocker = engine.queue.submit(lambda job: release.wait(60), description="hold the worker")
    try:
        waiting = engine.submit_txt2img(Txt2ImgRequest(**BASE))
        engine.settings.update(CHANGED)
    finally:
        release.set()
    blocker.outcome()
    result = waiting.outcome()
    assert result.images[0].infotext == reference.images[0].infotext
    assert np.array_equal(pixels(result), pixels(reference))


@pytest.mark.parametrize(
    ("override", "key", "shown"),
    [
        ({"eta_noise_seed_delta": 31337}, "ENSD", 31337),
        ({"emphasis": "No norm"}, "Emphasis", "No norm"),
        ({"CLIP_stop_at_last_layers": 2}, "Clip skip", 2),
    ],
)
def test_an_override_applies_to_that_request_only(engine, override, key, shown):
    plain = generate(engine)
    overridden = generate(engine, override_settings=override)
    assert params(overridden).get(key) == shown
    assert not np.array_equal(pixels(overridden), pixels(plain))
    assert {k: engine.settings.get(k) for k in DEFAULTS} == DEFAULTS  # nothing was saved
    following = generate(engine)
    assert key not in params(following)
    assert np.array_equal(pixels(following), pixels(plain))


def test_restore_afterwards_false_keeps_the_override_as_the_setting(engine):
    result = generate(engine, override_settings={"eta_noise_seed_delta": 7}, override_settings_restore_afterwards=False)
    assert params(result)["ENSD"] == 7
    assert engine.settings.get("eta_noise_seed_delta") == 7
    assert params(generate(engine))["ENSD"] == 7


@pytest.mark.parametrize(
    "override",
    [{"no_such_setting": 1}, {"eta_noise_seed_delta": -5}, {"emphasis": "Loud"}, {"CLIP_stop_at_last_layers": 99}],
)
def test_an_unknown_or_bad_override_is_refused_before_anything_is_queued(engine, override):
    started, release = threading.Event(), threading.Event()
    blocker = engine.queue.submit(lambda job: (started.set(), release.wait(60)), description="hold the worker")
    try:
        assert started.wait(60)
        with pytest.raises(ValueError, match=next(iter(override))):
            engine.submit_txt2img(Txt2ImgRequest(**BASE, override_settings=override))
        assert engine.queue.waiting == 0  # nothing was queued behind the blocker
    finally:
        release.set()
    blocker.outcome()


def test_pasted_infotext_brings_back_ensd_emphasis_and_clip_skip(engine):
    made = generate(engine, override_settings=CHANGED)
    fields = engine.fields_from_infotext(made.images[0].infotext)
    assert fields["override_settings"] == {"eta_noise_seed_delta": 31337, "emphasis": "No norm"}
    assert fields["clip_skip"] == 2
    again = engine.submit_txt2img(Txt2ImgRequest(**{**fields, "save_images": False})).outcome()
    assert again.images[0].infotext == made.images[0].infotext
    assert np.array_equal(pixels(again), pixels(made))


def test_pasted_rng_is_read_and_a_value_this_engine_lacks_is_left_out(engine):
    text = "a cat\nSteps: 3, Sampler: Euler a, Seed: 1, Size: 64x64, RNG: GPU, ENSD: 5, Emphasis: Loud"
    assert engine.fields_from_infotext(text)["override_settings"] == {"randn_source": "GPU", "eta_noise_seed_delta": 5}
    nv = engine.fields_from_infotext(text.replace("RNG: GPU", "RNG: NV"))  # A1111's NV generator: not here
    assert nv["override_settings"] == {"eta_noise_seed_delta": 5}
