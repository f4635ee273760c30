"""The bundled demo model, loaded from the committed weights the way the app loads it."""

import pytest

from modules.config.flags import parse_flags
from modules.config.paths import BUNDLED_DEMO_MODEL
from modules.engine import Engine
from modules.models.loading import native_resolution
from modules.training.evaluation import EvalSettings, evaluate, evaluation_scenes, generate
from modules.training.judge import judge
from tests.fixtures.tiny_model import save_single_file

SHIPPED_CFG = 7.0  # the app's default CFG, as in A1111
# Floors measured on this subset (fixed seeds) when the weights were made; see docs/DEMO_MODEL.md.
FLOORS = {"colour": 0.83, "shape": 0.83, "background": 0.9}  # measured 0.92 / 0.92 / 1.0 (held-out)
GUIDANCE_GAIN = 0.08  # measured +0.125 (0.79 -> 0.92 on these 24 held-out scenes)


@pytest.fixture(scope="module")
def demo_engine(tmp_path_factory):
    engine = Engine.from_flags(parse_flags(["--data-dir", str(tmp_path_factory.mktemp("demo-data"))]))
    yield engine
    engine.queue.shutdown()


@pytest.fixture(scope="module")
def demo(demo_engine):
    return demo_engine.models.get()


def test_demo_is_committed_small_and_the_default_without_other_checkpoints(demo_engine, demo, tmp_path):
    assert BUNDLED_DEMO_MODEL.is_file() and BUNDLED_DEMO_MODEL.stat().st_size <= 30 * 2**20
    assert demo.info.is_demo and demo.info.path == BUNDLED_DEMO_MODEL
    assert native_resolution(demo.info) == 128 and demo.vae_scale_factor == 4
    assert len(demo.tokenizer) == 49408

    save_single_file(tmp_path / "models" / "Stable-diffusion" / "mine.safetensors")
    with_user_model = Engine.from_flags(parse_flags(["--data-dir", str(tmp_path)]))
    names = [info.name for info in with_user_model.models.checkpoints()]
    assert names == ["mine.safetensors", "sd-studio-demo.safetensors"]
    assert with_user_model.models.default_checkpoint().name == "mine.safetensors"
    with_user_model.queue.shutdown()


def scores(model, cfg, count=12):
    settings = EvalSettings(cfg_scale=cfg)
    seen, _ = evaluate(model, evaluation_scenes(count, held_out=False, seed=99), settings)
    held, _ = evaluate(model, evaluation_scenes(count, held_out=True, seed=99), settings)
    return seen, held


def test_demo_draws_the_colour_shape_and_background_asked_for(demo):
    seen, held = scores(demo, SHIPPED_CFG)
    for key, floor in FLOORS.items():
        assert seen[key] >= floor and held[key] >= floor, (key, seen, held)


@pytest.mark.slow  # ~40 s here: an evaluation over 24 held-out scenes
def test_guidance_raises_colour_agreement(demo):
    # Seen combinations are right even at CFG 1; guidance is what gets held-out ones right
    # (full run: 82% at CFG 1, 89-94% at CFG 3-7).
    settings = EvalSettings(cfg_scale=SHIPPED_CFG)
    scenes = evaluation_scenes(24, held_out=True, seed=99)
    guided, _ = evaluate(demo, scenes, settings)
    unguided, _ = evaluate(demo, scenes, EvalSettings(cfg_scale=1.0))
    assert guided["colour"] >= unguided["colour"] + GUIDANCE_GAIN, (guided, unguided)


def test_negative_prompt_red_pushes_a_circle_away_from_red(demo):
    # With no colour asked for, the model leans to red's neighbour orange; "red" as the
    # negative prompt must move the hue away from red (to yellow, as measured).
    prompt = "a large circle on a white background"
    reddish = {"red", "orange"}

    def count_reddish(negative_prompt):
        settings = EvalSettings(cfg_scale=SHIPPED_CFG, negative_prompt=negative_prompt)
        return sum(judge(generate(demo, prompt, settings, 500 + seed)).colour in reddish for seed in range(8))

    plain, pushed = count_reddish(""), count_reddish("red")
    assert pushed <= plain - 4, (plain, pushed)
