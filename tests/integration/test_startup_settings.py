"""Start-up with a damaged config.json: a broken file stops with a message naming it (no
traceback); a bad stored value is reported and its default used, and the server serves."""

import json

import pytest
import requests

from tests.server import RunningServer, ServerExited

API_ONLY = ["--api", "--nowebui", "--no-demo-model", "--no-model-preload"]


@pytest.mark.parametrize("content", ["", '{"samples_save": tru', "[1, 2]"])
def test_an_empty_or_truncated_config_stops_start_up_saying_which_file_and_what_to_do(tmp_path, content):
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(ServerExited) as exited:
        RunningServer([*API_ONLY, "--data-dir", str(tmp_path)], tmp_path / "server.log", timeout=60)
    assert exited.value.returncode == 1
    assert str(tmp_path / "config.json") in exited.value.log and "move it away" in exited.value.log
    assert "Traceback" not in exited.value.log
    assert (tmp_path / "config.json").read_text() == content  # nothing overwritten


def test_a_bad_stored_value_is_reported_at_start_and_its_default_used(tmp_path):
    (tmp_path / "config.json").write_text('{"eta_noise_seed_delta": NaN, "CLIP_stop_at_last_layers": 2}')
    server = RunningServer([*API_ONLY, "--data-dir", str(tmp_path)], tmp_path / "server.log", timeout=60)
    try:
        options = requests.get(server.url + "/sdapi/v1/options", timeout=10).json()
        assert options["eta_noise_seed_delta"] == 0 and options["CLIP_stop_at_last_layers"] == 2
        assert "eta_noise_seed_delta" in server.log() and "Settings:" in server.log()
        refused = requests.post(server.url + "/sdapi/v1/options", json={"eta_noise_seed_delta": "NaN"}, timeout=10)
        assert refused.status_code == 422 and "eta_noise_seed_delta" in refused.text
        assert requests.post(server.url + "/sdapi/v1/options", json={"CLIP_stop_at_last_layers": 3}, timeout=10).ok
        saved = json.loads((tmp_path / "config.json").read_text())  # the next save drops the bad value
        assert saved["CLIP_stop_at_last_layers"] == 3 and saved.get("eta_noise_seed_delta") in (None, 0)
    finally:
        server.stop()
