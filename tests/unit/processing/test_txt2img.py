"""txt2img on the tiny model through the engine's queue, as the UI and API run it."""

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from modules.images.infotext import parse_infotext
from modules.processing.request import Txt2ImgRequest


def generate(engine, **fields):
    defaults = {"prompt": "a red circle", "steps": 4, "width": 64, "height": 64, "seed": 7, "save_images": False}
    return engine.submit_txt2img(Txt2ImgRequest(**{**defaults, **fields})).outcome()


def pixels(item) -> np.ndarray:
    return np.asarray(item.image, dtype=np.int16)


@pytest.mark.parametrize("sampler", ["Euler a", "Euler", "DPM++ 2M", "DDIM", "Heun", "UniPC"])
def test_samplers_make_finite_nonblank_deterministic_images(engine, sampler):
    first = generate(engine, sampler_name=sampler, scheduler="Karras" if sampler == "DPM++ 2M" else "Automatic")
    again = generate(engine, sampler_name=sampler, scheduler="Karras" if sampler == "DPM++ 2M" else "Automatic")
    assert first.images[0].image.size == (64, 64)
    assert pixels(first.images[0]).std() > 1.0  # not a flat image
    assert np.array_equal(pixels(first.images[0]), pixels(again.images[0]))  # bit for bit


def test_different_seeds_and_prompts_give_different_images(engine):
    base = pixels(generate(engine).images[0])
    assert not np.array_equal(base, pixels(generate(engine, seed=8).images[0]))
    assert not np.array_equal(base, pixels(generate(engine, prompt="a blue square").images[0]))


def test_batches_use_consecutive_seeds_and_random_seed_is_reported(engine):
    result = generate(engine, seed=100, batch_size=2, n_iter=2)
    assert result.seeds == [100, 101, 102, 103]
    assert [parse_infotext(t)["Seed"] for t in result.infotexts] == [100, 101, 102, 103]
    alone = generate(engine, seed=102)
    assert np.abs(pixels(result.images[2]) - pixels(alone.images[0])).max() <= 2

    randomized = generate(engine, seed=-1)
    assert 0 <= randomized.seed < 2**32
    again = generate(engine, seed=randomized.seed)
    assert np.array_equal(pixels(randomized.images[0]), pixels(again.images[0]))


def test_sizes_round_to_multiples_of_8_with_a_message(engine):
    result = generate(engine, width=100, height=72)
    assert result.images[0].image.size == (96, 72)
    assert result.warnings == ["width 100 is not a multiple of 8: used 96"]


def test_bad_requests_are_refused_before_queueing(engine):
    for bad in ({"steps": 0}, {"steps": 151}, {"width": 0}, {"cfg_scale": 0}):
        with pytest.raises(ValidationError):
            Txt2ImgRequest(**bad)
    # Names are resolved by prepare() when the job is submitted (issue 11: every problem together).
    with pytest.raises(ValueError, match="Nope"):
        engine.submit_txt2img(Txt2ImgRequest(sampler_name="Nope"), job_id="refused")
    assert engine.queue.get("refused") is None


def test_saved_images_carry_infotext_that_round_trips(engine):
    result = generate(engine, prompt="a green star", negative_prompt="blurry", seed=5, save_images=True, steps=3)
    item = result.images[0]
    assert item.path.parent.parent == engine.paths.outputs_dir / "txt2img-images"
    assert item.path.name.endswith("-5.png")
    with Image.open(item.path) as saved:
        parsed = parse_infotext(saved.info["parameters"])
        assert np.array_equal(np.asarray(saved.convert("RGB")), np.asarray(item.image))
    assert parsed["Prompt"] == "a green star" and parsed["Negative prompt"] == "blurry"
    assert (parsed["Steps"], parsed["Sampler"], parsed["Seed"], parsed["Size-1"]) == (3, "Euler a", 5, 64)
    assert parsed["Model hash"] == engine.models.loaded.short_hash and parsed["Model"] == "tiny"


def test_interrupt_stops_within_a_step_and_returns_what_was_made(engine):
    job = engine.submit_txt2img(
        Txt2ImgRequest(prompt="x", steps=150, width=256, height=256, seed=1, n_iter=3, save_images=False)
    )
    while job.step < 1 and not job.done:
        job.wait(0.01)
    job.interrupt()
    result = job.outcome()
    assert result.interrupted
    assert len(result.images) == 1 and result.images[0].image.size == (256, 256)
    assert job.batch_index == 0 and job.step <= 3  # stopped within a step of the press, not at 150
