"""Settings' "Reload UI": the server process restarts in place (same command, same pid), so the
page, the extensions' tabs and settings and the engine are all rebuilt from scratch, as A1111's
Reload UI rebuilds its interface. Allowed only where a stranger cannot use it to knock the server
over: listening on this machine only, or with --enable-insecure-extension-access."""

import os
import sys
import threading

from modules.config.flags import listens_beyond_localhost

# Long enough for the click's answer to reach the page before the server stops listening.
STOP_DELAY_SECONDS = 0.5


class ServerRestart:
    def __init__(self, flags):
        self.allowed = not listens_beyond_localhost(flags) or bool(
            getattr(flags, "enable_insecure_extension_access", False)
        )
        self.requested = False
        self._server = None

    def attach(self, server) -> None:
        """The uvicorn.Server to stop when a restart is requested."""
        self._server = server

    def request(self) -> bool:
        """Stop serving soon and restart once stopped; False (nothing done) where not allowed."""
        if not self.allowed or self._server is None:
            return False
        self.requested = True
        threading.Timer(STOP_DELAY_SECONDS, self._stop).start()
        return True

    def _stop(self) -> None:
        self._server.should_exit = True
        self._server.force_exit = True  # open event streams of pages would otherwise hold it for ever

    def exec_if_requested(self) -> None:
        """After the server stopped: the same command again, in this process (never returns)."""
        if self.requested:
            print("Restarting: Reload UI", flush=True)
            os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
