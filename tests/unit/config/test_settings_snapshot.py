"""Settings.snapshot: the frozen values one job reads, with its override_settings checked and applied."""

import pytest

from modules.config.settings import Settings, SettingSpec
from modules.images.infotext import infotext_to_fields, parse_infotext

SPECS = [
    SettingSpec("count", 4, "A count", kind="slider", minimum=1, maximum=10, step=1),
    SettingSpec("mode", "a", "A mode", kind="dropdown", choices=("a", "b")),
]


def test_a_snapshot_keeps_its_values_whatever_changes_later(tmp_path):
    settings = Settings(tmp_path / "config.json", SPECS)
    settings.update({"count": 6})
    snapshot = settings.snapshot({"mode": "b", "count": "9"})
    settings.update({"count": 2, "mode": "a"})
    assert (snapshot.get("count"), snapshot.get("mode")) == (9, "b")  # "9" coerced to the option's type
    assert snapshot.values() == {"count": 9, "mode": "b"}
    assert settings.values() == {"count": 2, "mode": "a"}  # an override is never saved by snapshotting
    with pytest.raises(AttributeError):
        snapshot.count = 1
    with pytest.raises(KeyError, match="nope"):
        snapshot.get("nope")


@pytest.mark.parametrize(
    ("overrides", "named"), [({"nope": 1}, "nope"), ({"count": 11}, "count"), ({"mode": "c"}, "mode")]
)
def test_an_unknown_or_refused_override_is_a_value_error_naming_it(tmp_path, overrides, named):
    settings = Settings(tmp_path / "config.json", SPECS)
    with pytest.raises(ValueError, match=f"override_settings: .*{named}"):
        settings.snapshot(overrides)


def test_infotext_settings_keys_become_override_settings():
    text = "a cat\nSteps: 3, Sampler: Euler a, Seed: 1, Size: 64x64, ENSD: 31337, RNG: GPU, Emphasis: No norm"
    fields = infotext_to_fields(parse_infotext(text))
    assert fields["override_settings"] == {"eta_noise_seed_delta": 31337, "randn_source": "GPU", "emphasis": "No norm"}
    assert "override_settings" not in infotext_to_fields(parse_infotext("a cat\nSteps: 3, Seed: 1, Size: 64x64"))
