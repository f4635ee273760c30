"""The built-in "Prompts from file or textbox" script on the tiny model: one generation per line,
each with its own options, recorded in its infotext; a bad line is refused naming it."""

import json

import numpy as np
import pytest
import requests

from modules.images.infotext import parse_infotext
from modules.processing.request import Txt2ImgRequest
from tests.server import start_api_server

TITLE = "Prompts from file or textbox"


def request(script_args, **fields) -> Txt2ImgRequest:
    base = {"prompt": "", "steps": 2, "width": 64, "height": 64, "seed": 11, "save_images": False}
    return Txt2ImgRequest(**{**base, "script_name": TITLE, "script_args": script_args, **fields})


def run(engine, script_args, **fields):
    return engine.submit_txt2img(request(script_args, **fields)).outcome()


def infos(result) -> list[dict]:
    return [parse_infotext(item.infotext) for item in result.images]


def pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_three_lines_make_three_results_with_their_own_options(engine):
    text = '--prompt "a red cat" --steps 3 --seed 5\n\n--prompt a dog --seed 9 --cfg_scale 5\n  a plain prompt  \n'
    result = run(engine, {"prompt_txt": text})
    got = infos(result)
    assert [info["Prompt"] for info in got] == ["a red cat", "a dog", "a plain prompt"]
    assert [info["Steps"] for info in got] == [3, 2, 2]
    assert [info["Seed"] for info in got] == [5, 9, 11]  # a line without --seed: the request's
    assert [info["CFG scale"] for info in got] == [7, 5, 7]
    alone = run(engine, None, prompt="a dog", seed=9, cfg_scale=5, script_name=None)
    assert np.array_equal(pixels(alone.images[0].image), pixels(result.images[1].image))


def test_prompt_position_and_batch_options(engine):
    # A1111's positional order: iterate, same seed, position, text.
    result = run(engine, [False, False, "end", "--prompt cat --negative_prompt dark --n_iter 2"],
                 prompt="oil painting", negative_prompt="blurry")  # fmt: skip
    got = infos(result)
    assert len(got) == 2
    assert {(info["Prompt"], info["Negative prompt"]) for info in got} == {("oil painting cat", "blurry dark")}
    start = infos(run(engine, {"prompt_txt": "--prompt cat"}, prompt="oil painting"))
    assert start[0]["Prompt"] == "cat oil painting"


def test_seeds_iterate_stay_or_are_fresh_per_line(engine):
    three = "a\nb\nc"
    iterated = run(engine, {"checkbox_iterate": True, "prompt_txt": three + "\n--prompt d --seed 3"}, seed=100)
    assert [info["Seed"] for info in infos(iterated)] == [100, 101, 102, 3]
    same = run(engine, {"checkbox_iterate_batch": True, "prompt_txt": three}, seed=-1)
    assert len({info["Seed"] for info in infos(same)}) == 1
    fresh = run(engine, {"prompt_txt": three}, seed=-1)  # A1111: a new random seed for every line
    assert len({info["Seed"] for info in infos(fresh)}) == 3


@pytest.mark.parametrize(
    "text, message",
    [
        ("a cat\n--prompt dog --bogus 2", r"line 2 \('--prompt dog --bogus 2'\): unknown option --bogus"),
        ("a cat\nb\n--steps 500", r"line 3 .*steps: .*less than or equal to 150"),
        ("x\n" * 1001, "1001 lines, more than the limit of 1000"),
    ],
)
def test_a_bad_line_is_refused_before_queueing(engine, text, message):
    with pytest.raises(ValueError, match=message):
        engine.submit_txt2img(request({"prompt_txt": text}))


def test_a_line_that_breaks_the_request_is_named(engine):
    # Valid alone, too big with the request's batch size: found when merged, before any picture.
    job = engine.submit_txt2img(request({"prompt_txt": "a\n--width 2048 --height 2048"}, batch_size=8))
    with pytest.raises((RuntimeError, ValueError), match=r"line 2 .*batch_size 8"):
        job.outcome()
    misspelt = engine.submit_txt2img(request({"prompt_txt": "a\n--sampler_name Eulr"}))
    with pytest.raises((RuntimeError, ValueError), match=r"line 2 .*unknown sampler 'Eulr'"):
        misspelt.outcome()
    assert misspelt.part == -1  # refused before the first line's generation started


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_single_file):
    running = start_api_server(tmp_path_factory.mktemp("prompts-from-file"), tiny_single_file.parents[1])
    yield running
    running.stop()


def test_over_http_with_positional_args_and_a_bad_line(server):
    body = {"prompt": "", "steps": 2, "width": 64, "height": 64, "seed": 4, "save_images": False}
    body.update(script_name="prompts from file or textbox", script_args=[True, False, "start", "a cat\n--steps 3"])
    answer = requests.post(server.url + "/sdapi/v1/txt2img", json=body, timeout=120)
    assert answer.status_code == 200, answer.text
    reply = answer.json()
    assert len(reply["images"]) == 2
    got = [parse_infotext(text) for text in json.loads(reply["info"])["infotexts"]]
    assert [(info["Prompt"], info["Steps"], info["Seed"]) for info in got] == [("a cat", 2, 4), ("", 3, 5)]
    bad_body = {**body, "script_args": [False, False, "start", "--x 1"]}
    bad = requests.post(server.url + "/sdapi/v1/txt2img", json=bad_body, timeout=60)
    assert bad.status_code == 422 and "line 1" in bad.text and "--x" in bad.text
