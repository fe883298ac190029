"""Events not delivered yet, kept in the global dir for the next session that may send.

A folder (0700) of batch files (0600), each written whole by a temp file and a rename. A session
claims a batch by renaming it to a name carrying its process id: a rename succeeds for exactly
one claimant, so two kernels never deliver the same entries. A claim whose process is gone (a
kernel killed while delivering) goes back to the next session. Bounded by count, bytes and age,
oldest dropped first. Payloads here are already reduced to the allow-list.

Only regular files are read (without blocking): anything else found in the folder is reported
once and left alone. A temp file carries its writer's process id, so one left by a writer killed
mid-write is removed at the next load.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devscode_nb.config_file import (
    ConfigError,
    not_regular,
    read_bytes_safely,
    remove_stale_temp_files,
)
from devscode_nb.telemetry.state import LOCK_SUFFIX, Report, locked

OUTBOX_NAME = "devscode_nb-outbox"
MAX_EVENTS = 5_000
MAX_BYTES = 5 * 1024 * 1024
MAX_AGE_S = 7 * 24 * 3600
STALE_CLAIM_S = 3600  # a claim this old is abandoned even if its process id is in use again
SUFFIX = ".json"
CLAIMED = ".claimed-"

Message = dict[str, Any]


@dataclass(frozen=True)
class Claim:
    """A batch this session owns until it calls ``done`` or ``release``."""

    path: Path
    original: Path
    messages: list[Message]


class Outbox:
    """The outbox of one global dir."""

    def __init__(
        self, directory: Path, max_events: int = MAX_EVENTS, report: Report | None = None
    ) -> None:
        self.path = directory / OUTBOX_NAME
        self.max_events = max_events
        self.report = report or (lambda _line: None)
        self.error: str | None = None

    # --- names ----------------------------------------------------------------------------------
    # <time_ns>-<count>-<random>.json, and the same + ".claimed-<pid>-<random>" while claimed.

    def _entries(self) -> list[Path]:
        """Batch files, oldest first; anything else by a batch's name is reported, never read."""
        found = []
        try:
            entries = [e for e in os.scandir(self.path) if e.name[:1].isdigit()]
        except OSError:
            return []
        for entry in entries:
            path = Path(entry.path)
            if entry.is_file(follow_symlinks=False):  # from the listing: no system call
                found.append(path)
                continue
            with contextlib.suppress(OSError):  # claimed by another kernel meanwhile
                problem = not_regular(path, entry.stat(follow_symlinks=False).st_mode)
                if problem:
                    self.report(f"devscode_nb: {problem}; it is left alone in the outbox.")
        return sorted(found)

    def tidy(self) -> int:
        """At load: remove temp files of writers killed mid-write (their process is gone), and
        any older than a write could take; a live writer's is left alone."""
        return remove_stale_temp_files(
            self.path, (), locked=False, prefix=".", writer_gone=_temp_writer_gone
        )

    @staticmethod
    def _count(path: Path) -> int:
        try:
            return int(path.name.split("-", 2)[1])
        except (IndexError, ValueError):
            return 0

    def pending(self) -> int:
        """How many events wait (claimed ones included): a directory listing, nothing read."""
        return sum(self._count(p) for p in self._entries())

    # --- writing --------------------------------------------------------------------------------

    def add(self, messages: list[Message]) -> Path | None:
        """Keep ``messages`` for a later session; returns the file, or ``None`` if it failed."""
        target = self._write(messages[-self.max_events :])
        if target is not None:
            self._bound()
        return target

    def _write(self, messages: list[Message], stamp: str = "") -> Path | None:
        if not messages:
            return None
        data = json.dumps({"v": 1, "events": messages}, default=str).encode()
        stamp = stamp or f"{time.time_ns():020d}"  # names sort oldest first
        name = f"{stamp}-{len(messages)}-{uuid.uuid4().hex[:12]}{SUFFIX}"
        target = self.path / name
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            prefix = f".{os.getpid()}-"  # whose it is: see tidy()
            fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=self.path)  # 0600
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            self.error = None
        except OSError as err:
            self.error = f"the outbox {self.path} could not be written ({err.strerror or err})"
            return None
        return target

    def _bound(self) -> None:
        """Drop the oldest batches beyond the count and byte limits (under a lock)."""
        with locked(self.path, self.report), contextlib.suppress(OSError):
            files = [p for p in self._entries() if CLAIMED not in p.name]
            sizes = {p: p.stat().st_size for p in files}
            count, size = sum(map(self._count, files)), sum(sizes.values())
            for oldest in files:
                if count <= self.max_events and size <= MAX_BYTES:
                    break
                excess = count - self.max_events
                if 0 < excess < self._count(oldest) and size <= MAX_BYTES:
                    self._trim(oldest, excess)
                    break
                with contextlib.suppress(OSError):
                    oldest.unlink()
                count -= self._count(oldest)
                size -= sizes[oldest]

    def _trim(self, path: Path, drop: int) -> None:
        """Drop the ``drop`` oldest events of one batch: claim it, rewrite it, let it go."""
        claim = self._claim_file(path)
        if claim is None:
            return
        keep = claim.messages[drop:]
        with contextlib.suppress(OSError):
            claim.path.unlink()
        self._write(keep, stamp=path.name.split("-")[0])  # keeps its place; not add(): locked

    # --- claiming ---------------------------------------------------------------------------------

    def claim(self, limit: int = MAX_EVENTS) -> Iterator[Claim]:
        """Claim batches oldest first, abandoned claims included, up to ``limit`` events."""
        taken = 0
        for path in self._entries():
            if taken >= limit:
                return
            if CLAIMED in path.name and not _abandoned(path):
                continue
            claim = self._claim_file(path)
            if claim is not None:
                taken += len(claim.messages)
                yield claim

    def _claim_file(self, path: Path) -> Claim | None:
        original = self.path / (path.name.split(CLAIMED)[0])
        mine = self.path / f"{original.name}{CLAIMED}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(path, mine)  # exactly one claimant wins
            os.utime(mine)  # the claim's age starts now
        except OSError:
            return None
        messages = _read(mine, self.report)
        if messages is None:  # not a batch this version can read: never retried forever
            with contextlib.suppress(OSError):
                mine.unlink()
            return None
        fresh = [m for m in messages if not _too_old(m)]
        return Claim(mine, original, fresh)

    def done(self, claim: Claim) -> None:
        """The batch was delivered (or given up): it leaves the outbox."""
        with contextlib.suppress(OSError):
            claim.path.unlink()

    def release(self, claim: Claim) -> None:
        """Give a claimed batch back, untouched, for a later session."""
        try:
            os.rename(claim.path, claim.original)
        except OSError:
            self.done(claim)

    def discard(self, path: Path) -> None:
        """Take back a batch this session wrote, if nobody has claimed it meanwhile."""
        claim = self._claim_file(path)
        if claim is not None:
            self.done(claim)

    def delete(self) -> None:
        """An opt-out: every batch goes, claimed or not, and the folder too."""
        with contextlib.suppress(OSError):
            for path in self.path.iterdir():
                with contextlib.suppress(OSError):
                    path.unlink()
            self.path.rmdir()
        with contextlib.suppress(OSError):
            self.path.with_name(self.path.name + LOCK_SUFFIX).unlink()


