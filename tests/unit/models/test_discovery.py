"""Checkpoint names are matched among the listed checkpoints only: a path, `..`, a FIFO, a device
or a folder outside the model folders is refused at once, and nothing outside is read."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from modules.memory import DevicePolicy
from modules.models.discovery import find_checkpoints, resolve_checkpoint
from modules.models.hashing import HashCache, NotRegularFileError, sha256_of_path
from modules.models.loading import CheckpointLoadError
from modules.models.manager import ModelManager, UnknownCheckpointError

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def layout(tmp_path):
    """models/Stable-diffusion with two listed checkpoints (one in a subfolder, one a diffusers
    folder), and beside models/ an `outside` folder holding things a request might point at."""
    models = tmp_path / "models" / "Stable-diffusion"
    (models / "sub").mkdir(parents=True)
    (models / "alpha.safetensors").write_bytes(b"alpha weights")
    (models / "sub" / "beta.safetensors").write_bytes(b"beta weights")
    diffusers = models / "gamma"
    (diffusers / "unet").mkdir(parents=True)
    (diffusers / "model_index.json").write_text("{}")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.safetensors").write_bytes(b"not for you")
    (outside / "folder").mkdir()
    os.mkfifo(outside / "pipe.safetensors")
    return models, outside


def manager_for(models: Path, tmp_path: Path, **kwargs) -> ModelManager:
    return ModelManager((models,), tmp_path / ".cache", DevicePolicy.cpu, **kwargs)


def foreign_names(models: Path, outside: Path) -> list[str]:
    return [
        str(outside / "secret.safetensors"),  # an existing file outside the model folders
        str(outside / "pipe.safetensors"),  # a FIFO: reading it would block forever
        str(outside / "folder"),  # a directory
        str(outside / "nothing-here.safetensors"),  # nothing at all: must read the same as the rest
        "../../outside/secret.safetensors",
        str(models / ".." / ".." / "outside" / "secret.safetensors"),
        "sub/../../../outside/secret.safetensors",
        str(models / "alpha.safetensors"),  # even a listed file is named by name, not by path
        "/etc/passwd",
        "/dev/zero",
        "..",
        ".",
    ]


def test_listed_names_titles_stems_and_hashes_are_accepted(layout, tmp_path):
    models, _ = layout
    manager = manager_for(models, tmp_path)
    alpha = next(c for c in manager.checkpoints() if c.name == "alpha.safetensors")
    sha256 = HashCache(tmp_path / ".cache" / "hashes.json").sha256(alpha.path)
    manager = manager_for(models, tmp_path)  # reads the hash cache written above
    for wanted in (
        "alpha.safetensors",
        "alpha",
        f"alpha.safetensors [{sha256[:10]}]",
        "renamed.safetensors [" + sha256[:10] + "]",  # a title whose file was renamed: the hash finds it
        sha256[:10],
        sha256,
        sha256.upper(),
    ):
        assert manager.resolve(wanted).path == alpha.path, wanted
    assert manager.resolve("sub/beta.safetensors").name == "sub/beta.safetensors"
    assert manager.resolve("sub\\beta.safetensors").name == "sub/beta.safetensors"
    assert manager.resolve("beta").name == "sub/beta.safetensors"  # hash not known yet: the name still works
    assert manager.resolve("gamma").is_diffusers_folder


@pytest.mark.parametrize("index", range(12))
def test_a_name_outside_the_list_is_refused_at_once_without_saying_what_exists(layout, tmp_path, index):
    models, outside = layout
    wanted = foreign_names(models, outside)[index]
    manager = manager_for(models, tmp_path)
    started = time.monotonic()
    with pytest.raises(UnknownCheckpointError) as refused:
        manager.resolve(wanted)  # what get() and the engine call first (get() itself: the audit test)
    assert time.monotonic() - started < 1.0
    message = str(refused.value)
    # The same answer as for a name that exists nowhere: nothing about the file system leaks.
    assert message.replace(repr(wanted), "X") == str(_refusal(manager, "missing")).replace("'missing'", "X")
    assert "alpha.safetensors" in message and "sub/beta.safetensors" in message  # what can be used


def _refusal(manager: ModelManager, wanted: str) -> UnknownCheckpointError:
    with pytest.raises(UnknownCheckpointError) as refused:
        manager.resolve(wanted)
    return refused.value


def test_resolve_checkpoint_alone_never_falls_back_to_a_path(layout):
    models, outside = layout
    listed = find_checkpoints((models,))
    for wanted in foreign_names(models, outside):
        assert resolve_checkpoint(wanted, listed) is None, wanted


def test_a_fifo_in_the_models_folder_is_not_listed_and_cannot_be_loaded(layout, tmp_path):
    models, _ = layout
    os.mkfifo(models / "wedge.safetensors")
    os.mkfifo(models / "gamma" / "unet" / "diffusion_pytorch_model.safetensors")
    manager = manager_for(models, tmp_path)
    assert [c.name for c in manager.checkpoints()] == ["alpha.safetensors", "gamma", "sub/beta.safetensors"]
    with pytest.raises(UnknownCheckpointError):
        manager.resolve("wedge.safetensors")
    assert _finishes(
        lambda: sha256_of_path(models / "gamma"), models / "gamma" / "unet" / "diffusion_pytorch_model.safetensors"
    )


def test_hashing_refuses_a_fifo_and_a_device_instead_of_blocking(layout, tmp_path):
    _, outside = layout
    fifo = outside / "pipe.safetensors"
    cache = HashCache(tmp_path / "hashes.json")
    for target in (fifo, Path("/dev/zero")):
        result = _finishes(lambda t=target: sha256_of_path(t), fifo)
        assert isinstance(result, NotRegularFileError), target
        result = _finishes(lambda t=target: cache.sha256(t), fifo)
        assert isinstance(result, NotRegularFileError), target


def _finishes(call, fifo: Path, seconds: float = 5.0):
    """Run `call` in a thread; fail (and unblock it by opening the FIFO's write end) if it hangs."""
    outcome: list = []

    def run():
        try:
            outcome.append(call())
        except Exception as error:  # noqa: BLE001 - the error is the answer under test
            outcome.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # a reader is waiting: let it go
        worker.join(seconds)
        pytest.fail(f"still blocked after {seconds}s")
    return outcome[0]


def test_ckpt_flag_may_name_a_file_outside_the_folders_but_only_a_regular_one(layout, tmp_path):
    models, outside = layout
    secret = outside / "secret.safetensors"
    manager = manager_for(models, tmp_path, preferred=str(secret))
    assert manager.default_checkpoint().path == secret.resolve()
    assert manager.resolve("secret.safetensors").path == secret.resolve()  # switch back to it by name
    for typed in (outside / "pipe.safetensors", outside / "folder", Path("/dev/zero")):
        refused = manager_for(models, tmp_path, preferred=str(typed))
        with pytest.raises(UnknownCheckpointError):
            refused.default_checkpoint()
        assert typed.name not in [c.name for c in refused.checkpoints()]


AUDIT_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from modules.memory import DevicePolicy
    from modules.models import loading  # imported up front: its own files are not the question
    from modules.models.manager import ModelManager

    models, cache, names = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
    manager = ModelManager((models,), cache, DevicePolicy.cpu)
    touched = []

    def hook(event, args):
        if event in ("open", "os.listdir", "os.scandir") and args and isinstance(args[0], (str, bytes, os.PathLike)):
            touched.append(os.fsdecode(args[0]))

    sys.addaudithook(hook)
    for name in names:
        try:
            manager.get(name)
        except Exception as error:
            touched.append("refused: " + type(error).__name__)
    sys.stdout.write(json.dumps(touched))
    """
)


def test_no_file_outside_the_models_folder_is_opened_for_a_foreign_name(layout, tmp_path):
    """Every file open and folder listing made while loading foreign names, seen by an audit hook."""
    models, outside = layout
    names = foreign_names(models, outside)
    done = subprocess.run(
        [sys.executable, "-c", AUDIT_SCRIPT, str(models), str(tmp_path / ".cache"), json.dumps(names)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    touched = json.loads(done.stdout)
    assert touched.count("refused: UnknownCheckpointError") == len(names), touched
    allowed = [models.parent.parent, REPO, Path(sys.prefix), Path(sys.base_prefix)]
    for path in (Path(p) for p in touched if not p.startswith("refused: ")):
        real = path.resolve() if path.is_absolute() else (REPO / path).resolve()
        assert not real.is_relative_to(outside) and not str(real).startswith(("/etc", "/dev")), path
        assert any(real.is_relative_to(root.resolve()) for root in allowed), path


def test_a_diffusers_folder_holding_a_fifo_is_refused_not_read(tiny_models, tmp_path):
    """Hashing leaves the FIFO out; loading must not open it either (it would wait forever)."""
    models = tmp_path / "Stable-diffusion"
    shutil.copytree(tiny_models / "Stable-diffusion" / "tiny-diffusers", models / "piped")
    weights = models / "piped" / "unet" / "diffusion_pytorch_model.safetensors"
    weights.unlink()
    os.mkfifo(weights)
    manager = manager_for(models, tmp_path)
    error = _finishes(lambda: manager.get("piped"), weights, seconds=60)
    assert isinstance(error, CheckpointLoadError) and "unet/diffusion_pytorch_model.safetensors" in str(error)
    assert manager.loaded is None
