"""Always-on scripts as hook implementations: one dispatch path for extensions and scripts.

Each stage method an always-on script overrides becomes a `@hookimpl(trylast=True)` of the hook
of the same name, registered once per engine. The job's arguments reach it through
`p.script_args[title]`, which `StageHooks.for_job` fills only for the scripts taking part; a
script without an entry there sits the job out."""

import types

from modules.plugins import hookspecs
from modules.plugins.hookspecs import hookimpl
from modules.plugins.manager import ExtensionManager
from modules.plugins.scripts import STAGE_METHODS, Script


def plugin_name(script: Script) -> str:
    return f"script:{script.title}"


def register_script_hooks(manager: ExtensionManager, script: Script, owner: str) -> list[str]:
    """Register the script's overridden stage methods; returns the stages registered. Failures of
    those methods are reported on `owner` as "<title>.<stage>: <error> (file:line)"."""
    impls = {stage: _stage_impl(script, stage) for stage in STAGE_METHODS if _overrides(script, stage)}
    if impls:
        manager.unregister(plugin_name(script))  # a registry built again for the same manager
        manager.register(
            types.SimpleNamespace(**impls), name=plugin_name(script), owner=owner, label=f"{script.title}."
        )
    return list(impls)


def _overrides(script: Script, stage: str) -> bool:
    return getattr(type(script), stage, None) is not getattr(Script, stage)


def _stage_impl(script: Script, stage: str):
    method = getattr(script, stage)
    spec = getattr(hookspecs, stage)
    names = spec.__code__.co_varnames[: spec.__code__.co_argcount]  # ("p", ...): the hook's arguments
    title = script.title

    def impl(*values):
        kwargs = dict(zip(names, values, strict=True))
        p = kwargs.pop("p")
        args = (getattr(p, "script_args", None) or {}).get(title)
        if args is None:  # not taking part in this job (disabled, or not given to this p)
            return None
        return method(p, args, **kwargs)

    # pluggy reads an implementation's argument names from the function it unwraps to: the
    # hookspec itself, so the implementation takes exactly the hook's arguments, in its order.
    impl.__wrapped__ = spec
    impl.__name__ = impl.__qualname__ = stage
    return hookimpl(trylast=True)(impl)
