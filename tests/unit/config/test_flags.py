from pathlib import Path

from modules.config.flags import parse_flags
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
