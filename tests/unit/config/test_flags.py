from pathlib import Path

import pytest

from modules.config.flags import comma_list, parse_flags
from modules.config.paths import Paths


def test_a1111_flag_defaults():
    flags = parse_flags([])
    assert (flags.port, flags.server_name, flags.api) == (7860, "127.0.0.1", False)
    api_only = parse_flags(["--nowebui"])
    assert (api_only.port, api_only.api) == (7861, True)
    listening = parse_flags(["--listen", "--port", "9000", "--use-cpu", "all", "--device-id", "1"])
    assert (listening.server_name, listening.port, listening.use_cpu, listening.device_id) == (
        "0.0.0.0",
        9000,
        ["all"],
        "1",
    )


def test_data_dir_and_ckpt_dir_set_the_paths(tmp_path):
    paths = Paths.from_flags(parse_flags(["--data-dir", str(tmp_path), "--ckpt-dir", str(tmp_path / "more")]))
    assert paths.models_dir == tmp_path / "models"
    assert paths.outputs_dir == tmp_path / "outputs"
    assert paths.checkpoint_dirs == (tmp_path / "models" / "Stable-diffusion", Path(tmp_path / "more"))


def test_security_flags_default_to_a_local_server_without_login():
    flags = parse_flags([])
    assert (flags.gradio_auth, flags.gradio_auth_path, flags.api_auth, flags.insecure) == (None, None, None, False)
    assert (flags.allowed_hosts, flags.cors_allow_origins, flags.cors_allow_origins_regex) == ("", "", None)
    assert flags.max_body_size == 64
    given = parse_flags(["--api-auth", "a:b", "--cors-allow-origins", "http://x, http://y", "--max-body-size", "8"])
    assert comma_list(given.cors_allow_origins) == ["http://x", "http://y"] and given.max_body_size == 8


def test_every_flag_that_carries_a_secret_says_auth():
    # /sdapi/v1/cmd-flags masks flags whose name contains "auth".
    secret = {"gradio_auth", "gradio_auth_path", "api_auth"}
    assert secret <= set(vars(parse_flags([]))) and all("auth" in name for name in secret)


@pytest.mark.parametrize("value", ["0", "-1", "lots"])
def test_max_body_size_must_be_a_positive_number(value, capsys):
    with pytest.raises(SystemExit):
        parse_flags(["--max-body-size", value])
    assert "--max-body-size" in capsys.readouterr().err
