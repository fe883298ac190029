"""The notebook thread's side of telemetry: one flag check and a bounded append, nothing else.

Everything costly (checking, building, logging, sending) happens on the transport's thread.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

Recorded = tuple[str, dict[str, Any], float]


class Recorder:
    """A bounded queue that only accepts while telemetry is enabled."""

    __slots__ = ("_queue", "accepting", "dropped", "maxlen")

    def __init__(self, maxlen: int = 10_000) -> None:
        self.accepting = False
        self.dropped = 0
        self.maxlen = maxlen
        self._queue: deque[Recorded] = deque(maxlen=maxlen)

    def record(self, event: str, properties: dict[str, Any]) -> None:
        """Queue an event; drops the oldest when full. Never raises, never blocks."""
        if self.accepting:
            queue = self._queue
            if len(queue) == self.maxlen:
                self.dropped += 1
            queue.append((event, properties, time.time()))

    def take(self, limit: int) -> list[Recorded]:
        """Pop up to ``limit`` events, oldest first (called from the transport thread)."""
        queue, taken = self._queue, []
        try:
            for _ in range(limit):
                taken.append(queue.popleft())
        except IndexError:
            pass
        return taken

    def drop(self) -> list[Recorded]:
        """Forget everything queued (an opt-out sends nothing); returns what was forgotten."""
        return self.take(len(self._queue) + 1)

    def __len__(self) -> int:
        return len(self._queue)
