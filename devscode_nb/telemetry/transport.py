"""The background side of telemetry: re-check consent, build payloads, log them, send them.

One daemon thread per session. It imports and creates the posthog client only when events may
leave (SPEC §4). posthog's own exit flush may wait a second; ours is bounded tighter, so we take
over the client's exit handling.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from devscode_nb.telemetry.consent import Decision
from devscode_nb.telemetry.events import filter_message
from devscode_nb.telemetry.recorder import Recorded, Recorder
from devscode_nb.telemetry.state import PayloadLog

BATCH = 500
EXIT_BUDGET_S = 0.3  # SPEC §6: exit adds at most 0.5 s (interpreter teardown takes the rest)
FLUSH_SLICE_S = 0.05

Message = dict[str, Any]


class Transport:
    """Moves events from the recorder to the local log and, when allowed, to PostHog."""

    def __init__(
        self,
        recorder: Recorder,
        refresh: Callable[[], Decision],
        build: Callable[[Recorded], Message | None],
        log: PayloadLog,
        destination: Callable[[], tuple[str, str]],
        interval: float = 0.5,
    ) -> None:
        self.recorder = recorder
        self._refresh = refresh
        self._build = build
        self.log = log
        self._destination = destination
        self.interval = interval
        self.last_error: str | None = None
        self.sent = 0
        self._client: Any = None
        self._client_key: tuple[str, str] | None = None
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._steps = 0
        self._steps_changed = threading.Condition()
        self._exit_hook_registered = False

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread if it is not running (only ever while telemetry is enabled)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="devscode-telemetry", daemon=True)
        self._thread.start()
        if not self._exit_hook_registered:
            atexit.register(self.close)
            self._exit_hook_registered = True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self, budget: float = EXIT_BUDGET_S) -> None:
        """Stop within ``budget`` seconds: a last step, a bounded flush, then let go."""
        deadline = time.monotonic() + budget
        if self._exit_hook_registered:
            with contextlib.suppress(Exception):
                atexit.unregister(self.close)
            self._exit_hook_registered = False
        thread = self._thread
        if thread is not None:
            self._stop.set()
            self._wake.set()
            thread.join(max(0.0, (deadline - time.monotonic()) / 2))
        self._thread = None
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.flush(timeout_seconds=max(0.0, deadline - time.monotonic()))
            _shutdown_in_background(client)
        with contextlib.suppress(Exception):
            self.log.write_pending()

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

    # --- the thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            stopping = self._stop.is_set()
            enabled = True
            try:
                enabled = self._step(final=stopping)
            except Exception as err:  # never die, never print: say it in the status
                self.last_error = f"internal error: {type(err).__name__}: {err}"
            with self._steps_changed:
                self._steps += 1
                self._steps_changed.notify_all()
            if stopping or not enabled:
                return  # while off there is no thread; the session starts one if it turns on

    def _step(self, final: bool = False) -> bool:
        """One pass over the queue; returns whether telemetry is still enabled."""
        decision = self._refresh()
        while decision.enabled:
            batch = self.recorder.take(BATCH)
            if not batch:
                break
            messages = [m for m in map(self._build, batch) if m is not None]
            if decision.sending:
                self._send(messages, final)
            else:
                for message in messages:
                    filtered = filter_message(_jsonable(message))
                    if filtered is not None:
                        self.log.add(f"not sent: {decision.reason}", filtered)
            decision = self._refresh()
        if not decision.enabled:
            self.recorder.drop()
            self.log.clear_pending()
        if not decision.sending:
            self._drop_client()
        self.log.write_pending()
        return decision.enabled

    def _send(self, messages: list[Message], final: bool) -> None:
        if self._stop.is_set() and self._client is None:
            return  # close() has let the client go: exiting, nothing new is started
        client = self._client_for(*self._destination())
        for message in messages:
            client.capture(
                message["event"],
                distinct_id=message["distinct_id"],
                properties=message["properties"],
                timestamp=message["timestamp"],
                uuid=message["uuid"],
                disable_geoip=True,
            )
        # Back-pressure: keep posthog's own queue short, so an opt-out leaves little in flight.
        # Waited for in slices, so that close() never waits behind a slow host.
        deadline = time.monotonic() + max(1.0, self.interval * 2)
        while True:
            started = time.monotonic()
            client.flush(timeout_seconds=FLUSH_SLICE_S)
            drained = time.monotonic() - started < FLUSH_SLICE_S * 0.9
            if drained or final or self._stop.is_set() or time.monotonic() >= deadline:
                return

    # --- the posthog client ---------------------------------------------------------------------

    def _client_for(self, api_key: str, host: str) -> Any:
        if self._client is not None and self._client_key == (api_key, host):
            return self._client
        self._drop_client()
        import posthog  # only here: with telemetry off or local, posthog is never imported

        logging.getLogger("posthog").addHandler(logging.NullHandler())
        client = posthog.Posthog(
            api_key,
            host=host,
            disable_geoip=True,
            before_send=self._last_gate,
            on_error=self._on_error,
            flush_at=100,
            flush_interval=self.interval,
            max_queue_size=20_000,
            gzip=True,
            max_retries=2,
            timeout=5,
            enable_exception_autocapture=False,
        )
        # Our close() bounds the exit flush at EXIT_BUDGET_S; posthog's own allows a full second.
        hook = getattr(client, "_atexit", None)
        if hook is not None:
            atexit.unregister(hook)
        self._client, self._client_key = client, (api_key, host)
        return client

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            _shutdown_in_background(client)

    def _last_gate(self, msg: dict[str, Any]) -> dict[str, Any] | None:
        """posthog's before_send: the allow-list applied to the final message, which we log."""
        filtered = filter_message(msg)
        if filtered is not None:
            self.log.add("sent", _jsonable(filtered))
            self.sent += 1
        return filtered

    def _on_error(self, error: Exception, _batch: Any) -> None:
        self.last_error = f"last delivery failed: {type(error).__name__}: {error}"[:300]


def _shutdown_in_background(client: Any) -> None:
    """Stop posthog's consumers without waiting on the network (they are daemon threads)."""

    def shutdown() -> None:
        with contextlib.suppress(Exception):
            client.shutdown()

    with contextlib.suppress(RuntimeError):  # no new threads at interpreter shutdown: let go
        threading.Thread(target=shutdown, daemon=True).start()


def _jsonable(message: Message) -> Message:
    timestamp = message.get("timestamp")
    if isinstance(timestamp, datetime):
        message = {**message, "timestamp": timestamp.astimezone(timezone.utc).isoformat()}
    return message
