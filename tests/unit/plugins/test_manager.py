"""Discovery, metadata, ordering, disabling and error isolation of the plugin manager."""

import textwrap
from pathlib import Path

from modules.plugins.discovery import find_extensions, load_order
from modules.plugins.manager import ExtensionManager


def make_extension(root: Path, folder: str, plugin: str, toml: str = "") -> Path:
    path = root / folder
    path.mkdir(parents=True)
    (path / "plugin.py").write_text(textwrap.dedent(plugin))
    if toml:
        (path / "extension.toml").write_text(textwrap.dedent(toml))
    return path


RECORDER = """
from modules.plugins import hookimpl

CALLS = []

@hookimpl
def before_process(p):
    p.append("{name}")
"""


def test_discovery_reads_metadata_and_skips_folders_without_plugin(tmp_path):
    make_extension(tmp_path, "alpha", "", 'name = "Alpha"\nversion = "1.2"\nrequires = "beta"\nafter = ["beta"]\n')
    (tmp_path / "not-an-extension").mkdir()
    (tmp_path / ".hidden").mkdir()
    found = find_extensions([tmp_path])
    assert [e.name for e in found] == ["Alpha"]
    assert found[0].version == "1.2" and found[0].requires == ("beta",) and found[0].after == ("beta",)


def test_bad_metadata_is_reported_not_fatal(tmp_path):
    make_extension(tmp_path, "gamma", "", "name = [unclosed\n")
    (info,) = find_extensions([tmp_path])
    assert info.name == "gamma" and "extension.toml" in info.errors[0]


def test_load_order_respects_before_and_after_and_reports_cycles(tmp_path):
    make_extension(tmp_path, "a", "", 'after = ["c"]')
    make_extension(tmp_path, "b", "", 'before = ["a"]')
    make_extension(tmp_path, "c", "")
    assert [e.name for e in load_order(find_extensions([tmp_path]))] == ["b", "c", "a"]
    cyc = tmp_path / "cycle"
    make_extension(cyc, "x", "", 'after = ["y"]')
    make_extension(cyc, "y", "", 'after = ["x"]')
    ordered = load_order(find_extensions([cyc]))
    assert [e.name for e in ordered] == ["x", "y"]
    assert "cycle" in ordered[0].errors[0]


def test_hooks_run_in_load_order_and_failures_are_isolated(tmp_path):
    make_extension(tmp_path, "first", RECORDER.format(name="first"), 'before = ["second"]')
    make_extension(tmp_path, "second", RECORDER.format(name="second"))
    make_extension(
        tmp_path,
        "angry",
        """
        from modules.plugins import hookimpl

        @hookimpl
        def before_process(p):
            raise KeyError("boom")
        """,
        'after = ["first"]\nbefore = ["second"]',
    )
    manager = ExtensionManager([tmp_path])
    manager.load()
    seen = []
    manager.call("before_process", p=seen)
    assert seen == ["first", "second"]
    angry = manager.get("angry")
    assert angry.status == "loaded" and "before_process: KeyError: 'boom'" in angry.errors[0]


def test_tryfirst_overrides_load_order(tmp_path):
    make_extension(tmp_path, "a", RECORDER.format(name="a"))
    make_extension(
        tmp_path,
        "b",
        """
        from modules.plugins import hookimpl

        @hookimpl(tryfirst=True)
        def before_process(p):
            p.append("b")
        """,
    )
    manager = ExtensionManager([tmp_path])
    manager.load()
    seen = []
    manager.call("before_process", p=seen)
    assert seen == ["b", "a"]


def test_import_errors_missing_requirements_wrappers_and_unknown_arguments(tmp_path):
    make_extension(tmp_path, "broken", "raise ImportError('needs a missing package')")
    make_extension(tmp_path, "needy", RECORDER.format(name="needy"), 'requires = ["broken"]')
    make_extension(
        tmp_path,
        "wrapper",
        """
        from modules.plugins import hookimpl

        @hookimpl(wrapper=True)
        def before_process(p):
            return (yield)
        """,
    )
    make_extension(
        tmp_path,
        "typo",
        """
        from modules.plugins import hookimpl

        @hookimpl
        def before_process(p, not_an_argument):
            pass
        """,
    )
    make_extension(tmp_path, "fine", RECORDER.format(name="fine"))
    manager = ExtensionManager([tmp_path])
    manager.load()
    status = {e.name: (e.status, " ".join(e.errors)) for e in manager.extensions}
    assert status["broken"] == ("error", "failed to load: ImportError: needs a missing package (plugin.py:1)")
    assert status["needy"][0] == "error" and "broken" in status["needy"][1]
    assert status["wrapper"][0] == "error" and "wrappers" in status["wrapper"][1]
    assert status["typo"][0] == "error" and "not_an_argument" in status["typo"][1]
    seen = []
    manager.call("before_process", p=seen)
    assert seen == ["fine"]


def test_disabled_and_modes(tmp_path):
    bundled = make_extension(tmp_path, "builtin", RECORDER.format(name="builtin"))
    make_extension(tmp_path, "user", RECORDER.format(name="user"))
    for mode, disabled, expected in [
        ("all", set(), ["builtin", "user"]),
        ("all", {"user"}, ["builtin"]),
        ("builtin", set(), ["builtin"]),
        ("none", set(), []),
    ]:
        manager = ExtensionManager([tmp_path], bundled=frozenset({bundled}), disabled=disabled, mode=mode)
        manager.load()
        seen = []
        manager.call("before_process", p=seen)
        assert seen == expected, mode


def test_user_copy_cannot_shadow_a_bundled_extension(tmp_path):
    shipped = make_extension(tmp_path / "shipped", "tool", RECORDER.format(name="shipped"))
    make_extension(tmp_path / "user", "tool", RECORDER.format(name="user copy"))
    manager = ExtensionManager([tmp_path / "user", tmp_path / "shipped"], bundled=frozenset({shipped}))
    manager.load()
    seen = []
    manager.call("before_process", p=seen)
    assert seen == ["shipped"]
    assert any("already loaded" in " ".join(e.errors) for e in manager.extensions if e.status == "error")


def test_relative_imports_inside_an_extension(tmp_path):
    make_extension(
        tmp_path,
        "pkg",
        """
        from modules.plugins import hookimpl
        from .helpers import label

        @hookimpl
        def before_process(p):
            p.append(label())
        """,
    )
    (tmp_path / "pkg" / "helpers.py").write_text("def label():\n    return 'from helpers'\n")
    manager = ExtensionManager([tmp_path])
    manager.load()
    seen = []
    manager.call("before_process", p=seen)
    assert seen == ["from helpers"]
