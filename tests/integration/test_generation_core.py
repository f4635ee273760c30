"""The generation core on a real engine and the tiny model: p.process(**overrides) starts again
from the untouched request each call (hook-added text, extra-network tags and networks applied
afresh), and prepare() reports every problem of a request together, before anything is queued."""

import shutil

import numpy as np
import pytest
import requests

from modules.processing.prepare import RequestProblems, prepare
from modules.processing.request import Txt2ImgRequest
from tests.conftest import make_engine
from tests.extensions.lycoris_support import weights_hash, write_lycoris_file
from tests.fixtures.installing import install_fixture_extensions
from tests.server import start_api_server

BASE = {"prompt": "a cat <lora:ink:0.5>", "steps": 3, "width": 64, "height": 64, "seed": 7, "save_images": False}
CELLS = [
    {"seed": 11},
    {"sampler_name": "DPM++ 2M", "seed": 12},
    {"prompt": "a dog <lora:ink:0.8>", "steps": 4},
]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory, tiny_single_file):
    models = tmp_path_factory.mktemp("core-models")
    shutil.copytree(tiny_single_file.parent, models / "Stable-diffusion")
    (models / "Lora").mkdir()
    write_lycoris_file(models / "Lora" / "ink.safetensors", "lora")
    return models


@pytest.fixture(scope="module")
def core_engine(tmp_path_factory, models_dir):
    data_dir = tmp_path_factory.mktemp("core-data")
    install_fixture_extensions(data_dir, "rainy")
    (data_dir / "styles.csv").write_text('name,prompt,negative_prompt\nwet,"{prompt}, wet",dry\n')
    engine = make_engine(data_dir, "--models-dir", str(models_dir))
    yield engine
    engine.queue.shutdown()


def generate(engine, **fields):
    return engine.submit_txt2img(Txt2ImgRequest(**{**BASE, **fields})).outcome()


def pixels(item):
    return np.asarray(item.image.convert("RGB"))


def test_process_with_overrides_equals_separate_requests(core_engine):
    assert core_engine.extensions.get("rainy").status == "loaded"
    cells = generate(core_engine, styles=["wet"], script_name="Rainy cells", script_args={"cells": CELLS})
    assert len(cells.images) == len(CELLS)
    for made, overrides in zip(cells.images, CELLS, strict=True):
        alone = generate(core_engine, styles=["wet"], **overrides).images[0]
        assert np.array_equal(pixels(made), pixels(alone)), overrides
        assert made.infotext == alone.infotext
        # Styles and the hook's text are applied once per call, on the untouched prompt.
        assert made.prompt.count(", wet") == 1 and made.negative_prompt == "dry"
        assert made.prompt.count(", in the rain") == 1
        assert "<lora:ink:" in made.prompt
    assert cells.images[1].infotext.count("Sampler: DPM++ 2M") == 1
    assert cells.images[2].prompt.startswith("a dog <lora:ink:0.8>")


def test_the_lora_tag_is_applied_on_every_call_and_undone_after(core_engine):
    model = core_engine.models.get(None)
    model.patcher.restore()  # an earlier test's LoRA set stays merged until a job asks for another
    unet = model.unet
    before = weights_hash(unet)
    cells = generate(core_engine, script_name="Rainy cells", script_args={"cells": [{}, {"prompt": "a cat"}, {}]})
    without = generate(core_engine, prompt="a cat").images[0]
    assert not np.array_equal(pixels(cells.images[0]), pixels(without))  # the network took part
    assert np.array_equal(pixels(cells.images[1]), pixels(without))  # and was undone for the tagless call
    assert np.array_equal(pixels(cells.images[2]), pixels(cells.images[0]))  # and applied afresh again
    assert weights_hash(unet) == before


def test_prepare_resolves_names_once_into_the_prepared_request(core_engine):
    request = Txt2ImgRequest(**{**BASE, "width": 100, "enable_hr": True, "hr_upscaler": "latent (BICUBIC)",
                                "hr_sampler_name": "Euler"}, sampler_name="DPM++ 2M Karras")  # fmt: skip
    prepared = prepare(request, core_engine)
    assert (prepared.sampler.name, prepared.schedule) == ("DPM++ 2M", "Karras")
    assert (prepared.hires_sampler.name, prepared.hires_schedule) == ("Euler", "Karras")
    assert prepared.request.hr_upscaler == "Latent (bicubic)"
    assert prepared.request.width == 96 and prepared.warnings == ("width 100 is not a multiple of 8: used 96",)
    assert prepared.prompt == BASE["prompt"] and prepared.script is None
    assert request.width == 100  # the request itself is untouched (frozen)
    with pytest.raises(Exception, match="frozen"):
        request.width = 64


def test_all_problems_of_a_request_are_reported_together(core_engine):
    request = Txt2ImgRequest(**BASE, sampler_name="Nope", styles=["no such style"], script_name="Rainy cells",
                             script_args={"cells": "not a list"})  # fmt: skip
    with pytest.raises(RequestProblems) as refused:
        core_engine.submit_txt2img(request, job_id="refused-job")
    assert len(refused.value.problems) == 3
    text = str(refused.value)
    assert "sampler_name" in text and "'Nope'" in text
    assert "no such style" in text
    assert "Rainy cells" in text and "cells" in text
    assert core_engine.queue.get("refused-job") is None


def test_the_api_answers_one_422_naming_every_problem(tmp_path_factory, models_dir):
    data_dir = tmp_path_factory.mktemp("core-api")
    install_fixture_extensions(data_dir, "rainy")
    server = start_api_server(data_dir, models_dir)
    try:
        body = {**BASE, "sampler_name": "Nope", "styles": ["no such style"], "script_name": "Rainy cells",
                "script_args": {"cells": "not a list"}, "enable_hr": True, "hr_upscaler": "ESRGAN_9x"}  # fmt: skip
        answer = requests.post(server.url + "/sdapi/v1/txt2img", json=body, timeout=60)
        assert answer.status_code == 422, answer.text
        detail = answer.json()["detail"]
        for part in ("'Nope'", "no such style", "Rainy cells", "ESRGAN_9x"):
            assert part in detail, detail
        ok = requests.post(server.url + "/sdapi/v1/txt2img", json={**BASE, "steps": 2}, timeout=120)
        assert ok.status_code == 200, ok.text
    finally:
        server.stop()
