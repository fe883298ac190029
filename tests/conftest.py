"""Shared fixtures: an isolated home for every test, real shells, a real capture server."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

sys.path.insert(0, str(Path(__file__).parent))

from capture_server import CaptureServer

# Variables that would change what the extension decides; every test starts without them.
_CLEARED = (
    "CI",
    "GITHUB_ACTIONS",
    "DO_NOT_TRACK",
    "DEVSCODE_TELEMETRY",
    "DEVSCODE_TELEMETRY_DEBUG",
    "DEVSCODE_GLOBAL_DIR",
    "DEVSCODE_NB_HEADLESS",
    "PAPERMILL_EXECUTION",
    "VSCODE_PID",
    "VSCODE_CWD",
    "TERM_PROGRAM",
    "PYCHARM_HOSTED",
    "COLAB_RELEASE_TAG",
    "JPY_SESSION_NAME",
    "JPY_PARENT_PID",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    # where VS Code settings are looked for (devscode_nb/telemetry/vscode_settings.py)
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "VSCODE_PORTABLE",
    "VSCODE_APPDATA",
    "VSCODE_AGENT_FOLDER",
    "APPDATA",
    "LOCALAPPDATA",
    "USERPROFILE",
)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HOME (hence ~/.devscode) per test; the real one is never touched.

    The working directory is a temporary one too: a real ``.vscode/settings.json`` above the
    checkout (a developer's workspace) would otherwise count as a VS Code opt-out.
    """
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def global_dir(isolated_home: Path) -> Path:
    return isolated_home / ".devscode"


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    with CaptureServer() as server:
        yield server


ShellFactory = Callable[..., InteractiveShell]


@pytest.fixture
def make_shell() -> Iterator[ShellFactory]:
    """Real InteractiveShells with the given traitlets config (as ipython_config.py would set);
    ``cls`` may be a subclass (``TerminalInteractiveShell``)."""
    shells: list[InteractiveShell] = []

    def factory(
        load: bool = True,
        cls: type[InteractiveShell] = InteractiveShell,
        **sections: dict[str, Any],
    ) -> InteractiveShell:
        config = Config()
        config.HistoryManager.hist_file = ":memory:"
        config.DevscodeTelemetry.flush_interval = 0.05
        for section, values in sections.items():
            for key, value in values.items():
                config[section][key] = value
        InteractiveShell.clear_instance()
        shell = cls.instance(config=config)
        shells.append(shell)
        if load:
            shell.run_line_magic("load_ext", "devscode_nb")
        return shell

    yield factory
    for shell in shells:
        shell.run_line_magic("unload_ext", "devscode_nb")
        type(shell).clear_instance()
    InteractiveShell.clear_instance()


@pytest.fixture
def sending_shell(make_shell: ShellFactory, capture: CaptureServer) -> InteractiveShell:
    """A shell whose telemetry is on and sends to the loopback capture server."""
    return make_shell(DevscodeTelemetry={"api_key": "phc_test", "host": capture.url})


def telemetry_of(shell: InteractiveShell) -> Any:
    from devscode_nb.ipython.extension import session_for

    session = session_for(shell)
    assert session is not None, "the extension is not loaded in this shell"
    return session.telemetry


def write_config(global_dir: Path, text: str) -> Path:
    global_dir.mkdir(parents=True, exist_ok=True)
    path = global_dir / "config.json"
    path.write_text(text)
    return path


def sending_profile(env: dict[str, str], capture: CaptureServer, **settings: Any) -> None:
    """An ipython_config.py in ``env``'s IPYTHONDIR sending to ``capture`` (plus ``settings``)."""
    values = {"api_key": "phc_test", "host": capture.url, "flush_interval": 0.05, **settings}
    profile = Path(env["IPYTHONDIR"]) / "profile_default"
    profile.mkdir(parents=True, exist_ok=True)
    lines = [f"c.DevscodeTelemetry.{k} = {v!r}\n" for k, v in values.items()]
    (profile / "ipython_config.py").write_text("".join(lines))


def read_until(proc: Any, needle: bytes, timeout: float = 60) -> bytes:
    """Read a ``ptyprocess.PtyProcess`` until ``needle`` shows (or the process ends)."""
    out = b""
    deadline = time.monotonic() + timeout
    while needle not in out:
        left = deadline - time.monotonic()
        assert left > 0, f"{needle!r} did not show within {timeout} s; the terminal showed:\n" + (
            out[-2000:].decode("utf-8", "replace")
        )
        if not select.select([proc.fd], [], [], min(left, 1.0))[0]:
            continue  # nothing yet: look at the clock again
        try:
            out += proc.read(65536)
        except EOFError:
            break
    return out


def run_on_terminal(
    argv: list[str], env: dict[str, str], cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` on a real pseudo-terminal (stdin, stdout and stderr), as from a person's
    shell; ``stdout`` is everything the terminal showed, CRLF as LF."""
    from ptyprocess import PtyProcess

    proc = PtyProcess.spawn(argv, env={"TERM": "dumb", **env}, cwd=str(cwd) if cwd else None)
    output = b""
    deadline = time.monotonic() + timeout
    try:
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([proc.fd], [], [], min(left, 1.0))[0]:
                continue  # silent (a hang too): look at the clock again
            try:
                output += proc.read(65536)
            except EOFError:
                break
    finally:
        if proc.isalive():
            proc.terminate(force=True)
        proc.wait()
    text = output.decode("utf-8", "replace").replace("\r\n", "\n")
    return subprocess.CompletedProcess(argv, proc.exitstatus, text, "")


def run_terminal_ipython(
    code: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The real terminal IPython app running ``code`` on a terminal, as a person would start it.

    A run that hangs is ended after ``timeout`` seconds (even if silent) and returned as it was.
    """
    argv = [sys.executable, "-m", "IPython", "--no-banner", "--colors=nocolor", "-c", code]
    return run_on_terminal(argv, env, timeout=timeout)


def clean_env() -> dict[str, str]:
    """This process's environment without the variables that steer telemetry."""
    return {k: v for k, v in os.environ.items() if k not in _CLEARED}
