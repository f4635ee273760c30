"""Built-in Script-menu scripts (A1111's scripts/ folder): written against the same Script contract
third-party extensions use (modules/plugins/scripts.py), registered before the extensions' own.

Every module in this folder is imported and each Script subclass it defines (with a title) is a
built-in; so is each Extras PostprocessingStep a module holds (A1111 keeps its Extras steps,
postprocessing_*.py, here too). Helpers live in modules whose names start with "_" (not scanned).
"""

import importlib
import inspect
import pkgutil

# A1111's Script-menu order; a built-in not named here comes after these.
MENU_ORDER = (
    "Prompt matrix",
    "Prompts from file or textbox",
    "X/Y/Z plot",
    "Loopback",
    "Outpainting mk2",
    "Poor man's outpainting",
    "SD upscale",
)


def _modules():
    for module_info in pkgutil.iter_modules(__path__):
        if not module_info.name.startswith("_"):
            yield importlib.import_module(f"{__name__}.{module_info.name}")


def builtin_scripts() -> list[type]:
    """The built-in Script classes, in A1111's menu order."""
    from modules.plugins.scripts import Script

    found = []
    for module in _modules():
        for _, value in inspect.getmembers(module, inspect.isclass):
            defined_here = value.__module__ == module.__name__
            if defined_here and issubclass(value, Script) and value is not Script and value.title:
                found.append(value)
    order = {title: index for index, title in enumerate(MENU_ORDER)}
    return sorted(found, key=lambda cls: (order.get(cls.title, len(order)), cls.title))


def builtin_steps() -> list:
    """The built-in Extras steps (PostprocessingStep instances), by their order."""
    from modules.plugins.types import PostprocessingStep

    found = [value for module in _modules() for value in vars(module).values() if isinstance(value, PostprocessingStep)]
    return sorted(found, key=lambda step: step.order)
