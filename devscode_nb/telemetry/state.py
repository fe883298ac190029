"""devscode_nb's own small files in the global dir: the anonymous id, the notice, the payload log.

Never ``config.json``: that file is the user's. Every failure here degrades to memory only.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

from devscode_nb.config_file import atomic_write

STATE_NAME = "devscode_nb.json"
LOG_NAME = "devscode_nb-telemetry-log.jsonl"


class LocalState:
    """The anonymous id and the notice acknowledgement, in ``devscode_nb.json``."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / STATE_NAME
        self._memory: dict[str, Any] = {}
        self.error: str | None = None

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return dict(self._memory)
        return {**self._memory, **data} if isinstance(data, dict) else dict(self._memory)

    def _save(self, data: dict[str, Any]) -> None:
        self._memory = data
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, (json.dumps(data, indent=2) + "\n").encode())
            self.error = None
        except OSError as err:
            self.error = f"{self.path} could not be written ({err.strerror or err})"

    def anonymous_id(self) -> str:
        """A random UUID made once and kept: never derived from the machine or the user."""
        data = self._load()
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
    """The last payloads, as sent or as they would be sent: memory plus a small bounded file."""

    def __init__(self, directory: Path, keep: int = 100) -> None:
        self.path = directory / LOG_NAME
        self.keep = keep
        self._recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self._pending: deque[dict[str, Any]] = deque(maxlen=keep)  # bounded under any load
        self._lock = threading.Lock()

    def add(self, disposition: str, payload: dict[str, Any]) -> None:
        entry = {"disposition": disposition, "payload": payload}
        with self._lock:
            self._recent.append(entry)
            self._pending.append(entry)

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
        lines = "".join(json.dumps(e, sort_keys=True, default=str) + "\n" for e in pending)
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(lines)
            if os.path.getsize(self.path) > 512 * self.keep * 4:
                self._trim()

    def _trim(self) -> None:
        tail = self.path.read_text("utf-8").splitlines(keepends=True)[-self.keep :]
        atomic_write(self.path, "".join(tail).encode())

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest entries: from the file (all kernels) or, failing that, this process."""
        try:
            lines = self.path.read_text("utf-8").splitlines()[-limit:]
            entries = [json.loads(line) for line in lines if line.strip()]
        except (OSError, ValueError):
            entries = []
        with self._lock:
            mine = list(self._recent)[-limit:]
        return entries or mine
