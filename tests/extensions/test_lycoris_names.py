"""A `<lora:...>` tag names a listed network file, never a path: `..`, an absolute path or a FIFO
open nothing outside models/Lora and models/LyCORIS, and the warning does not say where the
server keeps its files."""

import os
import sys
import threading

import pytest

from modules.plugins.types import ExtraNetworkCall
from tests.extensions.lycoris_support import context, ext_module, loaded_model, weights_hash, write_lycoris_file


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    root = tmp_path_factory.mktemp("names")
    models = root / "models"
    (models / "Lora").mkdir(parents=True)
    write_lycoris_file(models / "Lora" / "ink.safetensors", "lora", dim=4, alpha=2)
    os.mkfifo(models / "Lora" / "wedge.safetensors")  # reading it would block the job forever
    outside = root / "outside"
    outside.mkdir()
    write_lycoris_file(outside / "evil.safetensors", "lora", dim=4, alpha=2)  # a valid network, in the wrong place
    return models, outside


class OpenRecorder:
    """Paths opened or listed on this thread while recording (audit hooks stay installed for the
    life of the process, so this one only records between start and stop)."""

    def __init__(self):
        self.paths: list[str] = []
        self._thread = None
        sys.addaudithook(self._hook)

    def _hook(self, event, args):
        if self._thread is threading.current_thread() and event in ("open", "os.listdir", "os.scandir"):
            if args and isinstance(args[0], str | bytes | os.PathLike):
                self.paths.append(os.fsdecode(args[0]))

    def __enter__(self):
        self._thread = threading.current_thread()
        return self

    def __exit__(self, *exc):
        self._thread = None
        return False


def test_paths_in_tags_match_nothing_and_open_nothing_outside(layout):
    models, outside = layout
    evil = outside / "evil.safetensors"
    names = [
        "../../outside/evil",
        "../outside/evil",
        str(evil.with_suffix("")),
        str(evil),
        str(models / "Lora" / "ink"),  # even a listed file is named by name, not by path
        "wedge",  # a FIFO is not listed
        "nowhere",  # nothing anywhere: the others must read exactly like this one
    ]
    model = loaded_model()
    before = weights_hash(model.unet, model.text_encoder)
    p = context(model, models)
    calls = [ExtraNetworkCall.from_tag("lora", f"{name}:1") for name in names]
    networks = ext_module("network").LoraNetworks()  # the extension's own files are not the question
    with OpenRecorder() as recorder:
        networks.activate(p, calls)

    assert weights_hash(model.unet, model.text_encoder) == before  # nothing was applied
    # The same warning for each, apart from the name itself: nothing said about what exists where.
    shapes = {warning.replace(name, "NAME") for name, warning in zip(names, p.warnings, strict=True)}
    assert len(shapes) == 1 and "not found" in shapes.pop()
    assert not any(str(models.parent) in w.replace(name, "") for name, w in zip(names, p.warnings, strict=True))
    touched = [os.path.realpath(path) for path in recorder.paths]
    assert touched, "the recorder saw nothing: it would not see a bad open either"
    assert all(path.startswith(str(models.resolve()) + os.sep) for path in touched), touched
    assert os.path.realpath(models / "Lora" / "wedge.safetensors") not in touched


def test_a_listed_name_still_applies(layout):
    models, _ = layout
    model = loaded_model()
    before = weights_hash(model.unet)
    p = context(model, models)
    ext_module("network").LoraNetworks().activate(p, [ExtraNetworkCall.from_tag("lora", "ink:1")])
    assert p.warnings == [] and weights_hash(model.unet) != before
