"""The refiner: a second checkpoint takes over at a fraction of the steps."""

import numpy as np
import pytest

from modules.processing.request import Txt2ImgRequest
from tests.conftest import make_engine
from tests.fixtures.tiny_model import save_single_file


@pytest.fixture(scope="module")
def two_models(tmp_path_factory, tiny_single_file):
    models = tmp_path_factory.mktemp("refiner-models")
    (models / "Stable-diffusion").mkdir()
    (models / "Stable-diffusion" / "base.safetensors").symlink_to(tiny_single_file)
    save_single_file(models / "Stable-diffusion" / "other.safetensors", seed=1)  # same shape, other weights
    engine = make_engine(tmp_path_factory.mktemp("refiner-data"), "--models-dir", str(models))
    yield engine
    engine.queue.shutdown()


def generate(engine, **fields):
    base = {"prompt": "a cat", "steps": 6, "width": 64, "height": 64, "seed": 2, "save_images": False,
            "checkpoint": "base.safetensors", "sampler_name": "Euler"}  # fmt: skip
    result = engine.submit_txt2img(Txt2ImgRequest(**{**base, **fields})).outcome()
    return np.asarray(result.images[0].image, dtype=np.int16), result


def test_refiner_takes_over_and_is_recorded(two_models):
    plain, _ = generate(two_models)
    refined, result = generate(two_models, refiner_checkpoint="other.safetensors", refiner_switch_at=0.5)
    late, _ = generate(two_models, refiner_checkpoint="other.safetensors", refiner_switch_at=0.9)
    off, _ = generate(two_models, refiner_checkpoint="other.safetensors", refiner_switch_at=1.0)
    assert not np.array_equal(plain, refined) and not np.array_equal(refined, late)
    assert np.array_equal(plain, off)  # switching at the very end is no switch
    fields = two_models.fields_from_infotext(result.images[0].infotext)
    assert fields["refiner_switch_at"] == 0.5 and fields["refiner_checkpoint"].startswith("other.safetensors")
    again, _ = generate(two_models, refiner_checkpoint=fields["refiner_checkpoint"], refiner_switch_at=0.5)
    assert np.array_equal(again, refined)


def test_unknown_refiner_is_an_error_naming_it(two_models):
    with pytest.raises(LookupError, match="nope"):
        generate(two_models, refiner_checkpoint="nope.safetensors")


def test_after_a_refiner_job_a_request_without_a_checkpoint_runs_on_the_base(two_models):
    """The refiner a job switched to does not become the current checkpoint (the manager keeps one
    model resident, so the base is read again: the infotext's model hash says which one ran)."""
    _, refined = generate(two_models, refiner_checkpoint="other.safetensors", refiner_switch_at=0.5)
    request = {"prompt": "a cat", "steps": 2, "width": 64, "height": 64, "seed": 2, "save_images": False}
    after = two_models.submit_txt2img(Txt2ImgRequest(**request)).outcome()
    base_hash = two_models.models.cached_short_hash(two_models.models.resolve("base.safetensors"))
    assert two_models.fields_from_infotext(after.images[0].infotext)["checkpoint"] is not None
    assert f"Model hash: {base_hash}" in after.images[0].infotext
    assert two_models.models.current_info.name == "base.safetensors"
