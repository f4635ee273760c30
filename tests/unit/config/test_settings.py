"""The settings registry: typed values, all-or-nothing atomic saves, extension options."""

import json

import pytest

from modules.config.settings import Settings, SettingSpec

SPECS = [
    SettingSpec("flag", False, "A flag", kind="checkbox"),
    SettingSpec("count", 4, "A count", kind="slider", minimum=1, maximum=10, step=1),
    SettingSpec("mode", "a", "A mode", kind="dropdown", choices=("a", "b")),
    SettingSpec("name", "", "A name"),
]


def test_defaults_updates_and_persistence(tmp_path):
    path = tmp_path / "config.json"
    settings = Settings(path, SPECS)
    assert settings.values() == {"flag": False, "count": 4, "mode": "a", "name": ""}
    assert settings.update({"flag": "true", "count": 7.0, "mode": "b"}) == {"flag": True, "count": 7, "mode": "b"}
    assert json.loads(path.read_text()) == {"count": 7, "flag": True, "mode": "b"}
    reopened = Settings(path, SPECS)
    assert reopened.get("count") == 7 and reopened.get("flag") is True


@pytest.mark.parametrize(
    "change, message",
    [
        ({"count": 11}, "above the maximum"),
        ({"count": "lots"}, "expected a number"),
        ({"mode": "c"}, "not one of"),
        ({"flag": "maybe"}, "true or false"),
        ({"nope": 1}, "unknown setting"),
    ],
)
def test_a_bad_value_changes_nothing(tmp_path, change, message):
    path = tmp_path / "config.json"
    settings = Settings(path, SPECS)
    settings.update({"name": "kept"})
    before = path.read_bytes()
    with pytest.raises((ValueError, KeyError), match=message):
        settings.update({"name": "changed", **change})
    assert path.read_bytes() == before and settings.get("name") == "kept"
    # No temp file left behind (the lock file that serialises saves between servers stays).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "config.json.lock"]


def test_values_of_unregistered_keys_survive_a_save(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"from_a_disabled_extension": 3}))
    settings = Settings(path, SPECS)
    settings.update({"flag": True})
    assert json.loads(path.read_text())["from_a_disabled_extension"] == 3


def test_duplicate_declarations_are_refused_and_broken_files_reported(tmp_path):
    settings = Settings(tmp_path / "config.json", SPECS)
    assert settings.register([SettingSpec("flag", True, "again")], owner="ext") == [
        "ext: setting 'flag' is already declared"
    ]
    assert settings.get("flag") is False
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        Settings(tmp_path / "bad.json", SPECS)
