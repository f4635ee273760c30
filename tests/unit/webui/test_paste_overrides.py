"""Pasted settings as Override settings entries and back: Clip skip is one of them, never the global setting."""

import pytest

from tests.conftest import make_engine
from webui.components.paste import override_entries_for, overrides_from_entries


@pytest.fixture
def engine(tmp_path):
    return make_engine(tmp_path)  # its own settings: a shared engine's may have been changed


def test_pasted_clip_skip_becomes_an_override_entry_and_back(engine):
    assert engine.settings.get("CLIP_stop_at_last_layers") == 1
    entries = override_entries_for(engine, {"CLIP_stop_at_last_layers": 2, "eta_noise_seed_delta": 31337})
    assert entries == ["Clip skip: 2", "ENSD: 31337"]
    assert overrides_from_entries(engine, entries) == {"CLIP_stop_at_last_layers": 2, "eta_noise_seed_delta": 31337}
    assert engine.settings.get("CLIP_stop_at_last_layers") == 1


def test_values_equal_to_the_current_settings_make_no_entry(engine):
    assert override_entries_for(engine, {"CLIP_stop_at_last_layers": 1}) == []
