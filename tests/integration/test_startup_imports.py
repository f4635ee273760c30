"""The first minute: building the engine and the whole page must not import torch (seconds on
these cores): it loads with the first model, after the page is up. Run in a fresh interpreter,
as `python3 launch.py` starts, with the bundled extensions and a checkpoint in models/."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys
from modules.engine import Engine
from webui.app import build_app, configure_environment
engine = Engine.from_argv(["--no-demo-model", "--data-dir", sys.argv[1]])
configure_environment(engine)
build_app(engine, engine.flags)
print(json.dumps({name: name in sys.modules for name in ("torch", "diffusers", "transformers")}))
"""


def test_building_the_page_imports_no_torch(tmp_path, tiny_single_file):
    shutil.copytree(tiny_single_file.parents[1], tmp_path / "models")
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=True)  # fmt: skip
    imported = json.loads(done.stdout.strip().splitlines()[-1])
    assert imported == {"torch": False, "diffusers": False, "transformers": False}, done.stderr[-2000:]
