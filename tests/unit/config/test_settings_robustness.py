"""Settings that cannot be broken: NaN and out-of-range values refused with the reason, a bad value
already in config.json reported and replaced by its default, a broken config.json named with what
to do, two servers on one data dir keeping each other's changes, a read-only data dir refused clearly."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from modules.config.settings import CORE_SETTINGS, Settings, SettingsFileError, SettingSpec, SettingsSaveError
from tests.fixtures.filesystems import make_read_only, small_tmpfs

REPO_ROOT = Path(__file__).resolve().parents[3]
SPECS = [
    SettingSpec("count", 4, "A whole number", kind="slider", minimum=1, maximum=10, step=1),
    SettingSpec("ratio", 0.5, "A fraction", kind="number", minimum=0.0, maximum=1.0),
    SettingSpec("name", "", "A name"),
]


def strict_json(path: Path) -> dict:
    """The file parsed as strict JSON: NaN/Infinity literals are an error."""

    def refuse(literal):
        raise AssertionError(f"{path} holds {literal}")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"eta_noise_seed_delta": "NaN"}, "expected a finite number, got 'NaN'"),
        ({"eta_noise_seed_delta": float("nan")}, "expected a finite number"),
        ({"eta_noise_seed_delta": "inf"}, "expected a finite number"),
        ({"eta_noise_seed_delta": float("-inf")}, "expected a finite number"),
        ({"eta_noise_seed_delta": -1}, "-1 is below the minimum 0"),
        ({"eta_noise_seed_delta": 2**32}, "4294967296 is above the maximum 4294967295"),
        ({"eta_noise_seed_delta": 1.5}, "expected a whole number, got 1.5"),
        ({"eta_noise_seed_delta": "1.5"}, "expected a whole number, got '1.5'"),
        ({"CLIP_stop_at_last_layers": "nan"}, "CLIP_stop_at_last_layers: expected a finite number"),
        ({"image_max_pixels": "lots"}, "expected a number, got 'lots'"),
    ],
)
def test_non_finite_fractional_and_out_of_range_numbers_are_refused_with_the_reason(tmp_path, change, reason):
    path = tmp_path / "config.json"
    settings = Settings(path, CORE_SETTINGS)
    settings.update({"eta_noise_seed_delta": 5})
    before = path.read_bytes()
    with pytest.raises(ValueError, match=reason.replace("(", r"\(")):
        settings.update(change)
    assert path.read_bytes() == before and settings.get("eta_noise_seed_delta") == 5


def test_numeric_strings_are_accepted_with_the_option_type(tmp_path):
    settings = Settings(tmp_path / "config.json", SPECS)
    assert settings.update({"count": " 7 ", "ratio": "0.25"}) == {"count": 7, "ratio": 0.25}
    assert settings.update({"count": "8.0", "ratio": 1}) == {"count": 8, "ratio": 1.0}
    assert type(settings.get("count")) is int and type(settings.get("ratio")) is float
    assert strict_json(tmp_path / "config.json") == {"count": 8, "ratio": 1.0}
    big = 2**53 + 1  # exact as an int, not as a float
    wide = Settings(tmp_path / "wide.json", [SettingSpec("seed", 0, "s", kind="number", maximum=2**64)])
    assert wide.update({"seed": str(big)}) == {"seed": big}
    unbounded = Settings(tmp_path / "unbounded.json", [SettingSpec("scale", 1.0, "s", kind="number")])
    with pytest.raises(ValueError, match="scale: the number is too large"):
        unbounded.update({"scale": 10**400})  # no float holds it


def test_bad_stored_values_are_reported_once_and_their_defaults_used(tmp_path):
    path = tmp_path / "config.json"
    # What a NaN accepted before this fix left behind: Python's json writes and reads NaN literals.
    path.write_text('{"eta_noise_seed_delta": NaN, "CLIP_stop_at_last_layers": 99, "emphasis": 3, "other": NaN}')
    settings = Settings(path, CORE_SETTINGS)
    problems = settings.problems()
    assert len(problems) == 3
    assert any("eta_noise_seed_delta: expected a finite number" in p and "using the default 0" in p for p in problems)
    assert any("CLIP_stop_at_last_layers: 99 is above the maximum 12" in p for p in problems)
    assert any("emphasis: 3 is not one of" in p for p in problems)
    assert all(str(path) in p for p in problems)
    assert settings.get("eta_noise_seed_delta") == 0 and settings.get("CLIP_stop_at_last_layers") == 1
    # A save writes strict JSON: the refused values are dropped (their defaults apply) and nothing is NaN.
    settings.update({"samples_save": False})
    assert strict_json(path) == {"samples_save": False}
    assert Settings(path, CORE_SETTINGS).problems() == []


def test_an_extension_option_with_a_bad_stored_value_is_reported_when_declared(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"ext_strength": 7}))
    settings = Settings(path, SPECS)
    assert settings.problems() == []  # not declared yet: kept as it is
    settings.register([SettingSpec("ext_strength", 1.0, "s", kind="slider", minimum=0, maximum=2)], owner="ext")
    (problem,) = settings.problems()
    assert "ext_strength: 7 is above the maximum 2" in problem and settings.get("ext_strength") == 1.0


@pytest.mark.parametrize(
    "content, says",
    [
        ("", "is empty"),
        ('{"samples_save": tr', "is not valid JSON"),
        ("[1, 2]", "holds a list, not a JSON object"),
        (b"\xff\xfe{}", "cannot read the settings file"),
    ],
    ids=["empty", "truncated", "not-an-object", "not-utf8"],
)
def test_a_broken_settings_file_names_the_file_and_what_to_do(tmp_path, content, says):
    path = tmp_path / "config.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(SettingsFileError) as caught:
        Settings(path, CORE_SETTINGS)
    message = str(caught.value)
    assert says in message and str(path) in message
    assert "fix it, or move it away to start with the default settings" in message
    assert isinstance(caught.value, ValueError)


def test_the_first_save_makes_the_data_dir(tmp_path):
    path = tmp_path / "new" / "data" / "config.json"
    Settings(path, SPECS).update({"count": 2})
    assert strict_json(path) == {"count": 2}


def test_two_settings_objects_on_one_file_keep_each_others_changes(tmp_path):
    path = tmp_path / "config.json"
    first, second = Settings(path, SPECS), Settings(path, SPECS)
    first.update({"count": 3})
    second.update({"name": "b"})
    first.update({"ratio": 0.75})
    assert strict_json(path) == {"count": 3, "name": "b", "ratio": 0.75}
    assert first.get("name") == "b"  # a save also brings in what the other one saved


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from modules.config.settings import Settings, SettingSpec
    prefix = sys.argv[2]
    specs = [SettingSpec(f"{prefix}{i}", "", "x") for i in range(40)]
    settings = Settings(Path(sys.argv[1]), specs)
    for i in range(40):
        settings.update({f"{prefix}{i}": str(i)})
    """
)


def test_two_servers_saving_at_once_lose_nothing(tmp_path):
    path = tmp_path / "config.json"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), prefix], cwd=REPO_ROOT, stderr=subprocess.PIPE)
        for prefix in ("a", "b")
    ]
    for writer in writers:
        assert writer.wait(timeout=120) == 0, writer.stderr.read()
    saved = strict_json(path)
    assert saved == {f"{prefix}{i}": str(i) for prefix in ("a", "b") for i in range(40)}


def test_a_read_only_data_dir_refuses_a_save_with_the_reason(tmp_path):
    data = tmp_path / "data"
    with small_tmpfs(data):
        path = data / "config.json"
        settings = Settings(path, SPECS)
        settings.update({"count": 2})
        make_read_only(data)
        with pytest.raises(SettingsSaveError, match=f"could not save the settings to {path}: Read-only file system"):
            settings.update({"count": 9})
        assert settings.get("count") == 2 and strict_json(path) == {"count": 2}
        assert isinstance(SettingsSaveError("x"), OSError)
