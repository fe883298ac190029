"""VS Code's own telemetry switches, read (never written) from every settings file on the machine.

The Devscode IDE extension sends only when ``allowAnonymousTelemetry &&
vscode.env.isTelemetryEnabled && devscode.telemetryEnabled``; a person who unchecked the box in VS
Code must not be tracked by a notebook either, whichever frontend runs it (SPEC §2). Two parts:

* ``places``: pure path logic from platform, environment, home and working directory — where VS
  Code, its Insiders build and its forks keep user, remote-server, workspace and policy settings.
* ``VSCodeSettingsWatcher``: a cheap re-check. At most once a second it ``stat``-s the known files
  (a missing one costs one failed stat) and re-parses only those whose signature changed; the
  ``User/profiles`` folders are listed when their own stat changes (and once a minute anyway),
  the workspace chain is recomputed only when the working directory changes.
"""

from __future__ import annotations

import json
import math
import os
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devscode_nb.config_file import read_config

DEVSCODE_SETTING = "devscode.telemetryEnabled"
LEVEL_SETTING = "telemetry.telemetryLevel"
OLD_SETTING = "telemetry.enableTelemetry"
CRASH_SETTING = "telemetry.enableCrashReporter"
POLICY_LEVEL = "TelemetryLevel"  # the policy name of telemetry.telemetryLevel
DEFAULT_POLICY = Path("/etc/vscode/policy.json")

# Desktop products' user data folder names (productName / dataFolderName).
PRODUCTS = (
    "Code",
    "Code - Insiders",
    "Code - OSS",
    "VSCodium",
    "VSCodium - Insiders",
    "Cursor",
    "Windsurf",
    "Windsurf - Next",
)
# Remote servers (SSH, WSL, containers, tunnels) keep machine settings in ~/<dir>/data/Machine.
SERVER_DIRS = (
    ".vscode-server",
    ".vscode-server-insiders",
    ".vscode-server-oss",
    ".vscodium-server",
    ".vscodium-server-insiders",
    ".cursor-server",
    ".windsurf-server",
    ".windsurf-next-server",
    ".openvscode-server",
    ".vscode-remote",
)

USER, MACHINE, WORKSPACE, POLICY = "user", "machine", "workspace", "policy"
RECHECK_S = 1.0  # stat the files at most this often: an opt-out lands in < 2 s
RELIST_S = 60.0  # list User/profiles at least this often even if its stat did not change
MAX_SETTINGS_BYTES = 1024 * 1024  # settings files are kilobytes; parsing must stay short


# --- where the files are (pure) ---------------------------------------------------------------


@dataclass(frozen=True)
class Places:
    """Every settings file to watch, each with its kind, and the profile folders to list."""

    files: tuple[tuple[Path, str], ...]
    profile_dirs: tuple[Path, ...]


def _unique(paths: Iterable[Path]) -> list[Path]:
    return list(dict.fromkeys(paths))


def user_data_dirs(platform: str, env: Mapping[str, str], home: Path) -> list[Path]:
    """User data folders as VS Code's ``getUserDataPath`` finds them, for every product.

    Where VS Code would take only the first of portable / ``$VSCODE_APPDATA`` / the platform
    default, we take all: the kernel's environment need not be the editor's.
    """
    dirs: list[Path] = []
    if env.get("VSCODE_PORTABLE"):
        dirs.append(Path(env["VSCODE_PORTABLE"]) / "user-data")
    roots: list[Path] = []
    if env.get("VSCODE_APPDATA"):
        roots.append(Path(env["VSCODE_APPDATA"]))
    if platform == "win32":
        profile = Path(env["USERPROFILE"]) if env.get("USERPROFILE") else home
        roots.append(Path(env["APPDATA"]) if env.get("APPDATA") else profile / "AppData/Roaming")
    elif platform == "darwin":
        roots.append(home / "Library" / "Application Support")
    else:
        if env.get("XDG_CONFIG_HOME"):
            roots.append(Path(env["XDG_CONFIG_HOME"]))
        roots.append(home / ".config")
    dirs += [root / product for root in _unique(roots) for product in PRODUCTS]
    return _unique(dirs + code_server_dirs(platform, env, home))


