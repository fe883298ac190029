"""Where we run: the OS, the notebook frontend, and whether a person is there at all.

Detection only ever maps what it sees onto a short list of names; no path, user or host name
found here becomes a property.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

TRUTHY = frozenset({"1", "true", "yes", "on"})
FALSY = frozenset({"0", "false", "no", "off"})

IDE_NAMES = ("jupyterlab", "notebook", "vscode", "colab", "pycharm", "ipython", "unknown")

# Set by CI systems: nobody is there to read a notice. (Notebook runners are recognised by the
# kernel's requests instead; DEVSCODE_NB_HEADLESS=1/0 overrides everything.)
_HEADLESS_ENV = ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "TF_BUILD")


def is_truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in TRUTHY


def is_falsy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in FALSY


def os_name(platform: str = sys.platform) -> str | None:
    """Continue's names for the OS; ``None`` for anything else (then it is not sent)."""
    if platform.startswith("linux"):
        return "linux"
    if platform == "darwin":
        return "darwin"
    if platform in ("win32", "cygwin"):
        return "win32"
    return None


@dataclass(frozen=True)
class Frontend:
    """The frontend we are shown in, and whether it is headless (no person to see anything)."""

    ide_name: str
    headless: bool
    widgets: bool  # the frontend can render ipywidgets


# The kernel's parent's command line, as the Jupyter app that started it names itself.
_PARENTS = (
    ("jupyterlab", ("jupyter-lab", "jupyterlab", "jupyter lab")),
    ("notebook", ("jupyter-notebook", "jupyter notebook", "-m notebook")),
    ("notebook", ("jupyter-nbclassic", "jupyter nbclassic", "-m nbclassic")),  # the classic UI
    ("ipython", ("jupyter-console", "jupyter console", "-m jupyter_console")),
    ("ipython", ("jupyter-qtconsole", "jupyter qtconsole", "-m qtconsole")),
)


def _server_name(env: Mapping[str, str]) -> str:
    """The Jupyter app that started this kernel (Lab, Notebook, nbclassic, console), from its
    parent's command line."""
    ppid = env.get("JPY_PARENT_PID", "")
    if not ppid.isdigit():
        return "unknown"
    try:
        with open(f"/proc/{ppid}/cmdline", "rb") as handle:
            cmdline = handle.read().replace(b"\0", b" ").decode("utf-8", "replace").lower()
    except OSError:
        return "unknown"
    for name, marks in _PARENTS:
        if any(mark in cmdline for mark in marks):
            return name
    return "unknown"


def terminal_attended() -> bool:
    """Whether a person can be at this terminal: both stdin and stdout are terminals.

    ``ipython job.ipy`` from cron (stdin ``/dev/null``, stdout a file), a pipe or a CI log is not.
    """
    try:
        return bool(sys.stdin and sys.stdout and sys.stdin.isatty() and sys.stdout.isatty())
    except (ValueError, OSError, AttributeError):  # closed or replaced streams
        return False


def detect_frontend(
    shell_kind: str,
    env: Mapping[str, str] = os.environ,
    modules: Mapping[str, object] = sys.modules,
    allow_stdin: bool | None = None,
    attended: bool = True,
) -> Frontend:
    """Classify the frontend.

    ``shell_kind`` is ``"terminal"``, ``"kernel"`` or ``"embedded"`` (a plain InteractiveShell);
    ``allow_stdin`` is what the kernel's current request said, where known: notebook runners
    (nbclient, papermill, nbconvert) send ``False``, people's frontends send ``True``;
    ``attended`` is, for a terminal, whether its stdin and stdout are terminals.
    """
    forced = env.get("DEVSCODE_NB_HEADLESS")
    headless_env = any(is_truthy(env.get(name)) for name in _HEADLESS_ENV)
    if "google.colab" in modules or "COLAB_RELEASE_TAG" in env:
        ide = "colab"
    elif "VSCODE_PID" in env or "VSCODE_CWD" in env or env.get("TERM_PROGRAM") == "vscode":
        ide = "vscode"
    elif "PYCHARM_HOSTED" in env:
        ide = "pycharm"
    elif shell_kind == "terminal":
        ide = "ipython"
    elif shell_kind == "kernel" and ("JPY_SESSION_NAME" in env or "JPY_PARENT_PID" in env):
        ide = _server_name(env)
    elif shell_kind == "embedded":
        ide = "ipython"
    else:
        ide = "unknown"

    if forced is not None and (is_truthy(forced) or is_falsy(forced)):
        headless = is_truthy(forced)
    elif headless_env:
        headless = True
    elif shell_kind == "kernel":
        # Only a request that allows input shows a person's frontend: runners (nbclient,
        # papermill, nbconvert) forbid it even when started from an editor's terminal, whose
        # TERM_PROGRAM / VSCODE_* / PYCHARM_HOSTED they inherit. Until the first request tells
        # (allow_stdin None), assume no person: show and send nothing yet.
        headless = allow_stdin is not True
    elif shell_kind == "terminal":
        headless = not attended
    else:
        headless = False
    return Frontend(ide_name=ide, headless=headless, widgets=shell_kind == "kernel")
