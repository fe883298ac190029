"""Delivery: one queue we own, from the recorder to PostHog, the outbox or the log.

One daemon thread per session builds batches from the recorder and posts each with one request
(``sender.post_batch``: posthog's request layer, no library queue behind it). The "gate" is the
only way to a request: under it, consent is re-read *before every request* and the batch marked
in flight, and an opt-out drops everything under the same gate. So no request starts after an
opt-out; at most one already on the wire finishes. Closing (exit, ``%unload_ext``) never waits
on the network: what was not delivered goes to the outbox, within a budget of a few
hundredths of a second.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from devscode_nb.telemetry.consent import Decision
from devscode_nb.telemetry.events import filter_message
from devscode_nb.telemetry.outbox import Claim, Outbox
from devscode_nb.telemetry.recorder import Recorded, Recorder
from devscode_nb.telemetry.sender import THREAD_PREFIX, Result, post_batch
from devscode_nb.telemetry.state import PayloadLog

BATCH = 500
HELD_BATCHES = 2  # built batches waiting for the wire; the recorder's bound is the real one
RETRIES = 2  # after the first attempt, for network errors, 5xx, 408 and 429
BACKOFF_S = (1.0, 2.0)
MAX_RETRY_AFTER_S = 30.0
REQUEST_TIMEOUT_S = 10.0
EXIT_BUDGET_S = 0.07  # SPEC §4: exit adds at most 0.1 s; the rest is for the interpreter
IN_FLIGHT_GRACE_S = 0.02  # of that budget, how long a request on the wire may still land
BUILT_AT_EXIT = 300  # built for the outbox even past the budget (~10 ms); a backlog is rarer

Message = dict[str, Any]


@dataclass(eq=False)
class Batch:
    """Built, filtered messages on their way; ``claim`` when they came from the outbox."""

    messages: list[Message]
    claim: Claim | None = None
    in_flight: bool = False
    let_go: str = ""  # "closed" or "opted out": whoever let go decided their fate
    outbox_file: Path | None = field(default=None)


class Transport:
    """Moves events from the recorder to PostHog, the outbox and the local log."""

    def __init__(
        self,
        recorder: Recorder,
        refresh: Callable[[], Decision],
        build: Callable[[Recorded], Message | None],
        log: PayloadLog,
        destination: Callable[[], tuple[str, str]],
        outbox: Outbox,
        interval: float = 0.5,
        warm: Callable[[], object] = lambda: None,
    ) -> None:
        self.recorder = recorder
        self._refresh = refresh
        self._build = build
        self.log = log
        self.outbox = outbox
        self._destination = destination
        self._warm = warm
        self.interval = interval
        self.last_error: str | None = None
        self.last_delivery: tuple[float, int] | None = None  # (time, events)
        self.sent = 0  # events the server accepted in this session
        self.requests = 0  # requests started in this session
        self._held: deque[Batch] = deque()
        self._gate = threading.RLock()
        self._landed = threading.Condition(self._gate)
        self._closed = False
        self._outbox_claimed = False
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._interrupt = threading.Event()  # cuts a retry's back-off short
        self._steps = 0
        self._steps_changed = threading.Condition()
        self._exit_hook_registered = False

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread if it is not running (only ever while telemetry is enabled)."""
        if self._closed or (self._thread is not None and self._thread.is_alive()):
            return
        self._interrupt.clear()
        self._thread = threading.Thread(target=self._run, name=THREAD_PREFIX, daemon=True)
        self._thread.start()
        if not self._exit_hook_registered:
            atexit.register(self._close_at_exit)
            self._exit_hook_registered = True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        self._wake.set()

    def flush(self, timeout: float = 5.0) -> bool:
        """Process everything recorded so far (and deliver it, if sending); for tests and views."""
        if not self.running:
            return False
        with self._steps_changed:
            target = self._steps + 2  # a step that started after this call has finished
            self._wake.set()
            return self._steps_changed.wait_for(
                lambda: self._steps >= target or not self.running, timeout
            )

    def _close_at_exit(self) -> None:
        """At interpreter exit the daemon thread dies with the process: no need to wait for it."""
        self.close(join=False)

    def close(self, budget: float = EXIT_BUDGET_S, join: bool = True) -> None:
        """Stop within ``budget`` seconds: nothing new starts, the undelivered go to the outbox."""
        deadline = time.monotonic() + budget
        if self._exit_hook_registered:
            with contextlib.suppress(Exception):
                atexit.unregister(self._close_at_exit)
            self._exit_hook_registered = False
        self._interrupt.set()
        self._wake.set()
        with self._gate:
            self._closed = True  # from here on, no request starts
            grace = deadline - (budget - IN_FLIGHT_GRACE_S)
            while any(b.in_flight for b in self._held) and time.monotonic() < grace:
                self._landed.wait(max(0.0, grace - time.monotonic()))
            batches = list(self._held)
            self._held.clear()
            for batch in batches:
                batch.let_go = "closed"
            self.recorder.accepting = False
            raw = self.recorder.drop()
            with contextlib.suppress(Exception):  # under the gate: a late landing waits for it
                self._keep_for_later(batches, raw, deadline)
        with contextlib.suppress(Exception):
            self.log.write_pending()
        # The thread sees the interrupt and ends by itself; give it what is left of the budget
        # so that an unload leaves no thread behind (one stuck on the wire is not waited for).
        thread = self._thread
        if join and thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))

    def _keep_for_later(self, batches: list[Batch], raw: list[Recorded], deadline: float) -> None:
        decision = self._refresh()
        if not decision.enabled:
            return  # the opt-out has already dropped everything
        loose: list[Message] = []
        for batch in batches:
            if batch.claim is not None:
                self.outbox.release(batch.claim)  # back as it was, same file
                batch.outbox_file = batch.claim.original
            elif batch.in_flight:  # a file of its own, taken back if the request lands
                batch.outbox_file = self._to_outbox(batch.messages, decision)
            else:
                loose.extend(batch.messages)
        raw = raw[-self.outbox.max_events :]  # older ones would be dropped by the bound anyway
        for index, recorded in enumerate(raw):
            if index >= BUILT_AT_EXIT and time.monotonic() >= deadline:
                self.log.add(
                    "failed: the session ended before it could be saved",
                    {"event": "(unbuilt)", "count": len(raw) - index},
                )
                break
            message = self._prepare(recorded)
            if message is not None:
                loose.append(message)
        if loose:
            self._to_outbox(loose, decision)

    def _to_outbox(self, messages: list[Message], decision: Decision) -> Path | None:
        if not decision.sending:
            self.log.add_all(f"not sent: {decision.reason}", messages)
            return None
        path = self.outbox.add(messages)
        if path is None:
            self.last_error = self.outbox.error
            self.log.add_all(f"failed: {self.outbox.error}", messages)
        else:
            self.log.add_all("in outbox", messages)
        return path

    def drop_all(self) -> None:
        """An opt-out: nothing starts, every queue and the outbox are dropped. Sends nothing."""
        self._interrupt.set()
        with self._gate:
            batches = list(self._held)
            self._held.clear()
            raw = self.recorder.drop()
            for batch in batches:
                batch.let_go = "opted out"
        with contextlib.suppress(Exception):
            for batch in batches:
                if not batch.in_flight:  # one on the wire tells its own fate when it lands
                    self.log.add_all("dropped: opted out", batch.messages)
            for event, _props, stamp in raw[-self.log.keep :]:
                self.log.add("dropped: opted out", {"event": event, "timestamp": _iso(stamp)})
            self.outbox.delete()
            self.log.write_pending()

    # --- the thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        with contextlib.suppress(Exception):  # what building needs, read now, not at exit
            _posthog_version()
            self._warm()
        while not self._closed:
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._closed:
                break
            enabled = True
            try:
                enabled = self._step()
            except Exception as err:  # never die, never print: say it in the status
                self.last_error = f"internal error: {type(err).__name__}: {err}"[:300]
            with contextlib.suppress(Exception):
                self.log.write_pending()
            with self._steps_changed:
                self._steps += 1
                self._steps_changed.notify_all()
            if not enabled:
                break  # while off there is no thread; the session starts one if it turns on
        with self._steps_changed:
            self._steps_changed.notify_all()

    def _step(self) -> bool:
        """One pass: build what was recorded, deliver it; returns whether telemetry is on."""
        decision = self._refresh()
        if not decision.enabled:
            return False
        if not decision.sending:
            while raw := self.recorder.take(BATCH):
                messages = [m for m in map(self._prepare, raw) if m is not None]
                self.log.add_all(f"not sent: {decision.reason}", messages)
            return True
        self._interrupt.clear()
        if not self._outbox_claimed:
            self._outbox_claimed = True
            self._claim_outbox()
        while not self._closed:
            held = self._next_batch()
            if held is None or not self._deliver(held):
                break
        return True

    def _claim_outbox(self) -> None:
        """Deliver what earlier sessions left (original uuids and timestamps), oldest first."""
        for claim in self.outbox.claim():
            with self._gate:
                if self._closed or not self._refresh().sending:
                    self.outbox.release(claim)
                    return
                if claim.messages:
                    self._held.append(Batch(claim.messages, claim))
                else:
                    self.outbox.done(claim)

    def _next_batch(self) -> Batch | None:
        """The oldest held batch, after topping up from the recorder (built under the gate)."""
        with self._gate:
            while len(self._held) < HELD_BATCHES and len(self.recorder):
                raw = self.recorder.take(BATCH)
                messages = [m for m in map(self._prepare, raw) if m is not None]
                if messages:
                    self._held.append(Batch(messages))
            return self._held[0] if self._held else None

    def _deliver(self, batch: Batch) -> bool:
        """Post one batch, with retries; returns False when the thread should stop for now."""
        result = Result("retry")
        for attempt in range(RETRIES + 1):
            with self._gate:  # the only way to the wire
                if self._closed or batch.let_go:
                    return False
                if not self._refresh().sending or batch.let_go:  # a re-read found an opt-out
                    return False
                batch.in_flight = True
                self.requests += 1
            api_key, host = self._destination()
            try:
                result = post_batch(api_key, host, batch.messages, REQUEST_TIMEOUT_S)
            finally:
                with self._gate:  # landing and settling are one step: close() sees either
                    batch.in_flight = False
                    settled = self._settle(batch, result)
                    self._landed.notify_all()
            if settled:
                return True
            if batch.let_go:
                return False
            if attempt < RETRIES:
                pause = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
                if result.retry_after:
                    pause = max(pause, min(result.retry_after, MAX_RETRY_AFTER_S))
                if self._interrupt.wait(pause):
                    return False
        with self._gate:  # retries used up: keep them for a later session
            if batch.let_go or batch not in self._held:
                return False
            self._held.remove(batch)
            if batch.claim is not None:
                self.outbox.release(batch.claim)
                self.log.add_all("in outbox", batch.messages)
            else:
                self._to_outbox(batch.messages, self._refresh())
        return True

    def _settle(self, batch: Batch, result: Result) -> bool:
        """Record what became of a request; True when the batch's fate is settled."""
        with self._gate:
            if result.kind == "retry":
                self.last_error = f"delivery failed: {result.reason}"
                if batch.let_go == "opted out":
                    self.log.add_all("dropped: opted out", batch.messages)
                return False
            if batch in self._held:
                self._held.remove(batch)
            if batch.claim is not None and batch.let_go != "closed":
                self.outbox.done(batch.claim)
            if result.kind == "ok":
                if batch.let_go == "closed" and batch.outbox_file is not None:
                    self.outbox.discard(batch.outbox_file)  # it landed after all
                self.sent += len(batch.messages)
                self.last_delivery = (time.time(), len(batch.messages))
                self.log.add_all("delivered", batch.messages)
            else:
                self.last_error = f"delivery failed: {result.reason}"
                self.log.add_all(f"failed: {result.reason} (not retried)", batch.messages)
            return True

    # --- building -------------------------------------------------------------------------------

    def _prepare(self, recorded: Recorded) -> Message | None:
        """Build one message as posthog's client would, reduced to the allow-list."""
        message = self._build(recorded)
        if message is None:
            return None
        properties = {**message["properties"], "$lib": "posthog-python"}
        properties["$lib_version"] = _posthog_version()
        stamp = message["timestamp"]
        if isinstance(stamp, datetime):
            stamp = stamp.astimezone(timezone.utc).isoformat()
        return filter_message({**message, "properties": properties, "timestamp": stamp})


_version: str | None = None


def _posthog_version() -> str:
    global _version
    if _version is None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            _version = version("posthog")
        except PackageNotFoundError:
            _version = "0"
    return _version


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, tz=timezone.utc).isoformat()
