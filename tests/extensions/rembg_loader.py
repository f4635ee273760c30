"""Load the bundled rembg extension the way the app does (through the extension manager), and
hand its modules to the tests, so they exercise the loaded code, not a second copy of it."""

import functools
import importlib
from types import SimpleNamespace

from modules.config.paths import BUNDLED_EXTENSIONS_DIR
from modules.plugins.discovery import find_extensions
from modules.plugins.manager import ExtensionManager

FOLDER = BUNDLED_EXTENSIONS_DIR / "rembg"


@functools.cache
def load_rembg() -> SimpleNamespace:
    others = {e.name for e in find_extensions([BUNDLED_EXTENSIONS_DIR]) if e.path.resolve() != FOLDER.resolve()}
    manager = ExtensionManager([BUNDLED_EXTENSIONS_DIR], bundled=frozenset({FOLDER}), disabled=others)
    manager.load()
    info = manager.get("rembg")
    assert info is not None and info.status == "loaded", info and info.errors
    package = info.module_name
    return SimpleNamespace(
        manager=manager,
        info=info,
        plugin=importlib.import_module(f"{package}.plugin"),
        removal=importlib.import_module(f"{package}.removal"),
        onnx_models=importlib.import_module(f"{package}.onnx_models"),
    )
