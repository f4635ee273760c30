"""Shared fixtures: a tiny SD 1.x model on disk (both formats) and engines over it."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from modules.config.flags import parse_flags  # noqa: E402
from modules.engine import Engine  # noqa: E402
from tests.fixtures.tiny_model import save_diffusers_folder, save_single_file  # noqa: E402


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    """A models/ folder holding the same tiny model as a single file and as a diffusers folder."""
    root = tmp_path_factory.mktemp("models")
    save_single_file(root / "Stable-diffusion" / "tiny.safetensors")
    save_diffusers_folder(root / "Stable-diffusion" / "tiny-diffusers")
    return root


@pytest.fixture(scope="session")
def tiny_single_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("single")
    return save_single_file(folder / "models" / "Stable-diffusion" / "tiny.safetensors")


def make_engine(data_dir: Path, *extra: str) -> Engine:
    return Engine.from_flags(parse_flags(["--no-demo-model", "--data-dir", str(data_dir), *extra]))


@pytest.fixture(scope="session")
def engine(tmp_path_factory, tiny_single_file) -> Engine:
    """An engine whose models/ is the tiny single-file model; outputs go to a fresh folder."""
    data_dir = tmp_path_factory.mktemp("data")
    built = make_engine(data_dir, "--models-dir", str(tiny_single_file.parents[1]))
    yield built
    built.queue.shutdown()


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run the slow evaluations (marked `slow`)")


def pytest_collection_modifyitems(config, items):
    """Slow evaluations of the demo model's quality (tens of seconds each here) run with --runslow
    (`python3 launch.py --test --runslow`); without it they are reported as skipped with this reason
    in the summary, never left out silently."""
    if config.getoption("--runslow"):
        return
    reason = pytest.mark.skip(reason="slow evaluation of the demo model: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(reason)