def _read(path: Path, report: Report) -> list[Message] | None:
    try:
        data = json.loads(read_bytes_safely(path, MAX_BYTES))
    except ConfigError as err:  # swapped for a FIFO after the listing, or too large
        report(f"devscode_nb: {err}; the outbox skips it.")
        return None
    except (OSError, ValueError, RecursionError):
        return None
    events = data.get("events") if isinstance(data, dict) and data.get("v") == 1 else None
    if not isinstance(events, list):
        return None
    return [m for m in events if isinstance(m, dict) and isinstance(m.get("uuid"), str)]


def _too_old(message: Message) -> bool:
    from datetime import datetime

    try:
        stamp = datetime.fromisoformat(str(message.get("timestamp"))).timestamp()
    except ValueError:
        return True
    return time.time() - stamp > MAX_AGE_S


def _abandoned(path: Path) -> bool:
    """A claim whose process is gone, or that is older than any delivery could take."""
    try:
        pid = int(path.name.split(CLAIMED)[1].split("-")[0])
        age = time.time() - path.stat().st_mtime
    except (IndexError, ValueError, OSError):
        return True
    if age > STALE_CLAIM_S:
        return True
    return _gone(pid)


def _temp_writer_gone(name: str) -> bool:
    """Whether the process that wrote temp file ``.<pid>-<random>.tmp`` is gone."""
    try:
        return _gone(int(name[1:].split("-", 1)[0]))
    except (ValueError, OverflowError):  # not named by this version: only its age counts
        return False


def _gone(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return False
