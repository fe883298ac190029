"""One kernel's telemetry, without IPython: consent, recording, the local log, the transport.

The IPython layer owns one ``Telemetry`` per session and calls ``record`` from hooks and magics.
``record`` is the only thing on the notebook's hot path; it is a flag check and an append.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from devscode_nb._version import __version__
from devscode_nb.config_file import (
    CONFIG_NAME,
    ConfigError,
    ConfigWatcher,
    global_dir,
    set_config_value,
    tidy_global_dir,
)
from devscode_nb.environment import Frontend, is_truthy, os_name
from devscode_nb.telemetry.consent import CONFIG_KEY, Decision, Inputs, Notice, decide
from devscode_nb.telemetry.events import SCHEMA_VERSION, build_properties
from devscode_nb.telemetry.outbox import Outbox
from devscode_nb.telemetry.recorder import Recorded, Recorder
from devscode_nb.telemetry.settings import DevscodeTelemetry
from devscode_nb.telemetry.state import LocalState, PayloadLog, tidy
from devscode_nb.telemetry.transport import Message, Transport
from devscode_nb.telemetry.vscode_settings import VSCodeSettingsWatcher

RECHECK_S = 1.0  # config.json is stat-ed at most this often: an opt-out elsewhere lands in < 2 s


class Telemetry:
    """Consent-aware recording for one session."""

    def __init__(
        self,
        settings: DevscodeTelemetry,
        frontend: Frontend,
        ipython_version: str = "",
        env: Mapping[str, str] = os.environ,
    ) -> None:
        self.settings = settings
        self.frontend = frontend
        self.env = env
        self._told: set[str] = set()
        self.pending_messages: list[str] = []
        self._messages_lock = threading.Lock()  # the transport thread reports too
        directory = global_dir(env)
        self.config_path = directory / CONFIG_NAME
        self._config = ConfigWatcher(self.config_path)
        self.vscode = VSCodeSettingsWatcher(env)  # stats VS Code's settings at most once a second
        self.state = LocalState(directory, report=self.tell_once)
        self.log = PayloadLog(directory, report=self.tell_once)
        self.outbox = Outbox(directory, report=self.tell_once)
        # What writers killed mid-write left behind (temp files can hold a whole config).
        tidy_global_dir(directory)
        tidy(directory)
        self.outbox.tidy()
        self.recorder = Recorder()
        self.record = self.recorder.record  # the hot path: a bound method, nothing in between
        self.session_id = str(uuid.uuid4())
        self.notice_shown = False
        self.session_off = False
        self.closed = False
        self._notice_stored = self.state.notice()
        self._anonymous_id: str | None = None
        self._ipython_version = ipython_version
        self._lock = threading.RLock()
        self._last_check = 0.0
        self._decision: Decision | None = None
        self.transport = Transport(
            self.recorder,
            self.refresh,
            self._build,
            self.log,
            lambda: (self.settings.api_key, self.settings.host),
            self.outbox,
            interval=settings.flush_interval,
            warm=lambda: self.anonymous_id,
        )
        settings.observe(self._on_setting)
        self.refresh()

    # --- decisions --------------------------------------------------------------------------------

    @property
    def decision(self) -> Decision:
        return self._decision or self.refresh()

    def _inputs(self) -> Inputs:
        settings = self.settings
        version, choice = self._notice_stored
        debug_env = is_truthy(self.env.get("DEVSCODE_TELEMETRY_DEBUG"))
        return Inputs(
            env=self.env,
            enabled=settings.enabled,
            enabled_origin=_origin(settings, "enabled"),
            config=self._config.current(),
            notice=Notice(SCHEMA_VERSION, self.notice_shown, version, choice),
            consent_mode=settings.consent,
            session_off=self.session_off,
            headless=self.frontend.headless,
            debug=settings.debug or debug_env,
            debug_origin="DEVSCODE_TELEMETRY_DEBUG" if debug_env else "DevscodeTelemetry.debug",
            api_key=settings.api_key,
            host=settings.host,
            vscode=self.vscode.current(),
        )

    def refresh(self) -> Decision:
        """Re-read every source (config.json costs a stat unless it changed) and apply."""
        with self._lock:
            inputs = self._inputs()
            decision = decide(inputs)
            was_on = self._decision is None or self._decision.enabled
            self._decision = decision
            self._last_check = time.monotonic()
            self.recorder.accepting = decision.enabled and not self.closed
        if not decision.enabled:  # every queue and the outbox go; nothing is sent about it
            if was_on:
                self.transport.drop_all()
            else:
                self.outbox.delete()  # another session may have left one meanwhile
        if inputs.config.error:
            self.tell_once(f"devscode_nb: {inputs.config.error}; telemetry is off until fixed.")
        if decision.enabled and not self.transport.running:
            self.transport.start()
        return decision

    def tick(self) -> None:
        """Cheap periodic re-check, called after each cell (the transport checks while on)."""
        if time.monotonic() - self._last_check >= RECHECK_S:
            self.refresh()

    def _on_setting(self, _change: Any) -> None:
        self.transport.interval = self.settings.flush_interval
        self.refresh()

    def tell_once(self, message: str) -> None:
        """A message for the person, once per session; the IPython layer shows it on its thread."""
        with self._messages_lock:
            if message not in self._told:
                self._told.add(message)
                self.pending_messages.append(message)

    def take_messages(self) -> list[str]:
        with self._messages_lock:
            messages, self.pending_messages = self.pending_messages, []
        return messages

    # --- what the person decides ------------------------------------------------------------------

    def mark_notice_shown(self) -> None:
        self.notice_shown = True
        self.refresh()

    def acknowledge(self, choice: str = "acknowledged") -> str | None:
        """Store the acknowledgement for this schema version; returns an error line, if any."""
        self.state.set_notice(SCHEMA_VERSION, choice)
        self._notice_stored = (SCHEMA_VERSION, choice)
        self.refresh()
        return self.state.error

    def opt_out(self) -> str | None:
        """Off at once in this kernel, saved in config.json for every other one.

        Returns why it could not be saved, or ``None``. Nothing is sent about the opt-out.
        """
        self.session_off = True  # the transport's check before each request reads this
        self.refresh()  # drops every queue and the outbox now, before the (slower) file write
        error = self._write_config(False)
        self.refresh()
        return error

    def opt_in(self) -> str | None:
        """Informed consent (``%devscode telemetry on``, "Allow", "Undo"): saved, and acknowledged.

        Returns why it could not be saved, or ``None``. When it cannot be saved nothing changes:
        the person is told it stays off, so it stays off (the consent is not kept in memory only).
        """
        error = self._write_config(True)
        if error is not None:
            self.refresh()
            return error
        self.session_off = False
        self.acknowledge("allowed")
        return None

    def _write_config(self, value: bool) -> str | None:
        try:
            set_config_value(self.config_path, CONFIG_KEY, value)
        except ConfigError as err:
            return str(err)
        return None

    # --- building (transport thread) --------------------------------------------------------------

    @property
    def anonymous_id(self) -> str:
        if self._anonymous_id is None:
            self._anonymous_id = self.state.anonymous_id()
        return self._anonymous_id

    def common_properties(self) -> dict[str, Any]:
        return {
            "os": os_name(),
            "ideName": self.frontend.ide_name,
            "ideType": "jupyter",
            "extensionVersion": __version__,
            "pythonVersion": "{}.{}".format(*sys.version_info[:2]),
            "ipythonVersion": self._ipython_version,
            "$session_id": self.session_id,
            "$process_person_profile": False,
            "$geoip_disable": True,
        }

    def _build(self, recorded: Recorded) -> Message | None:
        event, props, timestamp = recorded
        properties = build_properties(event, props, self.common_properties())
        if properties is None:
            return None
        return {
            "event": event,
            "distinct_id": self.anonymous_id,
            "properties": properties,
            "timestamp": datetime.fromtimestamp(timestamp, tz=timezone.utc),
            "uuid": str(uuid.uuid4()),
        }

    # --- lifecycle --------------------------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Process (and deliver) what was recorded so far."""
        return self.transport.flush(timeout)

    def close(self) -> None:
        """Unload: nothing more is recorded; what is undelivered goes to the outbox (≤ 0.1 s)."""
        self.closed = True
        self.settings.unobserve(self._on_setting)
        self.recorder.accepting = False
        self.transport.close()

    def status_text(self) -> str:
        """Every source, its value and origin, the decision and where events go."""
        decision = self.refresh()
        state = "ON" if decision.sending else ("LOCAL ONLY" if decision.enabled else "OFF")
        lines = [f"Devscode telemetry: {state} — {decision.reason}", ""]
        width = max(len(r.source) for r in decision.readings)
        value_width = max(len(r.value) for r in decision.readings)
        for r in decision.readings:
            mark = "  ← off" if r.says_off else ""
            lines.append(f"  {r.source:<{width}}  {r.value:<{value_width}}  {r.origin}{mark}")
        lines += ["", f"Events go to: {decision.destination}"]
        lines += self._delivery_lines()
        headless = " (headless: nothing is sent)" if self.frontend.headless else ""
        lines.append(f"Frontend: {self.frontend.ide_name}{headless}")
        lines.append(f"Config file: {self.config_path}")
        lines.append("Opt out: %devscode telemetry off  (or DO_NOT_TRACK=1, or see %devscode help)")
        return "\n".join(lines)

    def _delivery_lines(self) -> list[str]:
        transport = self.transport
        last = transport.last_delivery
        if last is not None:
            when = datetime.fromtimestamp(last[0]).strftime("%Y-%m-%d %H:%M:%S")
            lines = [f"Last delivery: {when}, {last[1]} event(s) accepted by the server"]
        else:
            lines = ["Last delivery: none in this session"]
        lines.append(f"Last error: {transport.last_error or 'none'}")
        lines.append(f"Outbox: {self.outbox.pending()} event(s) waiting in {self.outbox.path}")
        return lines


def _origin(configurable: Any, trait: str) -> str:
    """Where a trait's value came from: configuration (ipython_config.py, %config) or not."""
    section = configurable.config.get(type(configurable).__name__, {})
    if trait in section:
        return "traitlets (ipython_config.py or %config)"
    default = configurable.trait_defaults(trait)
    return "traitlets default" if getattr(configurable, trait) == default else "set in code"
