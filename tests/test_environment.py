"""Frontend and OS detection map what they see onto a short list of names, never a path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness import wait_until

from devscode_nb.environment import IDE_NAMES, detect_frontend, os_name


@pytest.mark.parametrize(
    "platform, expected",
    [
        ("linux", "linux"),
        ("darwin", "darwin"),
        ("win32", "win32"),
        ("cygwin", "win32"),
        ("freebsd14", None),
    ],
)
def test_os_names_are_continues(platform, expected):
    assert os_name(platform) == expected


@pytest.mark.parametrize(
    "env, modules, expected",
    [
        ({"VSCODE_PID": "123"}, {}, "vscode"),
        ({"TERM_PROGRAM": "vscode"}, {}, "vscode"),
        ({"COLAB_RELEASE_TAG": "release-colab_2026"}, {}, "colab"),
        ({}, {"google.colab": object()}, "colab"),
        ({"PYCHARM_HOSTED": "1"}, {}, "pycharm"),
    ],
)
def test_ide_hosts_are_recognised_and_count_as_a_person_when_input_is_allowed(
    env, modules, expected
):
    frontend = detect_frontend("kernel", env=env, modules=modules, allow_stdin=True)
    assert frontend.ide_name == expected
    assert not frontend.headless
    # Not known yet, or a runner started from that IDE's terminal: nobody to see anything.
    assert detect_frontend("kernel", env=env, modules=modules, allow_stdin=None).headless
    assert detect_frontend("kernel", env=env, modules=modules, allow_stdin=False).headless


def test_an_attended_terminal_is_ipython_and_a_person():
    frontend = detect_frontend("terminal", env={}, modules={}, attended=True)
    assert (frontend.ide_name, frontend.headless, frontend.widgets) == ("ipython", False, False)
    assert detect_frontend("terminal", env={}, modules={}, attended=False).headless


def test_a_kernel_that_forbids_input_and_names_no_frontend_is_a_runner():
    assert detect_frontend("kernel", env={}, modules={}, allow_stdin=False).headless
    assert detect_frontend("kernel", env={}, modules={}, allow_stdin=None).headless  # not yet known
    assert not detect_frontend("kernel", env={}, modules={}, allow_stdin=True).headless


def test_a_jupyter_server_session_is_a_person():
    env = {"JPY_SESSION_NAME": "/home/someone/analysis.ipynb"}
    frontend = detect_frontend("kernel", env=env, modules={}, allow_stdin=True)
    assert not frontend.headless
    assert frontend.ide_name in IDE_NAMES  # never the path


@pytest.mark.parametrize("name", ["CI", "GITHUB_ACTIONS"])
def test_ci_is_headless(name):
    env = {name: "true", "JPY_SESSION_NAME": "x"}
    assert detect_frontend("kernel", env=env, modules={}, allow_stdin=True).headless


def test_the_override_beats_every_guess():
    assert detect_frontend("terminal", env={"DEVSCODE_NB_HEADLESS": "1"}, modules={}).headless
    env = {"CI": "1", "DEVSCODE_NB_HEADLESS": "0"}
    assert not detect_frontend("kernel", env=env, modules={}, allow_stdin=False).headless


@pytest.mark.parametrize(
    "server, expected",
    [
        ("jupyter-lab", "jupyterlab"),
        ("jupyter-notebook", "notebook"),
        ("jupyter-nbclassic", "notebook"),
        ("jupyter-console", "ipython"),
        ("jupyter-qtconsole", "ipython"),
        ("jupyter-server", "unknown"),
    ],
)
def test_lab_and_notebook_are_told_apart_by_the_servers_command_line(tmp_path, server, expected):
    """A real parent process whose command line names the server, as a Jupyter server's does."""
    script = tmp_path / server
    script.write_text("import time\ntime.sleep(30)\n")
    parent = subprocess.Popen([sys.executable, str(script), "--ServerApp.port=0"])
    try:
        cmdline = Path(f"/proc/{parent.pid}/cmdline")
        wait_until(lambda: server.encode() in cmdline.read_bytes(), message="server not up")
        env = {"JPY_PARENT_PID": str(parent.pid), "JPY_SESSION_NAME": "nb.ipynb"}
        assert detect_frontend("kernel", env=env, modules={}).ide_name == expected
    finally:
        parent.kill()
        parent.wait()


def test_a_vanished_parent_is_unknown_not_an_error():
    env = {"JPY_PARENT_PID": str(2**22 + os.getpid()), "JPY_SESSION_NAME": "nb.ipynb"}
    assert detect_frontend("kernel", env=env, modules={}).ide_name == "unknown"
