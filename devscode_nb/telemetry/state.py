"""devscode_nb's own small files in the global dir: the anonymous id, the notice, the payload log.

Never ``config.json``: that file is the user's. Every failure here degrades to memory only. Like
``config.json``, these files (and their lock files) are only ever opened when they are regular
files, and without blocking: a FIFO, socket or device placed where one should be is reported
once and treated as unusable, so it can hold neither the notebook nor the transport thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from devscode_nb.config_file import (
    ConfigError,
    atomic_write,
    flocked,
    not_regular,
    open_regular,
    read_bytes_safely,
    remove_stale_temp_files,
)

STATE_NAME = "devscode_nb.json"
LOG_NAME = "devscode_nb-telemetry-log.jsonl"
LOCK_SUFFIX = ".lock"
PRIVATE = 0o600  # every file devscode_nb creates in the global dir
LOG_TAIL_BYTES = 1024 * 1024  # the log view reads at most this much of the file

Report = Callable[[str], None]  # shows one line to the person, once per session


def _ignore(_line: str) -> None:
    pass


@contextlib.contextmanager
def locked(
    path: Path, report: Report = _ignore, *, wait: bool = True, create: bool = True
) -> Iterator[bool]:
    """An exclusive advisory lock on ``<path>.lock`` (0600), for read-modify-write across kernels.

    Yields whether it is held. Where locking is impossible (a read-only dir, a lock file that is
    not a regular file) the caller still runs: its writes are atomic renames, so the worst case
    is a lost update, never a torn file. ``wait=False`` gives up at once when another holds it;
    ``create=False`` never makes the lock file (nor the global dir).
    """
    lock_path = path.with_name(path.name + LOCK_SUFFIX)
    try:
        if create:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_RDWR | (os.O_CREAT if create else 0)
        fd = open_regular(lock_path, flags, PRIVATE)
    except ConfigError as err:
        report(f"devscode_nb: {err}; {path.name} is changed without a lock (each write is whole).")
        yield False
        return
    except OSError:
        yield False
        return
    try:
        with flocked(fd, wait) as held:  # the same flock that guards config.json edits
            yield held
    finally:
        os.close(fd)


def tidy(directory: Path) -> int:
    """At load: remove the temp files the state file's and the log's writers left when they were
    killed mid-write. Each writer writes under its file's lock, so while that lock is free (a
    killed process holds nothing) every such temp file is stale; when it is busy, only old ones.
    """
    removed = 0
    for name in (STATE_NAME, LOG_NAME):
        with locked(directory / name, wait=False, create=False) as held:
            removed += remove_stale_temp_files(directory, (name,), locked=held)
    return removed


class LocalState:
    """The anonymous id and the notice acknowledgement, in ``devscode_nb.json`` (0600).

    Every change is a read-modify-write under a lock, so twenty kernels starting together end
    up with one id, and an acknowledgement stored while the id is made is kept.
    """

    def __init__(self, directory: Path, report: Report = _ignore) -> None:
        self.path = directory / STATE_NAME
        self.report = report
        self._memory: dict[str, Any] = {}
        self.error: str | None = None

    def _unusable(self, problem: str) -> None:
        self.error = f"{problem}; the anonymous id and the notice choice stay in this kernel only"
        self.report(f"devscode_nb: {self.error}.")

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(read_bytes_safely(self.path))
        except ConfigError as err:  # a FIFO, a device…: never read
            self._unusable(str(err))
            return dict(self._memory)
        except (OSError, ValueError, RecursionError):
            return dict(self._memory)
        return {**self._memory, **data} if isinstance(data, dict) else dict(self._memory)

    def _save(self, data: dict[str, Any]) -> None:
        self._memory = data
        try:
            with contextlib.suppress(FileNotFoundError):
                problem = not_regular(self.path, os.stat(self.path).st_mode)
                if problem:  # never replaced: somebody put it there
                    self._unusable(problem)
                    return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, (json.dumps(data, indent=2) + "\n").encode())
            self.error = None
        except OSError as err:
            self.error = f"{self.path} could not be written ({err.strerror or err})"

    def anonymous_id(self) -> str:
        """A random UUID made once and kept: never derived from the machine or the user."""
        value = self._load().get("anonymousId")
        if isinstance(value, str) and _is_uuid(value):
            return value
        with locked(self.path, self.report):
            data = self._load()  # another kernel may have made it while we waited
            value = data.get("anonymousId")
            if isinstance(value, str) and _is_uuid(value):
                return value
            data["anonymousId"] = str(uuid.uuid4())
            self._save(data)
            return str(data["anonymousId"])

    def notice(self) -> tuple[int | None, str | None]:
        entry = self._load().get("notice")
        if not isinstance(entry, dict):
            return None, None
        version, choice = entry.get("version"), entry.get("choice")
        return (
            version if isinstance(version, int) else None,
            choice if isinstance(choice, str) else None,
        )

    def set_notice(self, version: int, choice: str) -> None:
        with locked(self.path, self.report):
            data = self._load()
            data["notice"] = {"version": version, "choice": choice, "at": int(time.time())}
            self._save(data)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class PayloadLog:
    """The last payloads and what really became of each: memory plus a small bounded file (0600).

    Dispositions: ``delivered``, ``in outbox``, ``failed: <reason>``, ``not sent: <reason>``,
    ``dropped: opted out``. The file is shared by every kernel; reading it never raises.
    """

    def __init__(self, directory: Path, keep: int = 200, report: Report = _ignore) -> None:
        self.path = directory / LOG_NAME
        self.keep = keep
        self.report = report
        self._recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self._pending: deque[dict[str, Any]] = deque(maxlen=keep)  # bounded under any load
        self._lock = threading.Lock()
        self.unreadable = 0  # lines of the file the last ``recent()`` could not use

    def add(self, disposition: str, payload: dict[str, Any]) -> None:
        entry = {"at": round(time.time(), 3), "disposition": disposition, "payload": payload}
        with self._lock:
            self._recent.append(entry)
            self._pending.append(entry)

    def add_all(self, disposition: str, payloads: list[dict[str, Any]]) -> None:
        for payload in payloads[-self.keep :]:
            self.add(disposition, payload)

    def clear_pending(self) -> None:
        with self._lock:
            self._pending.clear()

    def write_pending(self) -> None:
        """Append what is new to the file; trim it now and then. Called off the notebook thread."""
        with self._lock:
            pending = list(self._pending)
            self._pending.clear()
        if not pending:
            return
        data = "".join(json.dumps(e, sort_keys=True, default=str) + "\n" for e in pending)
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = open_regular(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE)
            except ConfigError as err:
                self._unusable(err)
                return
            with os.fdopen(fd, "a", encoding="utf-8") as handle:
                handle.write(data)  # one write: concurrent kernels append whole lines
            if os.path.getsize(self.path) > 600 * self.keep * 4:
                with locked(self.path, self.report):
                    self._trim()

    def _unusable(self, err: ConfigError) -> None:
        self.report(f"devscode_nb: {err}; the payload log is kept in this kernel only.")

    def _tail(self) -> bytes:
        """The file's last ``LOG_TAIL_BYTES``; never blocks, never raises (``b""`` instead)."""
        try:
            fd = open_regular(self.path)
        except ConfigError as err:
            self._unusable(err)
            return b""
        except OSError:
            return b""
        try:
            with os.fdopen(fd, "rb") as handle:
                handle.seek(max(0, os.fstat(fd).st_size - LOG_TAIL_BYTES))
                return handle.read(LOG_TAIL_BYTES)
        except OSError:
            return b""

    def _trim(self) -> None:
        tail = self._tail().splitlines(keepends=True)[-self.keep :]
        if tail:
            atomic_write(self.path, b"".join(tail))

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest entries: from the file (all kernels) or, failing that, this process.

        A line that is not an entry (torn, from another version, not JSON) is skipped and
        counted in ``unreadable``.
        """
        entries: list[dict[str, Any]] = []
        self.unreadable = 0
        raw = self._tail()
        lines = raw.splitlines()
        if raw and len(raw) >= LOG_TAIL_BYTES:
            lines = lines[1:]  # the first line may start mid-way
        for line in lines[-limit * 4 :]:
            entry = _entry(line)
            if entry is None:
                self.unreadable += bool(line.strip())
            else:
                entries.append(entry)
        with self._lock:
            mine = list(self._recent)
        return (entries or mine)[-limit:]


def _entry(line: bytes) -> dict[str, Any] | None:
    """A log line as an entry, or ``None`` when it is not one this version can show."""
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(entry, dict):
        return None
    disposition, payload = entry.get("disposition"), entry.get("payload")
    if not isinstance(disposition, str) or not isinstance(payload, dict):
        return None
    at = entry.get("at")
    return {
        "at": at if isinstance(at, (int, float)) else None,
        "disposition": disposition[:300],
        "payload": payload,
    }
