"""pluggy does the calling: typed hookspecs, firstresult, historic, contributions, per-extension
error isolation, and always-on scripts registered as hook implementations."""

import inspect
import subprocess
import sys
import types
from pathlib import Path

import pytest
from pydantic import BaseModel

from modules.config.settings import Settings
from modules.plugins import hookimpl, hookspecs
from modules.plugins.manager import ExtensionManager
from modules.plugins.registry import BUILTIN_OWNER, PluginRegistry
from modules.plugins.script_hooks import register_script_hooks
from modules.plugins.scripts import Script, ScriptArgsError
from tests.unit.plugins.test_manager import make_extension

REPO = Path(__file__).resolve().parents[3]


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def loaded(tmp_path: Path, **plugins: str) -> ExtensionManager:
    for name, source in plugins.items():
        make_extension(tmp_path, name, source)
    manager = ExtensionManager([tmp_path])
    manager.load()
    return manager


# --- the contract is typed ---------------------------------------------------------------


def test_every_hookspec_is_annotated():
    for name in ExtensionManager.hook_names():
        spec = getattr(hookspecs, name)
        signature = inspect.signature(spec)
        assert signature.return_annotation is not inspect.Signature.empty, name
        for param in signature.parameters.values():
            assert param.annotation is not inspect.Parameter.empty, f"{name}({param.name})"
    assert inspect.signature(hookspecs.before_process).parameters["p"].annotation == "ProcessingContext"
    assert inspect.signature(hookspecs.post_sample).return_annotation == "torch.Tensor | None"


def test_spec_options_firstresult_and_historic():
    manager = ExtensionManager([])
    assert manager._pm.hook.post_sample.spec.opts["firstresult"]
    assert manager._pm.hook.model_loaded.is_historic()
    assert not manager._pm.hook.before_process.spec.opts["firstresult"]


