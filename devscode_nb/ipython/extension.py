"""One session per shell: registers hooks, magics and configurables, and removes them again.

Everything this module registers on load, ``unload`` removes, so ``%reload_ext`` never doubles a
hook. Nothing here may raise into, block, or print noise into a user's cell.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from devscode_nb.environment import Frontend, detect_frontend, terminal_attended
from devscode_nb.telemetry import SCHEMA_VERSION, DevscodeTelemetry, Telemetry

_sessions: dict[int, Session] = {}


def shell_kind(shell: Any) -> str:
    name = type(shell).__name__
    if "ZMQ" in name or hasattr(shell, "kernel"):
        return "kernel"
    if "Terminal" in name:
        return "terminal"
    return "embedded"


def _allow_stdin(shell: Any) -> bool | None:
    """What the kernel's current request said about input (None when there is no request)."""
    header = getattr(shell, "parent_header", None)
    if not header:
        return None
    content = header.get("content") if isinstance(header, dict) else None
    value = content.get("allow_stdin") if isinstance(content, dict) else None
    return value if isinstance(value, bool) else None


class Session:
    """The extension as loaded into one shell."""

    def __init__(self, shell: Any) -> None:
        import IPython

        from devscode_nb.ipython.assistant_magics import AssistantMagics
        from devscode_nb.ipython.magics import DevscodeMagics

        self.shell = shell
        self.kind = shell_kind(shell)
        self.settings = DevscodeTelemetry(parent=shell)
        self._seen_stdin: bool | None = None
        self.frontend: Frontend = self._detect(_allow_stdin(shell))
        self.telemetry = Telemetry(self.settings, self.frontend, IPython.__version__)
        self.magics = DevscodeMagics(shell=shell, session=self)
        self._notice_done = False
        self.assistant = AssistantMagics(self).assistant  # registers its subcommands

        shell.configurables.append(self.settings)  # Magics add themselves on creation
        shell.register_magics(self.magics)
        shell.events.register("pre_run_cell", self.pre_run_cell)
        shell.events.register("post_run_cell", self.post_run_cell)
        self._show_notice_if_due()
        self.show_messages()

    def close(self) -> None:
        shell = self.shell
        for event, callback in (
            ("pre_run_cell", self.pre_run_cell),
            ("post_run_cell", self.post_run_cell),
        ):
            with contextlib.suppress(ValueError):
                shell.events.unregister(event, callback)
        manager = shell.magics_manager
        for kind, names in self.magics.magics.items():
            for name in names:
                manager.magics[kind].pop(name, None)
        manager.registry.pop(type(self.magics).__name__, None)
        shell.configurables[:] = [
            c for c in shell.configurables if c is not self.settings and c is not self.magics
        ]
        if self.assistant is not None:
            with contextlib.suppress(Exception):
                self.assistant.close()
        self.telemetry.close()
        with contextlib.suppress(Exception):
            self.show_messages()  # what the last writes found (an outbox that cannot be used)

    # --- hooks (hot path: keep them cheap) -----------------------------------------------------

    def pre_run_cell(self, info: Any) -> None:
        if not self._notice_done:
            with contextlib.suppress(Exception):
                self._show_notice_if_due()

    def post_run_cell(self, result: Any) -> None:
        try:
            if self.assistant is not None:
                self.assistant.cell_executed(result)
            self.telemetry.tick()
            if self.telemetry.pending_messages:
                self.show_messages()
        except Exception:  # a hook must never break a cell
            pass

    # --- the notice ----------------------------------------------------------------------------

    def _detect(self, allow_stdin: bool | None) -> Frontend:
        attended = terminal_attended() if self.kind == "terminal" else True
        return detect_frontend(self.kind, allow_stdin=allow_stdin, attended=attended)

    def _show_notice_if_due(self) -> None:
        """Show the notice once, where a person can see it; until then nothing is sent.

        A kernel knows only from a request whether a person's frontend sent it (input allowed):
        it waits for one; a runner's requests (input forbidden) keep it headless, and it looks
        again only when a request says otherwise.
        """
        if self.kind == "kernel":
            allow_stdin = _allow_stdin(self.shell)
            if allow_stdin is None or allow_stdin == self._seen_stdin:
                return  # no request yet, or nothing new since the last look
            self._seen_stdin = allow_stdin
            self.frontend = self._detect(allow_stdin)
            self.telemetry.frontend = self.frontend
            if self.frontend.headless:
                self.telemetry.refresh()
                return  # a runner, so far: no notice; a person's request may still come
        self._notice_done = True
        decision = self.telemetry.refresh()
        if self.frontend.headless or not decision.enabled or self._acknowledged():
            return
        from devscode_nb.ipython.banner import show_notice

        show_notice(self)

    def _acknowledged(self) -> bool:
        version, _choice = self.telemetry.state.notice()

        return version == SCHEMA_VERSION

    def show_messages(self) -> None:
        for message in self.telemetry.take_messages():
            print(message, file=sys.stderr)


def load(shell: Any) -> None:
    if id(shell) in _sessions:
        return
    _sessions[id(shell)] = Session(shell)


def unload(shell: Any) -> None:
    session = _sessions.pop(id(shell), None)
    if session is not None:
        session.close()


def session_for(shell: Any) -> Session | None:
    return _sessions.get(id(shell))
