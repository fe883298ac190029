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


def _server_name(env: Mapping[str, str]) -> str:
    """JupyterLab or Notebook 7, from the kernel's parent (the Jupyter server) command line."""
    ppid = env.get("JPY_PARENT_PID", "")
    if not ppid.isdigit():
        return "unknown"
    try:
        with open(f"/proc/{ppid}/cmdline", "rb") as handle:
            cmdline = handle.read().replace(b"\0", b" ").decode("utf-8", "replace").lower()
    except OSError:
        return "unknown"
    if "jupyter-lab" in cmdline or "jupyterlab" in cmdline or "jupyter lab" in cmdline:
        return "jupyterlab"
    if "jupyter-notebook" in cmdline or "jupyter notebook" in cmdline or "-m notebook" in cmdline:
        return "notebook"
    return "unknown"


def detect_frontend(
    shell_kind: str,
    env: Mapping[str, str] = os.environ,
    modules: Mapping[str, object] = sys.modules,
    allow_stdin: bool | None = None,
) -> Frontend:
    """Classify the frontend.

    ``shell_kind`` is ``"terminal"``, ``"kernel"`` or ``"embedded"`` (a plain InteractiveShell);
    ``allow_stdin`` is what the kernel's current request said, where known: notebook runners
    (nbclient, papermill, nbconvert) send ``False``, people's frontends send ``True``.
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
        # A person's frontend says who it is or allows input; runners do neither. Until the
        # first request tells us (allow_stdin None), assume no person: send nothing yet.
        person = ide in ("vscode", "colab", "pycharm") or "JPY_SESSION_NAME" in env
        headless = not (person or allow_stdin is True)
    else:
        headless = False
    return Frontend(ide_name=ide, headless=headless, widgets=shell_kind == "kernel")
