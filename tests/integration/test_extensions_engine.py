"""The extension contract end to end on a real engine and the tiny model: hooks change real
pixels and infotext, scripts get named args, failures stay with their extension."""

from pathlib import Path

import numpy as np
import pytest

from modules.plugins.registry import BUILTIN_OWNER
from modules.processing.request import Txt2ImgRequest
from tests.conftest import make_engine
from tests.fixtures.installing import FIXTURE_EXTENSIONS, install_fixture_extensions


@pytest.fixture(scope="module")
def ext_engine(tmp_path_factory, tiny_single_file):
    data_dir = tmp_path_factory.mktemp("ext-data")
    install_fixture_extensions(data_dir, "example", "broken_import", "failing_hook", "latent_negate")
    engine = make_engine(data_dir, "--models-dir", str(tiny_single_file.parents[1]))
    yield engine
    engine.queue.shutdown()


def generate(engine, **fields):
    request = Txt2ImgRequest(**{"prompt": "a cat", "steps": 3, "width": 64, "height": 64, "seed": 7, **fields})
    return engine.submit_txt2img(request).outcome()


def pixels(result, index=0):
    return np.asarray(result.images[index].image.convert("RGB"), dtype=np.int16)


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_extensions_load_with_status_and_errors(ext_engine):
    status = {ext.name: ext for ext in ext_engine.extensions.extensions}
    assert status["example"].status == "loaded" and status["example"].version == "0.3.1"
    assert status["rembg"].bundled and status["lycoris"].bundled and not status["example"].bundled
    assert status["broken_import"].status == "error"
    assert "this_module_does_not_exist" in status["broken_import"].errors[0]
    # failing_hook must run before example (example says after = ["failing_hook"]).
    names = [ext.name for ext in ext_engine.extensions.extensions]
    assert names.index("failing_hook") < names.index("example")


def test_failing_hooks_do_not_stop_the_job(ext_engine):
    result = generate(ext_engine)
    assert len(result.images) == 1
    errors = ext_engine.extensions.get("failing_hook").errors
    source = FIXTURE_EXTENSIONS / "failing_hook" / "plugin.py"
    for hook, kind in [("before_process", "RuntimeError"), ("postprocess_image", "ValueError")]:
        where = line_of(source, f"broke {hook} on purpose")
        assert f"{hook}: {kind}: failing_hook broke {hook} on purpose (plugin.py:{where})" in errors
    assert ext_engine.extensions.get("failing_hook").status == "loaded"


def test_first_post_sample_result_replaces_the_latents(ext_engine):
    """post_sample is firstresult: failing_hook raises (reported, skipped), latent_negate's tensor
    is decoded, and example's implementation after it is not called for that batch."""
    plain = generate(ext_engine)
    assert "Example steps seen: 3" in plain.images[0].infotext
    ext_engine.settings.update({"latent_negate_enabled": True})
    try:
        negated = generate(ext_engine)
    finally:
        ext_engine.settings.update({"latent_negate_enabled": False})
    assert len(negated.images) == 1
    assert not np.array_equal(pixels(negated), pixels(plain))
    infotext = negated.images[0].infotext
    assert "Latents negated: True" in infotext and "Example steps seen" not in infotext
    where = line_of(FIXTURE_EXTENSIONS / "failing_hook" / "plugin.py", "broke post_sample on purpose")
    errors = ext_engine.extensions.get("failing_hook").errors
    assert f"post_sample: RuntimeError: failing_hook broke post_sample on purpose (plugin.py:{where})" in errors


def test_model_loaded_is_historic(ext_engine):
    """An implementation registered after the model loaded still hears about it."""
    from modules.plugins import hookimpl

    generate(ext_engine)  # a model is loaded
    heard = []

    class Late:
        @hookimpl
        def model_loaded(self, model):
            heard.append(model)

    ext_engine.extensions.register(Late(), name="late listener", owner="example")
    try:
        assert heard == [ext_engine.models.loaded]
        assert heard[0].info.model_name
    finally:
        ext_engine.extensions.unregister("late listener")


def test_settings_drive_pipeline_hooks(ext_engine):
    plain = generate(ext_engine)
    ext_engine.settings.update({"example_invert": True})
    try:
        inverted = generate(ext_engine)
    finally:
        ext_engine.settings.update({"example_invert": False})
    assert np.array_equal(pixels(inverted), 255 - pixels(plain))
    # cfg_denoiser ran once per step; post_sample wrote that into the infotext.
    assert "Example steps seen: 3" in plain.images[0].infotext


