"""Bootstrap for SD Studio: make the venv, install the pinned requirements, start the app.

    python3 launch.py [app flags...]      start the web UI (flags are parsed by the app)
    python3 launch.py --test [pytest...]  ruff check, ruff format --check, then pytest

Only the standard library is used here: this file runs before anything is installed.
Launch-only flags: --test, --skip-install (use the current interpreter, install nothing).
Everything else, -h/--help included, goes to the app (or to pytest with --test).
"""

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

# Taken first, so the app can report the time from `python3 launch.py` to ready.
# Kept when already set: the re-exec inside the venv must not restart the clock.
os.environ.setdefault("SDSTUDIO_LAUNCH_T0", str(time.time()))

# Everything runs offline. Set before any library is imported (the app's or pip's),
# so no hub lookups or analytics calls happen even on a machine with a network.
for _name, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}.items():
    os.environ.setdefault(_name, _value)

ROOT = Path(__file__).resolve().parent
VENV = ROOT / "venv"
VENV_PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
REQUIREMENTS = ROOT / "requirements.txt"
TEST_REQUIREMENTS = ROOT / "requirements-test.txt"
# Installed with --no-deps: spandrel declares torchvision, whose PyPI build is CUDA-only and
# breaks beside the CPU torch (see the file and modules/upscaling/loading.py).
NODEPS_REQUIREMENTS = ROOT / "requirements-nodeps.txt"

# Torch goes first and on its own: an unpinned or transitive torch would pull a
# multi-GB CUDA build. GPU users point this at their CUDA wheel index instead.
DEFAULT_TORCH_COMMAND = "pip install torch==2.13.0"

LAUNCH_FLAGS = ("--test", "--skip-install")

# xformers only on demand: it cannot run on a CPU, and merely being installed slows every diffusers
# import (FACTS.md). Each xformers release is built against one torch; this is the one for our pin.
XFORMERS_REQUIREMENTS = ROOT / "requirements-xformers.txt"
XFORMERS_FLAGS = ("--xformers", "--force-enable-xformers")


def log(message: str) -> None:
    print(f"[launch] {message}", flush=True)


def run(command: list[str]) -> None:
    """Run a step of the install; stop launching with its exit code if it fails."""
    log("$ " + shlex.join(command))
    code = subprocess.call(command, cwd=ROOT)
    if code != 0:
        log(f"failed with exit code {code}: {shlex.join(command)}")
        sys.exit(code)


def in_repo_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def torch_command() -> list[str]:
    """TORCH_COMMAND as argv; a leading `pip` (or `python`) means the venv's, never the system's."""
    command = shlex.split(os.environ.get("TORCH_COMMAND", DEFAULT_TORCH_COMMAND))
    if command and command[0] in ("pip", "pip3"):
        return [str(VENV_PYTHON), "-m", "pip", *command[1:]]
    if command and command[0] in ("python", "python3"):
        return [str(VENV_PYTHON), *command[1:]]
    return command


def stamp_for(requirement_files: list[Path]) -> str:
    """Hash of everything that decides what gets installed: if it is unchanged, pip is skipped."""
    digest = hashlib.sha256(os.environ.get("TORCH_COMMAND", DEFAULT_TORCH_COMMAND).encode())
    for path in requirement_files:
        digest.update(b"\0" + path.read_bytes())
    return digest.hexdigest()


def write_stamp(path: Path, stamp: str) -> None:
    # Temp file + os.replace: an interrupted write never leaves a stamp that looks valid.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(stamp + "\n")
    os.replace(tmp, path)


def prepare_venv(test: bool) -> None:
    """Create venv/ and install the requirements, unless the stamp says it is already done."""
    if not VENV_PYTHON.exists():
        log(f"creating virtual environment in {VENV}")
        run([sys.executable, "-m", "venv", str(VENV)])

    kind = "test" if test else "app"
    files = [REQUIREMENTS, TEST_REQUIREMENTS] if test else [REQUIREMENTS]
    stamp_path = VENV / f".installed-{kind}"
    stamped = [*files, NODEPS_REQUIREMENTS]
    stamp = stamp_for(stamped)
    if stamp_path.exists() and stamp_path.read_text().strip() == stamp:
        log("requirements already installed")
        return

    log(f"installing {kind} requirements (first run, or the pins changed)")
    run(torch_command())
    pip_args = [arg for path in files for arg in ("-r", str(path))]
    run([str(VENV_PYTHON), "-m", "pip", "install", *pip_args])
    run([str(VENV_PYTHON), "-m", "pip", "install", "--no-deps", "-r", str(NODEPS_REQUIREMENTS)])
    write_stamp(stamp_path, stamp)
    if test:
        # The test install is a superset of the app's: the app need not run pip again.
        write_stamp(VENV / ".installed-app", stamp_for([REQUIREMENTS, NODEPS_REQUIREMENTS]))


