"""Each image records the prompts and seeds it was really made from: an extension that changes one
image's prompt in a batch changes that image's conditioning, its infotext, and the API's
all_prompts, while the other images keep theirs."""

import json
from pathlib import Path

import numpy as np
import pytest
import requests

from modules.images.infotext import parse_infotext
from tests.conftest import make_engine
from tests.fixtures.installing import install_fixture_extensions
from tests.integration.test_extensions_engine import generate, pixels
from tests.integration.test_seeds import BATCHING_TOLERANCE
from tests.server import start_api_server

NIGHT = ", at night"  # what the second_prompt fixture adds to image 1 of a batch


def install_second_prompt(data_dir: Path) -> None:
    install_fixture_extensions(data_dir, "second_prompt")


@pytest.fixture(scope="module")
def hooked_engine(tmp_path_factory, tiny_single_file):
    data_dir = tmp_path_factory.mktemp("per-image-data")
    install_second_prompt(data_dir)
    engine = make_engine(data_dir, "--models-dir", str(tiny_single_file.parents[1]))
    assert engine.extensions.get("second_prompt").status == "loaded"
    yield engine
    engine.queue.shutdown()


def test_a_hook_gives_one_image_its_own_prompt_record_and_picture(hooked_engine):
    batch = generate(hooked_engine, batch_size=2, negative_prompt="blurry")
    assert batch.prompts == ["a cat", f"a cat{NIGHT}"]
    assert batch.negative_prompts == ["blurry", "blurry"]
    assert batch.seeds == [7, 8]
    first, second = (parse_infotext(text) for text in batch.infotexts)
    assert (first["Prompt"], first["Seed"]) == ("a cat", 7)
    assert (second["Prompt"], second["Seed"]) == (f"a cat{NIGHT}", 8)
    assert first["Negative prompt"] == second["Negative prompt"] == "blurry"

    # Image 1 was encoded with its own prompt: it is that prompt's picture at its seed, made alone
    # (a batch of one, which the fixture leaves alone), not the job prompt's.
    alone = generate(hooked_engine, prompt=f"a cat{NIGHT}", seed=8, negative_prompt="blurry")
    job_prompt_alone = generate(hooked_engine, seed=8, negative_prompt="blurry")
    assert alone.prompts == [f"a cat{NIGHT}"]
    assert np.abs(pixels(batch, 1) - pixels(alone)).max() <= BATCHING_TOLERANCE
    assert np.abs(pixels(batch, 1) - pixels(job_prompt_alone)).max() > 10 * BATCHING_TOLERANCE
    # Image 0 kept the job's prompt.
    first_alone = generate(hooked_engine, negative_prompt="blurry")
    assert np.abs(pixels(batch, 0) - pixels(first_alone)).max() <= BATCHING_TOLERANCE


def test_recorded_prompts_keep_the_jobs_extra_network_tags(hooked_engine):
    # No extension handles <nowhere:...>: the tag is stripped before encoding and kept in the record.
    batch = generate(hooked_engine, prompt="a cat <nowhere:0.5>", batch_size=2)
    assert batch.prompts[0] == "a cat <nowhere:0.5>"
    assert batch.prompts[1] == f"a cat {NIGHT} <nowhere:0.5>"
    assert [parse_infotext(text)["Prompt"] for text in batch.infotexts] == batch.prompts


def test_every_batch_of_a_job_gets_its_own_records(hooked_engine):
    result = generate(hooked_engine, batch_size=2, n_iter=2, seed=20, subseed=100, subseed_strength=0.5)
    assert result.prompts == ["a cat", f"a cat{NIGHT}"] * 2
    assert result.seeds == [20, 20, 20, 20]  # with a variation strength every image keeps the seed
    assert result.subseeds == [100, 101, 102, 103]
    parsed = [parse_infotext(text) for text in result.infotexts]
    assert [info["Prompt"] for info in parsed] == result.prompts
    assert [info["Variation seed"] for info in parsed] == [100, 101, 102, 103]


def test_the_hooks_see_p_lists_for_the_job_and_the_batch(hooked_engine):
    """p.all_prompts/all_seeds cover the job, p.prompts/seeds the batch (the very lists the hook
    gets), as A1111's p has them; the fixture writes what it saw into each image's infotext."""
    result = generate(hooked_engine, batch_size=2, n_iter=2, seed=30)
    saw = [parse_infotext(text)["Second prompt saw"] for text in result.infotexts]
    first = "batch 0/0 of 4 images seeds 30+31 of 30+31+32+33 lists shared"
    second = "batch 1/1 of 4 images seeds 32+33 of 30+31+32+33 lists shared"
    assert saw == [first, first, second, second]


@pytest.fixture(scope="module")
def hooked_server(tmp_path_factory, tiny_single_file):
    data_dir = tmp_path_factory.mktemp("per-image-api")
    install_second_prompt(data_dir)
    (data_dir / "styles.csv").write_text("name,prompt,negative_prompt\nstarry,{prompt} under stars,dull\n")
    running = start_api_server(data_dir, tiny_single_file.parents[1])
    yield running
    running.stop()


def test_api_lists_each_images_prompt_and_seed(hooked_server):
    body = {"prompt": "a cat", "negative_prompt": "blurry", "styles": ["starry"], "steps": 2, "width": 64,
            "height": 64, "seed": 5, "batch_size": 2, "n_iter": 2}  # fmt: skip
    response = requests.post(hooked_server.url + "/sdapi/v1/txt2img", json=body, timeout=120)
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    styled = "a cat under stars"  # the prompt after the style, as the batch used it
    assert info["all_prompts"] == [styled, f"{styled}{NIGHT}"] * 2
    assert info["all_negative_prompts"] == ["blurry, dull"] * 4
    assert info["prompt"] == styled and info["negative_prompt"] == "blurry, dull"
    assert info["all_seeds"] == [5, 6, 7, 8] and info["seed"] == 5
    assert len(info["all_subseeds"]) == 4 and info["subseed"] == info["all_subseeds"][0]
    assert [parse_infotext(text)["Prompt"] for text in info["infotexts"]] == info["all_prompts"]
    assert [parse_infotext(text)["Seed"] for text in info["infotexts"]] == info["all_seeds"]
