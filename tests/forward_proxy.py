"""A real forward proxy for tests: Debian's ``tinyproxy`` on 127.0.0.1 (scripts/install-proxy.sh).

It runs in the foreground with its own config in a temporary folder and logs each request it
serves, so a test can count what went through it: plain ``POST http://...`` requests and
``CONNECT host:port`` tunnels for HTTPS. ``auth=("user", "password")`` makes it answer 407
without them.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

_REQUEST = re.compile(r"Request \(file descriptor \d+\): (\S+) (\S+)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Tinyproxy:
    """``with Tinyproxy() as proxy:`` … ``proxy.url``, ``proxy.requests()``."""

    def __init__(self, *, auth: tuple[str, str] | None = None) -> None:
        self.auth = auth
        self.port = 0
        self._dir = Path(tempfile.mkdtemp(prefix="tinyproxy-"))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The proxy's address without credentials."""
        return f"http://127.0.0.1:{self.port}"

    def url_with(self, user: str, password: str) -> str:
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self._dir / "tinyproxy.log"

    def requests(self) -> list[tuple[str, str]]:
        """``(method, target)`` of each request the proxy received, oldest first."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [(m.group(1), m.group(2)) for m in _REQUEST.finditer(text)]

    def start(self) -> Tinyproxy:
        exe = shutil.which("tinyproxy")
        if exe is None:
            raise RuntimeError("tinyproxy is missing: run scripts/install-proxy.sh")
        for _ in range(5):  # another process may take the port between probe and bind
            self.port = _free_port()
            conf = self._dir / "tinyproxy.conf"
            lines = [
                f"Port {self.port}",
                "Listen 127.0.0.1",
                "Timeout 30",
                "MaxClients 50",
                "Allow 127.0.0.1",
                f'LogFile "{self.log}"',
                "LogLevel Info",
                "DisableViaHeader Yes",
            ]
            if self.auth:
                lines.append(f"BasicAuth {self.auth[0]} {self.auth[1]}")
            conf.write_text("\n".join(lines) + "\n")
            self._proc = subprocess.Popen(
                [exe, "-d", "-c", str(conf)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._wait_listening():
                return self
            self.stop()
        raise RuntimeError("tinyproxy did not start")

    def _wait_listening(self, timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        self._proc = None

    def __enter__(self) -> Tinyproxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