def test_loading_the_contract_imports_neither_torch_nor_the_engine():
    code = (
        "import sys, modules.plugins, modules.plugins.manager, modules.plugins.registry;"
        "print('torch' in sys.modules, 'modules.engine' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["False", "False"], done.stderr


# --- firstresult ---------------------------------------------------------------------------


def test_firstresult_uses_the_first_value_and_skips_the_rest(tmp_path):
    manager = loaded(
        tmp_path,
        dispatch_1_raises="""
        from modules.plugins import hookimpl

        @hookimpl
        def post_sample(p, latents):
            raise RuntimeError("broken on purpose")
        """,
        dispatch_2_returns="""
        from modules.plugins import hookimpl

        @hookimpl
        def post_sample(p, latents):
            p.append("b")
            return latents + 1
        """,
        dispatch_3_after="""
        from modules.plugins import hookimpl

        @hookimpl
        def post_sample(p, latents):
            p.append("c")
            return latents + 100
        """,
    )
    seen = []
    assert manager.call("post_sample", p=seen, latents=1) == 2
    assert seen == ["b"]  # c comes after the first result: not called
    (error,) = manager.get("dispatch_1_raises").errors
    where = line_of(tmp_path / "dispatch_1_raises" / "plugin.py", "broken on purpose")
    assert error == f"post_sample: RuntimeError: broken on purpose (plugin.py:{where})"


def test_firstresult_with_no_value_answers_none(tmp_path):
    manager = loaded(
        tmp_path, dispatch_quiet="from modules.plugins import hookimpl\n\n@hookimpl\ndef post_sample(p):\n    pass\n"
    )
    assert manager.call("post_sample", p=None, latents=1) is None


def test_a_raising_hook_does_not_stop_the_others_and_names_file_and_line(tmp_path):
    manager = loaded(
        tmp_path,
        dispatch_first="""
        from modules.plugins import hookimpl

        @hookimpl
        def postprocess_image(p, params):
            params.append("first")
        """,
        dispatch_second="""
        from modules.plugins import hookimpl

        def helper(params):
            return params["missing"]

        @hookimpl
        def postprocess_image(p, params):
            helper({})
        """,
        dispatch_third="""
        from modules.plugins import hookimpl

        @hookimpl
        def postprocess_image(p, params):
            params.append("third")
        """,
    )
    params = []
    manager.call("postprocess_image", p=None, params=params)
    assert params == ["first", "third"]
    where = line_of(tmp_path / "dispatch_second" / "plugin.py", 'return params["missing"]')
    assert manager.get("dispatch_second").errors == [f"postprocess_image: KeyError: 'missing' (plugin.py:{where})"]
    assert manager.get("dispatch_second").status == "loaded"


# --- historic ------------------------------------------------------------------------------


def test_model_loaded_reaches_implementations_registered_later_with_the_latest_model(tmp_path):
    manager = loaded(
        tmp_path,
        dispatch_early="""
        from modules.plugins import hookimpl

        SEEN = []

        @hookimpl
        def model_loaded(model):
            SEEN.append(model)
        """,
    )
    manager.call("model_loaded", model="first model")
    manager.call("model_loaded", model="second model")
    late_seen = []

    class Late:
        @hookimpl
        def model_loaded(self, model):
            late_seen.append(model)

    manager.register(Late(), name="late")
    # Only the latest model is replayed: a replaced model is not held alive by the history.
    assert late_seen == ["second model"]
    manager.call("model_loaded", model="third model")
    assert late_seen == ["second model", "third model"]
    assert sys.modules["sdstudio_extensions.dispatch_early.plugin"].SEEN == [
        "first model",
        "second model",
        "third model",
    ]


def test_a_late_model_loaded_that_raises_is_reported_and_stays_registered(tmp_path):
    make_extension(tmp_path, "dispatch_host", "")
    manager = ExtensionManager([tmp_path])
    manager.load()
    manager.call("model_loaded", model="m")

    def model_loaded(model):
        raise ValueError(f"cannot use {model}")

    manager.register(types.SimpleNamespace(model_loaded=hookimpl(model_loaded)), name="late", owner="dispatch_host")
    assert manager.get("dispatch_host").errors == [
        f"model_loaded: ValueError: cannot use m (test_dispatch.py:{line_of(Path(__file__), 'cannot use {model}')})"
    ]
    assert manager.has_impls("model_loaded")


def test_registering_a_name_twice_keeps_the_first(tmp_path):
    manager = loaded(
        tmp_path, dispatch_one="from modules.plugins import hookimpl\n\n@hookimpl\ndef process(p):\n    p.append(1)\n"
    )
    with pytest.raises(ValueError, match="already registered"):
        manager.register(types.SimpleNamespace(), name="dispatch_one")
    seen = []
    manager.call("process", p=seen)
    assert seen == [1]


# --- contributions -------------------------------------------------------------------------


def test_contributions_keep_their_owner_and_a_non_list_is_reported(tmp_path):
    manager = loaded(
        tmp_path,
        dispatch_good="""
        from modules.plugins import hookimpl

        @hookimpl
        def postprocessing_steps():
            return ["step a", "step b"]
        """,
        dispatch_bad="""
        from modules.plugins import hookimpl

        @hookimpl
        def postprocessing_steps():
            return "not a list"
        """,
    )
    assert manager.collect("postprocessing_steps") == [("dispatch_good", "step a"), ("dispatch_good", "step b")]
    assert "postprocessing_steps returned str, not a list" in manager.get("dispatch_bad").errors[0]
    assert manager.call("postprocessing_steps") == ["not a list", ["step a", "step b"]]  # load order: bad, good


# --- always-on scripts are hook implementations ------------------------------------------


class CountArgs(BaseModel):
    enabled: bool = True
    label: str = "counted"


class Counter(Script):
    title = "Counter"
    alwayson = True
    Args = CountArgs

    def process(self, p, args):
        p.seen.append(f"script process {args.label}")

    def before_process_batch(self, p, args, batch_index, prompts, seeds):
        prompts.append(f"{args.label} {batch_index} {seeds}")

    def postprocess_image(self, p, args, params):
        raise RuntimeError("script broke on purpose")


class Job:
    def __init__(self, script_args):
        self.script_args = script_args
        self.seen = []


def test_alwayson_script_stage_methods_are_reached_by_the_hook_call(tmp_path):
    manager = loaded(
        tmp_path,
        dispatch_owner="""
        from modules.plugins import hookimpl

        @hookimpl
        def process(p):
            p.seen.append("extension process")
        """,
    )
    assert register_script_hooks(manager, Counter(), owner="dispatch_owner") == [
        "process",
        "before_process_batch",
        "postprocess_image",
    ]
    assert not manager.has_impls("cfg_denoiser")  # only what the script overrides is registered
    taking_part = Job({"Counter": CountArgs(label="x")})
    manager.call("process", p=taking_part)
    assert taking_part.seen == ["extension process", "script process x"]  # scripts after extensions
    prompts = ["a"]
    manager.call("before_process_batch", p=taking_part, batch_index=1, prompts=prompts, seeds=[5])
    assert prompts == ["a", "x 1 [5]"]
    sitting_out = Job({})
    manager.call("process", p=sitting_out)
    assert sitting_out.seen == ["extension process"]
    manager.call("postprocess_image", p=taking_part, params=None)
    where = line_of(Path(__file__), "script broke on purpose")
    assert manager.get("dispatch_owner").errors == [
        f"Counter.postprocess_image: RuntimeError: script broke on purpose (test_dispatch.py:{where})"
    ]


SCRIPTS_PLUGIN = """
from pydantic import BaseModel
from modules.plugins import Script, hookimpl


class Img2imgOnly(Script):
    title = "Img2img only"
    modes = ("img2img",)


class Marker(Script):
    title = "Marker"
    alwayson = True

    def process(self, p, args):
        p.seen.append("marker")


class BadModes(Script):
    title = "Bad modes"
    modes = ("txt2vid",)


@hookimpl
def scripts():
    return [Img2imgOnly, Marker, BadModes]
"""


def test_registry_registers_alwayson_scripts_and_checks_modes(tmp_path):
    manager = loaded(tmp_path / "ext", dispatch_scripted=SCRIPTS_PLUGIN)
    registry = PluginRegistry.build(manager, Settings(tmp_path / "config.json"), tmp_path)

    def from_extensions(mode):  # the built-in scripts (scripts/) come first; these are the extension's
        return [s.title for s in registry.scripts_for(mode) if registry.script_owner[s.title] != BUILTIN_OWNER]

    assert from_extensions("txt2img") == ["Marker"]
    assert from_extensions("img2img") == ["Img2img only", "Marker"]
    assert "modes must be some of" in " ".join(manager.get("dispatch_scripted").errors)
    with pytest.raises(ScriptArgsError, match="does not run in txt2img"):
        registry.validate_script_args("img2img only", None, {})
    registry.validate_script_args("img2img only", None, {}, mode="img2img")
    job = Job({"Marker": registry.find_script("Marker").Args()})
    manager.call("process", p=job)
    assert job.seen == ["marker"]
    # A registry built again on the same manager replaces the registration instead of failing.
    PluginRegistry.build(manager, Settings(tmp_path / "config.json"), tmp_path)
    job.seen.clear()
    manager.call("process", p=job)
    assert job.seen == ["marker"]


def test_script_modes_default_to_both():
    assert Script.modes == ("txt2img", "img2img")
