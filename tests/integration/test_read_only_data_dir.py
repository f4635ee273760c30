"""A data dir that turns read-only under a running server: each write answers 507 with the
reason (the images made still come back), nothing is lost, and the server keeps serving."""

import json
import shutil

import requests

from tests.fixtures.filesystems import make_read_only, small_tmpfs
from tests.server import RunningServer

SMALL = {"prompt": "a cat", "steps": 2, "width": 64, "height": 64, "seed": 5}


def test_a_read_only_data_dir_gives_clear_errors_and_the_server_keeps_serving(tmp_path, tiny_single_file):
    data_dir = tmp_path / "data"
    with small_tmpfs(data_dir, size_kib=4096):
        shutil.copytree(tiny_single_file.parents[1] / "Stable-diffusion", tmp_path / "models" / "Stable-diffusion")
        args = ["--api", "--nowebui", "--no-demo-model", "--data-dir", str(data_dir)]
        server = RunningServer([*args, "--models-dir", str(tmp_path / "models")], tmp_path / "server.log")
        try:
            api = server.url + "/sdapi/v1"
            assert requests.post(api + "/options", json={"samples_save": True}, timeout=30).status_code == 200
            saved_before = (data_dir / "config.json").read_text()
            make_read_only(data_dir)

            answer = requests.post(api + "/txt2img", json={**SMALL, "save_images": True}, timeout=120)
            assert answer.status_code == 507, answer.text
            assert "Read-only file system" in answer.json()["detail"]
            assert len(answer.json()["images"]) == 1 and json.loads(answer.json()["info"])["all_seeds"] == [5]

            refused = requests.post(api + "/options", json={"CLIP_stop_at_last_layers": 2}, timeout=30)
            assert refused.status_code == 507 and "Read-only file system" in refused.json()["detail"]
            assert (data_dir / "config.json").read_text() == saved_before

            assert requests.get(api + "/progress", timeout=10).status_code == 200
            unsaved = requests.post(api + "/txt2img", json=SMALL, timeout=120)  # save_images false: fine
            assert unsaved.status_code == 200 and len(unsaved.json()["images"]) == 1
        finally:
            server.stop()
