"""The gallery's Open folder button is on the page only when the server listens on this machine
alone: a user elsewhere must not open windows on the server's desktop."""

import pytest

from tests.conftest import make_engine


def open_folder_configs(engine) -> list[dict]:
    from webui.app import build_blocks

    blocks = build_blocks(engine)
    found = [block.get_config() for block in blocks.blocks.values()
             if getattr(block, "elem_id", None) in ("txt2img_open_folder", "img2img_open_folder")]  # fmt: skip
    assert len(found) == 2
    return found


@pytest.mark.parametrize(("flags", "visible"), [((), True), (("--listen",), False)])
def test_open_folder_shows_only_on_localhost(tmp_path, tiny_single_file, flags, visible):
    engine = make_engine(tmp_path, "--models-dir", str(tiny_single_file.parents[1]), *flags)
    try:
        assert [config["visible"] for config in open_folder_configs(engine)] == [visible, visible]
    finally:
        engine.queue.shutdown()