def xformers_install_plan(args: list[str], cuda_available: bool, installed: bool) -> tuple[list[str] | None, str]:
    """(the pip command to run or None, why): xformers is installed when --xformers is asked for on a
    machine with CUDA and it is not there yet; anywhere else the app says why it uses SDPA instead."""
    if not any(flag in args for flag in XFORMERS_FLAGS):
        return None, "not asked for"
    if installed:
        return None, "already installed"
    if not cuda_available:
        return None, "no CUDA device: xformers cannot run here (the app falls back to SDPA and says so)"
    command = [str(VENV_PYTHON), "-m", "pip", "install", "-r", str(XFORMERS_REQUIREMENTS)]
    return command, f"--xformers on a CUDA machine: installing {XFORMERS_REQUIREMENTS.read_text().strip()}"


def install_xformers_if_asked(args: list[str]) -> None:
    """Runs inside the venv, before the app starts; a failed install is reported and the app goes on
    (it falls back to SDPA)."""
    if not any(flag in args for flag in XFORMERS_FLAGS):
        return
    import importlib.util

    import torch  # only with --xformers: the check needs it, and the app imports it anyway

    installed = importlib.util.find_spec("xformers") is not None
    command, why = xformers_install_plan(args, torch.cuda.is_available(), installed)
    log(f"xformers: {why}")
    if command is not None and subprocess.call(command, cwd=ROOT) != 0:
        log("xformers could not be installed; the app will use SDPA attention")


def reexec_in_venv(args: list[str]) -> None:
    """Start this script again with the venv's python, so the second stage runs inside it."""
    argv = [str(VENV_PYTHON), str(ROOT / "launch.py"), *args]
    if os.name == "posix":
        os.execv(argv[0], argv)  # replaces this process: signals and exit code go straight through
    sys.exit(subprocess.call(argv))


BROWSER = "chromium"
# The UI's icon buttons are emoji, as A1111's: without a colour emoji font they draw as empty boxes
# (and the screenshot references hold the real icons).
EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
BROWSER_INSTALL = ["apt-get", "install", "-y", "-qq", "chromium", "fonts-noto-color-emoji"]


def browser_ready() -> bool:
    return shutil.which(BROWSER) is not None and EMOJI_FONT.is_file()


def browser_problem() -> str | None:
    """None when the browser tests can run; else why not and the command that fixes it.
    As root with apt (CI, containers) Debian's chromium and emoji font are installed here."""
    if browser_ready():
        return None
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if is_root and shutil.which("apt-get"):
        log("the browser tests need Debian's chromium: installing it")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-qq"], BROWSER_INSTALL):
            log("$ " + shlex.join(command))
            if subprocess.call(command, env=env) != 0:
                break
        if browser_ready():
            return None
    return (
        "the browser tests need Debian's chromium and its colour emoji font, which are not installed and could "
        "not be installed here. "
        f"Install it with `sudo {shlex.join(BROWSER_INSTALL)}` (or your system's chromium package), "
        "then run `python3 launch.py --test` again."
    )


def run_tests(pytest_args: list[str]) -> int:
    """Lint, format check, then pytest; the first failure's exit code is the result.
    The browser tests are never skipped for want of a browser: it is installed or we stop."""
    problem = browser_problem()
    if problem:
        log(problem)
        return 1
    steps = [
        [sys.executable, "-m", "ruff", "check", "."],
        [sys.executable, "-m", "ruff", "format", "--check", "."],
        [sys.executable, "-m", "pytest", *pytest_args],
    ]
    for command in steps:
        log("$ " + shlex.join(command))
        code = subprocess.call(command, cwd=ROOT)
        if code == 5 and "pytest" in command:
            log("no tests ran: treated as a failure, CI must not pass on zero tests")
            return 1
        if code != 0:
            return code
    return 0


def main() -> int:
    args = sys.argv[1:]
    test = "--test" in args
    skip_install = "--skip-install" in args

    if not skip_install and not in_repo_venv():
        prepare_venv(test)
        reexec_in_venv(args)  # does not return

    passthrough = [arg for arg in args if arg not in LAUNCH_FLAGS]
    if test:
        return run_tests(passthrough)

    if not skip_install:
        install_xformers_if_asked(passthrough)
    # Imported only now, inside the venv: launch.py itself must work with nothing installed.
    from webui.app import main as app_main

    return app_main(passthrough) or 0


if __name__ == "__main__":
    sys.exit(main())
