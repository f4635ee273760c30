"""The plugin manager: load extensions, let pluggy call their hooks, keep each failure to its
extension.

pluggy does the calling (order, `firstresult`, `historic`). Isolation comes from registration:
every implementation is registered as a guard around the extension's function, which records
an exception on the extension (with file and line) and answers None, so pluggy goes on to the
next implementation and the job goes on."""

import functools
import importlib
import importlib.machinery
import importlib.util
import logging
import sys
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy

from modules.jobs import is_out_of_memory
from modules.plugins import hookspecs
from modules.plugins.discovery import PLUGIN_MODULE, ExtensionInfo, find_extensions, load_order

log = logging.getLogger("sdstudio.extensions")
PACKAGE = "sdstudio_extensions"
_MARKER = hookspecs.PROJECT + "_impl"


@dataclass(frozen=True)
class Contribution:
    """What one implementation of a CONTRIBUTION_HOOKS hook returned, with the extension it came from."""

    owner: str
    value: Any


class ExtensionManager:
    """Holds one pluggy PluginManager; `call` and `collect` go through `pm.hook`."""

    def __init__(
        self,
        roots: list[Path],
        bundled: frozenset[Path] = frozenset(),
        disabled: set[str] = frozenset(),
        mode: str = "all",
    ):
        """`roots`: folders holding extension folders; `bundled`: the extension folders that ship
        with the app. `mode`: "all", "builtin" (--disable-extra-extensions) or "none"
        (--disable-all-extensions)."""
        self._roots = roots
        self._bundled = frozenset(p.resolve() for p in bundled)
        self._disabled = set(disabled)
        self._mode = mode
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self.extensions: list[ExtensionInfo] = []

    # --- loading -------------------------------------------------------------------------
    def load(self) -> None:
        _ensure_package()
        self.extensions = load_order(find_extensions(self._roots, self._bundled))
        loaded = set()
        # pluggy calls the most recently registered implementation first: register in
        # reverse so that hooks run in load order.
        to_register = []
        for ext in self.extensions:
            if ext.status == "error":
                continue
            reason = self._disabled_reason(ext)
            if reason:
                ext.enabled, ext.status = False, "disabled"
                if reason != "disabled":  # a flag did it: say which
                    ext.errors.append(reason)
                continue
            missing = [name for name in ext.requires if name not in loaded]
            if missing:
                self._fail(ext, f"requires extension(s) not loaded: {', '.join(missing)}")
                continue
            try:
                module = _import_plugin(ext)
            except Exception as error:  # noqa: BLE001 - any import failure is the extension's
                self._fail(ext, f"failed to load: {_describe(error)}")
                continue
            to_register.append((ext, module))
            loaded.add(ext.name)
        for ext, module in reversed(to_register):
            try:
                self.register(module, name=ext.name)
                ext.status = "loaded"
            except Exception as error:  # noqa: BLE001 - e.g. a hookimpl with unknown arguments
                self._fail(ext, f"failed to register: {_describe(error)}")

    def register(self, plugin: object, name: str, owner: str | None = None, label: str = "") -> None:
        """Register `plugin`'s `@hookimpl` functions (a module or any object), each behind a guard
        that reports its failures on extension `owner` (default: `name`) as "`label`hook: error".
        Raises TypeError for hook wrappers and pluggy's PluginValidationError for a function whose
        arguments the hook does not have; then nothing of `plugin` is registered."""
        owner = owner or name
        if self._pm.has_plugin(name):
            raise ValueError(f"a plugin named {name!r} is already registered")
        guarded = {}
        for attr in dir(plugin):
            function = getattr(plugin, attr, None)
            opts = getattr(function, _MARKER, None) if callable(function) else None
            if not isinstance(opts, dict):
                continue
            if opts.get("wrapper") or opts.get("hookwrapper"):
                raise TypeError(f"{attr}: hook wrappers are not part of the extension contract")
            guarded[attr] = self._guard(function, opts.get("specname") or attr, owner, label)
        # A plain namespace of guards stands in for the plugin; pluggy reads each guard's
        # arguments through functools.wraps (`__wrapped__`) and its options from the copied marker.
        try:
            self._pm.register(types.SimpleNamespace(**guarded), name=name)
        except BaseException:
            self.unregister(name)  # pluggy may have added some implementations before refusing one
            raise

    def unregister(self, name: str) -> None:
        if self._pm.has_plugin(name):
            self._pm.unregister(name=name)

    def _disabled_reason(self, ext: ExtensionInfo) -> str | None:
        if self._mode == "none":
            return "disabled by --disable-all-extensions"
        if self._mode == "builtin" and not ext.bundled:
            return "disabled by --disable-extra-extensions"
        if ext.name in self._disabled:
            return "disabled"
        return None

    def _fail(self, ext: ExtensionInfo, message: str) -> None:
        ext.status = "error"
        ext.errors.append(message)
        log.error("extension %s: %s", ext.name, message)

    # --- calling -------------------------------------------------------------------------
    def _guard(self, function: Callable, hook_name: str, owner: str, label: str) -> Callable:
        collects = hook_name in hookspecs.CONTRIBUTION_HOOKS

        @functools.wraps(function)
        def guarded(*args):
            try:
                value = function(*args)
            except Exception as error:  # noqa: BLE001 - isolation is the point
                if is_out_of_memory(error):  # the job fails as out of memory, not as a broken extension
                    raise
                self.report_error(owner, f"{label}{hook_name}: {_describe(error)}")
                return None
            return Contribution(owner, value) if collects else value

        return guarded

    @staticmethod
    def hook_names() -> list[str]:
        return [name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "sdstudio_spec")]

    def has_impls(self, hook_name: str) -> bool:
        return bool(getattr(self._pm.hook, hook_name).get_hookimpls())

    def call(self, hook_name: str, **kwargs: Any) -> Any:
        """Call the hook the way its spec says. Most hooks: the list of non-None results, in call
        order. `firstresult` hooks: the first non-None result, or None. `historic` hooks: None; the
        call is remembered (only the latest) and replayed to implementations registered later.
        CONTRIBUTION_HOOKS: each implementation's list (`collect` flattens them, with their owners)."""
        hook = getattr(self._pm.hook, hook_name)
        if hook.is_historic():
            history = getattr(hook, "_call_history", None)
            if isinstance(history, list):
                history.clear()  # keep only the latest call: an old model must not be held alive
            hook.call_historic(kwargs=kwargs)
            return None
        if hook_name in hookspecs.CONTRIBUTION_HOOKS:  # as pluggy answers: one list per implementation
            return [c.value for c in hook(**kwargs) if c.value is not None]
        return hook(**kwargs)

    def collect(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """For CONTRIBUTION_HOOKS: (extension name, item) for every item returned."""
        items = []
        for contribution in getattr(self._pm.hook, hook_name)(**kwargs):
            value = contribution.value
            if value is None:
                continue
            if not isinstance(value, list | tuple):
                self.report_error(contribution.owner, f"{hook_name} returned {type(value).__name__}, not a list")
                continue
            items.extend((contribution.owner, item) for item in value)
        return items

    def report_error(self, extension_name: str, message: str) -> None:
        log.error("extension %s: %s", extension_name, message)
        for ext in self.extensions:
            if ext.name == extension_name:
                ext.errors.append(message)
                del ext.errors[:-20]  # a hook failing every step must not grow without bound

    def get(self, name: str) -> ExtensionInfo | None:
        return next((e for e in self.extensions if e.name == name), None)


def _describe(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{where}"


def _ensure_package() -> None:
    """A namespace for extension modules, so `from . import helpers` works inside plugin.py."""
    if PACKAGE not in sys.modules:
        spec = importlib.machinery.ModuleSpec(PACKAGE, None, is_package=True)
        spec.submodule_search_locations = []
        sys.modules[PACKAGE] = importlib.util.module_from_spec(spec)


def _import_plugin(ext: ExtensionInfo):
    """Import EXT/plugin.py as `sdstudio_extensions.<name>.plugin`, EXT being its package."""
    package_name = ext.module_name
    if package_name not in sys.modules:
        init = ext.path / "__init__.py"
        spec = importlib.util.spec_from_file_location(
            package_name, init if init.exists() else None, submodule_search_locations=[str(ext.path)]
        )
        if spec is None:
            spec = importlib.machinery.ModuleSpec(package_name, None, is_package=True)
            spec.submodule_search_locations = [str(ext.path)]
        package = importlib.util.module_from_spec(spec)
        sys.modules[package_name] = package
        try:
            if spec.loader is not None:
                spec.loader.exec_module(package)
        except BaseException:
            del sys.modules[package_name]
            raise
    return importlib.import_module(f"{package_name}.{PLUGIN_MODULE.removesuffix('.py')}")
