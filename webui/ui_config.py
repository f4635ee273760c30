"""A1111's ui-config.json: every input control's default value (and a slider's or number box's
minimum, maximum and step, and every control's visibility), keyed "<tab>/<label>/<field>".

Applied to the built Blocks before the page is served (Gradio builds the page's config from the
components' attributes when the Blocks are mounted). Written when missing and whenever a newer
version added controls, atomically; a user's value that is wrong is ignored with a warning, never
fatal, and a file that is not JSON is left as it is."""

import json
import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from modules.atomic import write_text_atomic

FILE_NAME = "ui-config.json"
# Tabs whose controls show state kept elsewhere, not knobs with defaults: the Settings tab's
# values are config.json's (A1111 keeps them out too), the Extensions tab's the enabled list, the
# output browser's the folders on disk. A stored copy would show a stale state after a restart.
SKIPPED_TABS = frozenset({"settings", "extensions", "outputs"})


@dataclass(frozen=True)
class Control:
    key: str  # "txt2img/Sampling steps", without the field
    component: object


def ui_config_path(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def apply_ui_config(blocks, path: Path, warn: Callable[[str], None] | None = None) -> dict:
    """Read `path`, apply its valid entries to the controls of `blocks`, add the missing keys
    (written back when any was missing); returns the file's content as it stands now."""
    warn = warn or _print_warning
    stored, readable = _read(path, warn)
    merged = dict(stored)
    for control in controls_of(blocks):
        for field, default in current_fields(control.component).items():
            merged.setdefault(f"{control.key}/{field}", default)
        apply_fields(control, stored, warn)
    if readable and merged.keys() != stored.keys():
        try:
            write_text_atomic(path, json.dumps(merged, indent=4, ensure_ascii=False) + "\n")
        except OSError as error:  # a read-only data dir: the UI still starts, with its defaults
            warn(f"{path.name}: could not be written ({error.strerror or error})")
    return merged


def _read(path: Path, warn: Callable[[str], None]) -> tuple[dict, bool]:
    """(entries, whether the file may be (re)written): a broken file is the user's to fix, kept."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, True
    except OSError as error:
        warn(f"{path.name}: could not be read ({error.strerror or error}); using the built-in defaults")
        return {}, False
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        warn(f"{path.name}: not valid JSON ({error}); using the built-in defaults and leaving the file as it is")
        return {}, False
    if not isinstance(data, dict):
        warn(f"{path.name}: not a JSON object; using the built-in defaults and leaving the file as it is")
        return {}, False
    return data, True


def controls_of(blocks) -> list[Control]:
    """The input controls inside the top-level tabs, each with a key unique in the file: the
    control's label, or its elem_id when it has none; a repeated one gets its elem_id (else a
    number) appended, as "txt2img/Width [txt2img_hr_width]"."""
    controls, used = [], set()
    for tab, component in _walk(blocks, None):
        if tab is None or tab in SKIPPED_TABS or not _is_control(component):
            continue
        label = getattr(component, "label", None)
        elem_id = getattr(component, "elem_id", None)
        name = str(label) if isinstance(label, str) and label.strip() else elem_id
        if not name:
            continue  # nothing stable to key it by
        key = f"{tab}/{name}"
        if key in used:
            key = f"{tab}/{name} [{elem_id}]" if elem_id and name != elem_id else key
            number = 2
            while key in used:
                key, number = f"{tab}/{name} ({number})", number + 1
        used.add(key)
        controls.append(Control(key, component))
    return controls


def _walk(block, tab: str | None) -> Iterator[tuple[str | None, object]]:
    import gradio as gr

    for child in getattr(block, "children", None) or []:
        child_tab = tab
        if tab is None and isinstance(child, gr.Tab):
            child_tab = _tab_path(child)
        yield child_tab, child
        yield from _walk(child, child_tab)


def _tab_path(tab) -> str:
    """A1111's path: the tab's id ("txt2img", "extras"), else its elem_id or label."""
    for name in (tab.id, tab.elem_id, tab.label):
        if isinstance(name, str) and name:
            return name
    return "tab"


def _is_control(component) -> bool:
    import gradio as gr

    kinds = (gr.Slider, gr.Number, gr.Checkbox, gr.Radio, gr.Dropdown, gr.Textbox, gr.CheckboxGroup, gr.ColorPicker)
    if not isinstance(component, kinds) or getattr(component, "interactive", None) is False:
        return False
    # visible="hidden": kept in the page for scripts to talk to the server, never shown; not a knob.
    return getattr(component, "visible", True) != "hidden"


def _has_range(component) -> bool:
    import gradio as gr

    return isinstance(component, gr.Slider | gr.Number)


def current_fields(component) -> dict:
    """The fields the file holds for one control, at their values now."""
    fields = {"value": _json_value(component.value)}
    if _has_range(component):
        fields.update(minimum=component.minimum, maximum=component.maximum, step=component.step)
    fields["visible"] = component.visible is True
    return fields


def _json_value(value):
    return list(value) if isinstance(value, tuple) else value


def apply_fields(control: Control, stored: dict, warn: Callable[[str], None]) -> None:
    component = control.component
    entry = {
        field: stored[f"{control.key}/{field}"]
        for field in current_fields(component)
        if f"{control.key}/{field}" in stored
    }
    if "visible" in entry:
        if isinstance(entry["visible"], bool):
            component.visible = entry["visible"]
        else:
            warn(f"{control.key}/visible: {entry['visible']!r} is not true or false; ignored")
    if _has_range(component):
        _apply_range(control, entry, warn)
    if "value" in entry:
        problem = value_problem(component, entry["value"])
        if problem:
            warn(f"{control.key}/value: {entry['value']!r} {problem}; ignored")
        else:
            component.value = _as_stored(component, entry["value"])


def _apply_range(control: Control, entry: dict, warn: Callable[[str], None]) -> None:
    component = control.component
    wanted = {field: entry.get(field, getattr(component, field)) for field in ("minimum", "maximum", "step")}
    for field in ("minimum", "maximum", "step"):
        unbounded = field != "step" and entry.get(field, 0) is None  # a number box may have no bound
        if field in entry and not _is_number(entry[field]) and not unbounded:
            warn(f"{control.key}/{field}: {entry[field]!r} is not a number; ignored")
            wanted[field] = getattr(component, field)
    low, high, step = wanted["minimum"], wanted["maximum"], wanted["step"]
    if low is not None and high is not None and low > high:
        warn(f"{control.key}: minimum {low} is above maximum {high}; the range is left as it was")
        return
    if step is not None and step <= 0:
        warn(f"{control.key}/step: {step} is not above 0; ignored")
        step = component.step
    value = entry.get("value", component.value)
    if _is_number(value) and not _within(value, low, high) and not _within(component.value, low, high):
        warn(
            f"{control.key}: the default {component.value} would lie outside {low}..{high}; the range is left as it was"
        )
        return
    component.minimum, component.maximum, component.step = low, high, step


def value_problem(component, value) -> str | None:
    """Why `value` cannot be this control's default, or None."""
    import gradio as gr

    if value is None and component.value is None:
        return None  # an empty box stays empty
    if _has_range(component):
        if not _is_number(value):
            return "is not a number"
        if getattr(component, "precision", None) == 0 and value != int(value):
            return "is not a whole number"
        if component.minimum is not None and value < component.minimum:
            return f"is below its minimum {component.minimum}"
        if component.maximum is not None and value > component.maximum:
            return f"is above its maximum {component.maximum}"
        return None
    if isinstance(component, gr.Checkbox):
        return None if isinstance(value, bool) else "is not true or false"
    if isinstance(component, gr.Textbox | gr.ColorPicker):
        return None if isinstance(value, str) or value is None else "is not text"
    choices = [choice[1] if isinstance(choice, tuple | list) else choice for choice in component.choices or []]
    allows_custom = getattr(component, "allow_custom_value", False)
    if isinstance(component, gr.CheckboxGroup) or getattr(component, "multiselect", False):
        if not isinstance(value, list):
            return "is not a list"
        unknown = [item for item in value if item not in choices]
        return None if allows_custom or not unknown else f"names {unknown!r}, not among the choices"
    if value is None or value in choices or (allows_custom and isinstance(value, str)):
        return None
    return "is not one of the choices"


def _as_stored(component, value):
    import gradio as gr

    if isinstance(component, gr.Number) and getattr(component, "precision", None) == 0:
        return int(value)
    return value


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _within(value, low, high) -> bool:
    return _is_number(value) and (low is None or value >= low) and (high is None or value <= high)


def _print_warning(message: str) -> None:
    print(f"Warning: {message}", file=sys.stderr, flush=True)