def code_server_dirs(platform: str, env: Mapping[str, str], home: Path) -> list[Path]:
    """code-server's data folder: XDG data on Linux and macOS, ``%LOCALAPPDATA%`` on Windows."""
    if platform == "win32":
        local = Path(env["LOCALAPPDATA"]) if env.get("LOCALAPPDATA") else home / "AppData/Local"
        return [local / "code-server" / "Data"]
    dirs = []
    if env.get("XDG_DATA_HOME"):
        dirs.append(Path(env["XDG_DATA_HOME"]) / "code-server")
    dirs.append(home / ".local" / "share" / "code-server")
    if platform == "darwin":
        dirs.append(home / "Library" / "Application Support" / "code-server")
    return _unique(dirs)


def server_data_dirs(env: Mapping[str, str], home: Path) -> list[Path]:
    """Remote servers' data folders (``$VSCODE_AGENT_FOLDER/data``, ``~/.vscode-server/data`` …)."""
    roots = [Path(env["VSCODE_AGENT_FOLDER"])] if env.get("VSCODE_AGENT_FOLDER") else []
    return _unique(root / "data" for root in roots + [home / d for d in SERVER_DIRS])


def workspace_files(cwd: Path | None) -> list[Path]:
    """``.vscode/settings.json`` in the working directory and every parent."""
    if cwd is None:
        return []
    return [folder / ".vscode" / "settings.json" for folder in (cwd, *cwd.parents)]


def places(
    platform: str,
    env: Mapping[str, str],
    home: Path,
    cwd: Path | None,
    policy: Path = DEFAULT_POLICY,
) -> Places:
    """Where VS Code settings may be, in the order they are reported."""
    data_dirs = user_data_dirs(platform, env, home)
    files = [(d / "User" / "settings.json", USER) for d in data_dirs]
    machine = [d / "Machine" / "settings.json" for d in server_data_dirs(env, home)]
    machine += [d / "Machine" / "settings.json" for d in code_server_dirs(platform, env, home)]
    files += [(p, MACHINE) for p in _unique(machine)]
    files += [(p, WORKSPACE) for p in workspace_files(cwd)]
    files.append((policy, POLICY))
    return Places(tuple(files), tuple(d / "User" / "profiles" for d in data_dirs))


def default_home(env: Mapping[str, str]) -> Path:
    return Path(env.get("HOME") or env.get("USERPROFILE") or os.path.expanduser("~"))


# --- what a file says (pure) ------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One settings file that exists: what it says about telemetry, or why it could not be read."""

    path: Path
    kind: str
    off: tuple[str, str] | None = None  # (setting, JSON literal) that turns telemetry off
    settings: tuple[tuple[str, str], ...] = ()  # every telemetry setting it holds, as literals
    error: str | None = None

    @property
    def reason(self) -> str:
        """The decision's reason when this file says off, naming the setting and the file."""
        if self.off is None:
            return ""
        what = "policy" if self.kind == POLICY and self.off[0] == POLICY_LEVEL else "setting"
        return f"VS Code {what} {self.off[0]} = {self.off[1]} in {self.path}"


@dataclass(frozen=True)
class VSCodeSettings:
    """All VS Code settings files found, in report order (empty: none found)."""

    files: tuple[Finding, ...] = ()

    @property
    def off(self) -> Finding | None:
        return next((f for f in self.files if f.off is not None), None)


def lookup(data: Mapping[str, Any], dotted: str) -> list[Any]:
    """Every value of a setting: flat (``"a.b": v``), nested (``{"a": {"b": v}}``) or mixed."""
    values = []
    if dotted in data:
        values.append(data[dotted])
    parts = dotted.split(".")
    for i in range(1, len(parts)):
        inner = data.get(".".join(parts[:i]))
        if isinstance(inner, Mapping):
            values += lookup(inner, ".".join(parts[i:]))
    return values


def _literal(value: Any) -> str:
    try:
        return json.dumps(value)[:80]
    except (TypeError, ValueError):
        return repr(value)[:80]


