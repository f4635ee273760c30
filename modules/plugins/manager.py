"""The plugin manager: load extensions, call their hooks, keep each failure to its extension."""

import importlib
import importlib.machinery
import importlib.util
import logging
import sys
import traceback
from pathlib import Path
from typing import Any

import pluggy

from modules.plugins import hookspecs
from modules.plugins.discovery import PLUGIN_MODULE, ExtensionInfo, find_extensions, load_order

log = logging.getLogger("sdstudio.extensions")
PACKAGE = "sdstudio_extensions"


class ExtensionManager:
    """Holds one pluggy PluginManager. Hooks are called through `call`, one implementation at a
    time, so an exception in one extension is recorded against it and the rest still run."""

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
                self._pm.register(module, name=ext.name)
                self._refuse_wrappers(ext)
                ext.status = "loaded"
            except Exception as error:  # noqa: BLE001 - e.g. a hookimpl with unknown arguments
                self._fail(ext, f"failed to register: {_describe(error)}")
                if self._pm.has_plugin(ext.name):
                    self._pm.unregister(name=ext.name)

    def _disabled_reason(self, ext: ExtensionInfo) -> str | None:
        if self._mode == "none":
            return "disabled by --disable-all-extensions"
        if self._mode == "builtin" and not ext.bundled:
            return "disabled by --disable-extra-extensions"
        if ext.name in self._disabled:
            return "disabled"
        return None

    def _refuse_wrappers(self, ext: ExtensionInfo) -> None:
        for hook_name in self.hook_names():
            for impl in getattr(self._pm.hook, hook_name).get_hookimpls():
                if impl.plugin_name == ext.name and (impl.hookwrapper or impl.wrapper):
                    raise TypeError(f"{hook_name}: hook wrappers are not part of the extension contract")

    def _fail(self, ext: ExtensionInfo, message: str) -> None:
        ext.status = "error"
        ext.errors.append(message)
        log.error("extension %s: %s", ext.name, message)

    # --- calling -------------------------------------------------------------------------
    @staticmethod
    def hook_names() -> list[str]:
        return [name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "sdstudio_spec")]

    def has_impls(self, hook_name: str) -> bool:
        return bool(getattr(self._pm.hook, hook_name).get_hookimpls())

    def call(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call every implementation in order; returns their non-None results. A failing one is
        logged, recorded on its extension and skipped."""
        results = []
        # get_hookimpls() lists tryfirst last; pluggy calls from the end.
        for impl in reversed(getattr(self._pm.hook, hook_name).get_hookimpls()):
            try:
                value = impl.function(*[kwargs[name] for name in impl.argnames])
            except Exception as error:  # noqa: BLE001 - isolation is the point
                self.report_error(impl.plugin_name, f"{hook_name}: {_describe(error)}")
                continue
            if value is not None:
                results.append(value)
        return results

    def collect(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """For hooks that return lists: (extension name, item) for every item returned."""
        items = []
        for impl in reversed(getattr(self._pm.hook, hook_name).get_hookimpls()):
            try:
                value = impl.function(*[kwargs[name] for name in impl.argnames])
                items.extend((impl.plugin_name, item) for item in (value or []))
            except Exception as error:  # noqa: BLE001
                self.report_error(impl.plugin_name, f"{hook_name}: {_describe(error)}")
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
