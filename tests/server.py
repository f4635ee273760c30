"""Start the app the way a user does (`launch.py ... --skip-install`) on a free local port."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerExited(RuntimeError):
    """The server stopped before it was ready, e.g. because it refused to start as asked."""

    def __init__(self, returncode: int, log: str):
        super().__init__(f"server exited early with code {returncode}:\n{log}")
        self.returncode = returncode
        self.log = log


class RunningServer:
    def __init__(self, args: list[str], log_path: Path, timeout: float = 120):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("SDSTUDIO_LAUNCH_T0", None)
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "launch.py"), "--skip-install", "--port", str(self.port), *args],
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                self._log.close()
                raise ServerExited(self.process.returncode, self.log())
            if "Running on local URL" in self.log():
                return
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"server not ready in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._log.close()


def start_api_server(data_dir: Path, models: Path | None = None, *args: str) -> RunningServer:
    """The API alone (`--api --nowebui`) on data_dir, with a copy of the `models` folder if given."""
    if models is not None:
        shutil.copytree(models, data_dir / "models")
    running = RunningServer(
        ["--api", "--nowebui", "--no-demo-model", "--data-dir", str(data_dir), *args], data_dir / "server.log"
    )
    running.data_dir = data_dir
    return running