def judge(path: Path, kind: str, data: Mapping[str, Any]) -> Finding:
    """Apply the IDE's rule to one file's settings.

    ``devscode.telemetryEnabled: false`` counts everywhere. VS Code's telemetry level is an
    application setting, so it counts in user settings and the admin policy: any level but
    ``"all"``, ``telemetry.enableTelemetry: false`` or ``telemetry.enableCrashReporter: false``
    makes ``vscode.env.isTelemetryEnabled`` false.
    """
    names = [DEVSCODE_SETTING]
    if kind in (USER, POLICY):
        names += [LEVEL_SETTING, OLD_SETTING, CRASH_SETTING]
    if kind == POLICY:
        names.append(POLICY_LEVEL)
    found: list[tuple[str, Any]] = [(n, v) for n in names for v in lookup(data, n)]
    off = None
    for name, value in found:
        if name in (LEVEL_SETTING, POLICY_LEVEL):
            says_off = isinstance(value, str) and value != "all"
        else:
            says_off = value is False
        if says_off:
            off = (name, _literal(value))
            break
    shown = tuple((name, _literal(value)) for name, value in found)
    return Finding(path, kind, off, shown)


def read_finding(path: Path, kind: str, mode: int, size: int) -> Finding:
    """Read and judge one existing file; never raises, never blocks on a FIFO or device."""
    if not stat.S_ISREG(mode):
        return Finding(path, kind, error=f"{path} is not a regular file")
    if size > MAX_SETTINGS_BYTES:
        return Finding(path, kind, error=f"{path} is too large to be a settings file")
    reading = read_config(path)
    if reading.error:
        return Finding(path, kind, error=reading.error)
    return judge(path, kind, reading.data)


# --- the watcher --------------------------------------------------------------------------------

_Signature = tuple[int, int, int, int]


def _signature(path: Path) -> _Signature | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_mode)


def _cwd() -> Path | None:
    try:
        return Path(os.getcwd())
    except OSError:  # the working directory was removed
        return None


class VSCodeSettingsWatcher:
    """VS Code settings as they stand, re-checked with a few stats at most once per ``interval``.

    ``current`` never blocks: if another thread is checking, it returns the last result.
    """

    def __init__(
        self,
        env: Mapping[str, str] = os.environ,
        *,
        platform: str = sys.platform,
        home: Path | None = None,
        cwd: Callable[[], Path | None] = _cwd,
        policy: Path = DEFAULT_POLICY,
        interval: float = RECHECK_S,
        relist: float = RELIST_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._platform, self._env = platform, env
        self._home = home if home is not None else default_home(env)
        self._policy = policy
        self._cwd_of, self._cwd = cwd, cwd()
        self._places = places(platform, env, self._home, self._cwd, policy)
        self.interval, self._relist, self._clock = interval, relist, clock
        self._files: dict[Path, tuple[_Signature, Finding]] = {}
        self._profiles: dict[Path, tuple[_Signature | None, float, tuple[Path, ...]]] = {}
        self._last = -math.inf
        self._result = VSCodeSettings()
        self._lock = threading.Lock()
        self.checks = 0  # how many checks ran (for tests and benchmarks)

    def current(self) -> VSCodeSettings:
        if self._clock() - self._last < self.interval:
            return self._result
        if not self._lock.acquire(blocking=False):
            return self._result
        try:
            now = self._clock()
            if now - self._last >= self.interval:
                self._result = self._check(now)
                self._last = now
            return self._result
        finally:
            self._lock.release()

    def _check(self, now: float) -> VSCodeSettings:
        self.checks += 1
        cwd = self._cwd_of()
        if cwd != self._cwd:
            self._cwd = cwd
            self._places = places(self._platform, self._env, self._home, cwd, self._policy)
        watched = list(self._places.files)
        for folder in self._places.profile_dirs:
            watched += [(p, USER) for p in self._profile_files(folder, now)]
        findings = []
        for path, kind in watched:
            signature = _signature(path)
            if signature is None:
                self._files.pop(path, None)
                continue
            known = self._files.get(path)
            if known is None or known[0] != signature:
                known = (signature, read_finding(path, kind, signature[3], signature[1]))
                self._files[path] = known
            findings.append(known[1])
        return VSCodeSettings(tuple(findings))

    def _profile_files(self, folder: Path, now: float) -> tuple[Path, ...]:
        """``<profile>/settings.json`` for each profile; the folder is listed only on change."""
        signature = _signature(folder)
        known = self._profiles.get(folder)
        if known is not None and known[0] == signature and now - known[1] < self._relist:
            return known[2]
        files: tuple[Path, ...] = ()
        if signature is not None and stat.S_ISDIR(signature[3]):
            try:
                with os.scandir(folder) as entries:
                    names = sorted(e.name for e in entries if e.is_dir())
            except OSError:
                names = []
            files = tuple(folder / name / "settings.json" for name in names)
        self._profiles[folder] = (signature, now, files)
        return files
