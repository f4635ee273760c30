"""launch.py's install decision: reinstall exactly when what decides the install changes."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def load_launch():
    spec = importlib.util.spec_from_file_location("launch_under_test", REPO / "launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stamp_changes_with_pins_and_torch_command(tmp_path, monkeypatch):
    launch = load_launch()
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six==1.16.0\n")
    monkeypatch.delenv("TORCH_COMMAND", raising=False)
    first = launch.stamp_for([requirements])
    assert launch.stamp_for([requirements]) == first
    requirements.write_text("six==1.17.0\n")
    assert launch.stamp_for([requirements]) != first
    requirements.write_text("six==1.16.0\n")
    monkeypatch.setenv("TORCH_COMMAND", "pip install torch==2.13.0 --index-url somewhere")
    assert launch.stamp_for([requirements]) != first


def test_torch_command_uses_the_venv_pip_and_the_cpu_pin_by_default(monkeypatch):
    launch = load_launch()
    monkeypatch.delenv("TORCH_COMMAND", raising=False)
    assert launch.torch_command() == [str(launch.VENV_PYTHON), "-m", "pip", "install", "torch==2.13.0"]
    requirements = (REPO / "requirements.txt").read_text().split()
    assert requirements[0] == "torch==2.13.0"
    assert all("==" in line for line in requirements)  # everything pinned


def test_tests_stop_naming_the_install_command_when_no_browser_can_be_had(tmp_path, monkeypatch):
    launch = load_launch()
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium, no apt-get
    problem = launch.browser_problem()
    assert problem is not None and "apt-get install -y -qq chromium" in problem
    assert launch.run_tests(["--collect-only"]) == 1  # stops before ruff and pytest


def test_a_browser_on_the_path_and_the_emoji_font_are_enough(tmp_path, monkeypatch):
    launch = load_launch()
    browser = tmp_path / "chromium"
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    font = tmp_path / "NotoColorEmoji.ttf"
    monkeypatch.setattr(launch, "EMOJI_FONT", font)
    assert "fonts-noto-color-emoji" in launch.browser_problem()  # the browser alone: icons would be boxes
    font.write_bytes(b"font")
    assert launch.browser_problem() is None


def test_xformers_is_installed_only_when_asked_for_on_a_cuda_machine():
    launch = load_launch()
    command, why = launch.xformers_install_plan(["--xformers"], cuda_available=True, installed=False)
    assert command[-2:] == ["-r", str(launch.XFORMERS_REQUIREMENTS)] and "xformers==" in why
    assert (launch.XFORMERS_REQUIREMENTS.read_text().split()) == ["xformers==0.0.35"]  # the build for torch 2.13
    command, why = launch.xformers_install_plan(["--xformers"], cuda_available=False, installed=False)
    assert command is None and "no CUDA" in why
    assert launch.xformers_install_plan(["--force-enable-xformers"], True, True) == (None, "already installed")
    assert launch.xformers_install_plan(["--port", "7860"], True, False) == (None, "not asked for")