def test_before_process_changes_the_prompt(ext_engine):
    plain = generate(ext_engine)
    ext_engine.settings.update({"example_suffix": "dramatic lighting"})
    try:
        suffixed = generate(ext_engine)
    finally:
        ext_engine.settings.update({"example_suffix": ""})
    assert suffixed.prompt == "a cat, dramatic lighting"
    assert not np.array_equal(pixels(suffixed), pixels(plain))


def test_extra_network_tags_are_stripped_and_routed(ext_engine):
    from sdstudio_extensions.example.plugin import STATE

    plain = generate(ext_engine, prompt="a cat")
    before = STATE.deactivations
    tagged = generate(ext_engine, prompt="a cat <example:demo:0.5:te=0.2>", negative_prompt="<example:neg>")
    assert STATE.network_calls[-1] == [(("demo", "0.5"), {"te": "0.2"}), (("neg",), {})]
    assert STATE.deactivations == before + 1
    # The tag never reaches the text encoder; the infotext keeps it so pasting restores it.
    assert np.array_equal(pixels(tagged), pixels(plain))
    assert tagged.images[0].infotext.startswith("a cat <example:demo:0.5:te=0.2>")
    unknown = generate(ext_engine, prompt="a cat <nosuch:thing>")
    assert any("nosuch" in w for w in unknown.warnings)


def test_alwayson_script_named_args_and_infotext(ext_engine):
    plain = generate(ext_engine)
    mirrored = generate(ext_engine, alwayson_scripts={"Example mirror": {"args": {"enabled": True, "label": "flip"}}})
    assert np.array_equal(pixels(mirrored), pixels(plain)[:, ::-1])
    assert "Example mirror: flip" in mirrored.images[0].infotext
    # The script's cfg_denoiser is reached through the cfg_denoiser hook, once per step, and only
    # for a job it takes part in.
    assert "Example mirror steps: 3" in mirrored.images[0].infotext
    assert "Example mirror steps" not in plain.images[0].infotext
    # A1111 clients send positional lists: matched to the Args fields in order.
    positional = generate(ext_engine, alwayson_scripts={"example mirror": {"args": [True, "pos"]}})
    assert np.array_equal(pixels(positional), pixels(mirrored))
    assert "Example mirror: pos" in positional.images[0].infotext


def test_selectable_script_runs_with_named_or_positional_args(ext_engine):
    result = generate(ext_engine, script_name="Example repeat", script_args={"repeats": 3, "seed_step": 10})
    assert result.seeds == [7, 17, 27]
    alone = generate(ext_engine, seed=17)
    assert np.array_equal(pixels(result, 1), pixels(alone))
    positional = generate(ext_engine, script_name="example repeat", script_args=[2])
    assert positional.seeds == [7, 107]


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"script_name": "No such script"}, "not found"),
        ({"script_name": "Example repeat", "script_args": {"repeats": 9}}, "repeats"),
        ({"script_name": "Example repeat", "script_args": [1, 2, 3]}, "takes 2 argument"),
        ({"alwayson_scripts": {"Example repeat": {"args": []}}}, "not always-on"),
    ],
)
def test_bad_script_requests_are_refused_before_queueing(ext_engine, fields, message):
    request = Txt2ImgRequest(prompt="x", steps=1, width=64, height=64, **fields)
    with pytest.raises(ValueError, match=message):
        ext_engine.submit_txt2img(request)


def test_image_saved_and_model_loaded_hooks(ext_engine):
    from sdstudio_extensions.example.plugin import STATE

    result = generate(ext_engine, save_images=True)
    assert STATE.saved[-1] == result.images[0].path.name
    assert STATE.loaded_models >= 1


def test_disable_flags_and_setting(tmp_path, tiny_single_file):
    install_fixture_extensions(tmp_path, "example")
    models = ["--models-dir", str(tiny_single_file.parents[1])]
    none = make_engine(tmp_path, *models, "--disable-all-extensions")
    assert {e.status for e in none.extensions.extensions} == {"disabled"}
    assert set(none.plugins.script_owner.values()) == {BUILTIN_OWNER}  # only the built-in Script menu
    builtin = make_engine(tmp_path, *models, "--disable-extra-extensions")
    assert builtin.extensions.get("example").status == "disabled"
    assert builtin.extensions.get("rembg").status == "loaded"
    builtin.settings.update({"disabled_extensions": "example,lycoris"})
    again = make_engine(tmp_path, *models)
    assert again.extensions.get("example").status == "disabled"
    assert again.extensions.get("lycoris").status == "disabled"
    assert again.extensions.get("rembg").status == "loaded"
    for engine in (none, builtin, again):
        engine.queue.shutdown()
