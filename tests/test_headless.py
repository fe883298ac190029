"""Headless means headless (SPEC §2), in real processes: scripts nobody watches send nothing.

- terminal IPython whose stdin or stdout is not a terminal (cron: stdin /dev/null, stdout a
  file) is headless; the same script on a real pseudo-terminal is a person (the control);
- a kernel whose requests forbid input (nbclient, papermill, nbconvert) is headless even when
  started from a VS Code or PyCharm terminal; a VS Code-style kernel that allows input is a person.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from capture_server import CaptureServer
from conftest import read_until, run_on_terminal, sending_profile
from harness.kernel import KernelHarness, isolated_env
from nbclient import NotebookClient

from devscode_nb.environment import detect_frontend

pytestmark = pytest.mark.kernel

EDITOR_ENVS = {
    "vscode-terminal": {"TERM_PROGRAM": "vscode", "VSCODE_PID": "4242", "VSCODE_CWD": "/w"},
    "pycharm-terminal": {"PYCHARM_HOSTED": "1"},
}
SCRIPT = "%load_ext devscode_nb\n%devscode help\nfor i in range(3): pass\n%devscode version\n"


def _env(tmp_path: Path, capture: CaptureServer, extra: dict[str, str] | None = None) -> dict:
    env = isolated_env(tmp_path / "env", extra)
    sending_profile(env, capture)
    return env


def _ipython(script: Path) -> list[str]:
    return [sys.executable, "-m", "IPython", "--no-banner", "--colors=nocolor", str(script)]


@pytest.mark.parametrize("editor", [None, *EDITOR_ENVS])
def test_frontend_detection_forbidding_input_is_headless_whatever_the_editor(editor):
    env = EDITOR_ENVS.get(editor, {}) if editor else {}
    assert detect_frontend("kernel", env=env, modules={}, allow_stdin=False).headless
    assert not detect_frontend("kernel", env=env, modules={}, allow_stdin=True).headless
    assert detect_frontend("terminal", env=env, modules={}, attended=False).headless


@pytest.mark.parametrize("editor", [None, "vscode-terminal"])
def test_a_cron_style_ipython_script_sends_nothing(tmp_path, editor):
    with CaptureServer() as capture:
        env = _env(tmp_path, capture, EDITOR_ENVS.get(editor or "", {}))
        script = tmp_path / "job.ipy"
        script.write_text(SCRIPT + "%devscode telemetry status\n")
        out = tmp_path / "job.log"
        with open(os.devnull, "rb") as stdin, open(out, "wb") as stdout:
            done = subprocess.run(
                _ipython(script),
                stdin=stdin,
                stdout=stdout,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=tmp_path,
                timeout=120,
            )
        log = out.read_text()
        assert done.returncode == 0, log
        assert "headless: nothing is sent" in log  # the status says why
        assert "anonymous usage data" not in log.lower()  # no notice printed into the log
        time.sleep(0.3)
        assert capture.requests == []


def test_the_same_script_on_a_terminal_is_a_person(tmp_path):
    """The control: on a real pseudo-terminal the notice is printed and events are sent."""
    with CaptureServer() as capture:
        env = _env(tmp_path, capture)
        script = tmp_path / "job.ipy"
        script.write_text(SCRIPT + "%devscode telemetry status\nimport time; time.sleep(1)\n")
        done = run_on_terminal(_ipython(script), env, cwd=tmp_path)
        output = done.stdout
        assert done.returncode == 0, output + done.stderr
        assert "Devscode telemetry: ON" in output and "Frontend: ipython\n" in output
        urls = [e["properties"].get("$current_url") for e in capture.wait_for(2)]
        assert "devscode-nb://help" in urls and "devscode-nb://version" in urls


def _nbclient(env: dict[str, str], cells: list[str]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute(env=env)
    return nb


@pytest.mark.parametrize("editor", sorted(EDITOR_ENVS))
def test_nbclient_started_from_an_editor_terminal_sends_nothing(tmp_path, editor):
    with CaptureServer() as capture:
        env = _env(tmp_path, capture, EDITOR_ENVS[editor])
        nb = _nbclient(env, [*SCRIPT.splitlines(), "%devscode telemetry status"])
        load = nb.cells[0].outputs
        assert load == []  # no banner, no notice: nobody is there
        status = nb.cells[-1].outputs[0]["text"]
        assert "headless run" in status
        time.sleep(0.3)
        assert capture.requests == []


def test_a_vscode_style_kernel_that_allows_input_is_a_person(tmp_path):
    """VS Code's own kernels allow input: the banner is shown and its pageview is sent."""
    with CaptureServer() as capture:
        env = _env(tmp_path, capture, EDITOR_ENVS["vscode-terminal"])
        with KernelHarness(env, cwd=tmp_path) as k:
            shown = k.execute("%load_ext devscode_nb", allow_stdin=True).raise_for_error()
            assert shown.displays, "no banner"
            k.execute("%devscode help", allow_stdin=True).raise_for_error()
            urls = [e["properties"].get("$current_url") for e in capture.wait_for(2)]
            assert urls[:2] == ["devscode-nb://banner", "devscode-nb://help"]
            status = k.execute("%devscode telemetry status", allow_stdin=True).stdout
            assert "Frontend: vscode\n" in status


def test_a_kernel_first_driven_by_a_runner_then_by_a_person(tmp_path):
    """Requests that forbid input keep it headless; the first one that allows it is a person's."""
    with CaptureServer() as capture:
        env = _env(tmp_path, capture, {"JPY_SESSION_NAME": "nb.ipynb"})
        with KernelHarness(env, cwd=tmp_path) as k:
            assert k.execute("%load_ext devscode_nb").raise_for_error().displays == []
            k.execute("%devscode help").raise_for_error()
            time.sleep(0.3)
            assert capture.requests == []
            shown = k.execute("%devscode version", allow_stdin=True).raise_for_error()
            assert shown.displays, "no banner for the person"
            urls = [e["properties"].get("$current_url") for e in capture.wait_for(2)]
            assert urls[:2] == ["devscode-nb://banner", "devscode-nb://version"]


def test_jupyter_console_is_a_person_named_ipython(tmp_path):
    """The real ``jupyter console`` (input allowed) starts the kernel: ideName ``ipython``."""
    from ptyprocess import PtyProcess

    with CaptureServer() as capture:
        env = _env(tmp_path, capture)
        proc = PtyProcess.spawn(
            [sys.executable, "-m", "jupyter_console", "--simple-prompt", "--no-confirm-exit"],
            env={**env, "TERM": "dumb"},
            cwd=str(tmp_path),
            dimensions=(40, 200),
        )
        try:
            read_until(proc, b"In [1]", timeout=90)
            proc.write(b"%load_ext devscode_nb\r")
            read_until(proc, b"In [2]")
            proc.write(b"%devscode telemetry status\r")
            out = read_until(proc, b"In [3]").decode(errors="replace").replace("\r\n", "\n")
            proc.write(b"exit\r")
            read_until(proc, b"\x00", timeout=30)  # to the end of the process
        finally:
            if proc.isalive():
                proc.terminate(force=True)
        assert "Frontend: ipython\n" in out, out
        assert "headless" not in out
        props = [e["properties"] for e in capture.wait_for(1)]
        assert props[0]["$current_url"] == "devscode-nb://banner"
        assert props[0]["ideName"] == "ipython"
