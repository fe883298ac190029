"""``%devscode`` and ``%%devscode``: parse, call the core, display. Nothing else lives here."""

from __future__ import annotations

import contextlib
import json
import shlex
from collections.abc import Callable
from datetime import datetime
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from traitlets import Bool, Float, Int, Unicode

from devscode_nb._version import __version__
from devscode_nb.ipython.banner import on_words, opt_in_unsaved

HELP = """\
%devscode — Devscode's notebook assistant

  %%devscode [-m MODEL] [/command]   ask the model; the prompt is the cell body
  %devscode ask PROMPT               ask in one line
  %devscode fix                      ask the model to fix the last error
  %devscode explain [CODE]           explain code (default: the previous cell)
  %devscode accept [ID]              accept a suggestion (default: the latest)
  %devscode reject [ID]              reject a suggestion (default: the latest)
  %devscode models                   list the models in config.json and the default
  %devscode commands                 the /commands: built-in ones and customCommands
  %devscode telemetry status         every telemetry source, the decision and why
  %devscode telemetry on|off         opt in / out (saved in ~/.devscode/config.json)
  %devscode telemetry log            the last payloads, as sent or as they would be sent
  %devscode help | version

Telemetry is anonymous: suggestion outcomes, model and command names, token counts, OS and
frontend names, pageviews. Never code, prompts, outputs, paths or names. Opt out with
%devscode telemetry off, DO_NOT_TRACK=1, c.DevscodeTelemetry.enabled = False,
"allowAnonymousTelemetry": false in ~/.devscode/config.json, or by unchecking
"Devscode: Telemetry Enabled" in VS Code's settings."""


def render_log(entries: list[dict[str, Any]], unreadable: int = 0) -> str:
    """Each payload once, with the last thing that happened to it (``in outbox``, then
    ``delivered``…), oldest first. Never raises, whatever the entries hold."""
    latest: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(entries):
        payload = entry.get("payload")
        key = payload.get("uuid") if isinstance(payload, dict) else None
        latest.pop(str(key) if key else f"#{index}", None)
        latest[str(key) if key else f"#{index}"] = entry
    lines: list[str] = []
    for entry in latest.values():
        at = entry.get("at")
        when = ""
        if isinstance(at, (int, float)):
            with contextlib.suppress(ValueError, OverflowError, OSError):
                when = datetime.fromtimestamp(at).strftime(" (%Y-%m-%d %H:%M:%S)")
        lines.append(f"# {entry.get('disposition')}{when}")
        try:
            lines.append(json.dumps(entry.get("payload"), indent=2, sort_keys=True, default=str))
        except (TypeError, ValueError, RecursionError):
            lines.append(repr(entry.get("payload"))[:2000])
    if not lines:
        lines.append("No telemetry payloads recorded yet.")
    if unreadable:
        lines.append(f"({unreadable} line(s) of the log file could not be read and were skipped.)")
    return "\n".join(lines)


class UsageError(Exception):
    """A one-line message about how the magic was called."""


def split_words(line: str) -> list[str]:
    """The magic line's words, shell-style; unbalanced quotes are a ``UsageError``.

    Only this parse is reported as "could not read the command line": a ``ValueError`` from
    anywhere else must not be printed as if it were about what the person typed.
    """
    try:
        return shlex.split(line)
    except ValueError as err:
        raise UsageError(f"could not read the command line ({err}).") from None


@magics_class
class DevscodeMagics(Magics):
    """The ``%devscode`` magics; configurable as ``c.DevscodeMagics.*``."""

    default_model = Unicode(
        None,
        allow_none=True,
        help="The model used when no -m is given: a title, or provider/model, from the models "
        "in ~/.devscode/config.json (default: the first one).",
    ).tag(config=True)
    insert_code = Bool(
        True, help="Put suggested code into the next cell where the frontend allows it."
    ).tag(config=True)
    context_cells = Int(
        3, help="How many earlier cells go along with a request as context (0: none)."
    ).tag(config=True)
    request_timeout = Float(
        60.0, help="Seconds to wait for a model server to connect or to send more of an answer."
    ).tag(config=True)
    answer_time_limit = Float(
        900.0,
        help="Seconds one answer may take in all, however steadily it streams (0: no limit). "
        "Reaching it stops the answer and keeps what arrived.",
    ).tag(config=True)
    answer_size_limit = Int(
        1_000_000,
        help="Characters one answer may have (0: no limit); a long code answer is ~20 000. "
        "Reaching it stops the answer and keeps what arrived.",
    ).tag(config=True)

    def __init__(self, shell: Any, session: Any, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.session = session
        self._raw: set[str] = set()
        self._subcommands: dict[str, Callable[[list[str]], None]] = {
            "telemetry": self._telemetry,
            "help": lambda _args: self._help(),
            "version": lambda _args: self._version(),
        }

    def add_subcommand(
        self, name: str, handler: Callable[[list[str]], None], raw: bool = False
    ) -> None:
        """Let a layer on top (the assistant) add its own subcommands.

        A ``raw`` handler gets the rest of the line as it was typed (``[rest]``), not split.
        """
        self._subcommands[name] = handler
        if raw:
            self._raw.add(name)

    @no_var_expand  # the assistant expands {var} itself; IPython's $var would eat "$5"
    @line_cell_magic
    def devscode(self, line: str, cell: str | None = None) -> None:
        """Devscode's assistant and telemetry controls. See ``%devscode help``."""
        try:
            if cell is not None:
                handler = self._subcommands.get("%%")
                if handler is None:
                    raise UsageError("The assistant is not available in this session.")
                handler([line, cell])
                return
            head, _, rest = line.strip().partition(" ")
            if head in self._raw:
                self._subcommands[head]([rest.strip()])
                return
            words = split_words(line)
            if not words:
                self._help()
                return
            handler = self._subcommands.get(words[0])
            if handler is None:
                raise UsageError(f"Unknown subcommand {words[0]!r}: see %devscode help.")
            handler(words[1:])
        except UsageError as err:
            print(f"devscode: {err}")

    def _view(self, name: str) -> None:
        self.session.telemetry.record("$pageview", {"$current_url": f"devscode-nb://{name}"})

    def _help(self) -> None:
        print(HELP)
        self._view("help")

    def _version(self) -> None:
        import IPython

        print(f"devscode_nb {__version__} (IPython {IPython.__version__})")
        self._view("version")

    def _telemetry(self, args: list[str]) -> None:
        action = args[0] if args else "status"
        telemetry = self.session.telemetry
        if action == "status":
            print(telemetry.status_text())
            self._view("status")
        elif action == "off":
            error = telemetry.opt_out()
            if error:
                print(
                    "Telemetry is off in this kernel only: the opt-out could not be saved, so "
                    f"other and new kernels do not know it (set DO_NOT_TRACK=1 for those). "
                    f"Why: {error}"
                )
            else:
                print(f"Telemetry is off. Saved in {telemetry.config_path}.")
        elif action == "on":
            error = telemetry.opt_in()
            decision = telemetry.refresh()
            if error:
                print(opt_in_unsaved(decision, error))
            elif decision.enabled:
                print(f"{on_words(decision)}. Saved in {telemetry.config_path}.")
            else:
                print(f"Saved, but telemetry stays off: {decision.reason}.")
        elif action == "log":
            telemetry.flush(timeout=2.0)
            print(render_log(telemetry.log.recent(), telemetry.log.unreadable))
            self._view("log")
        else:
            raise UsageError(f"Unknown telemetry action {action!r}: use status, on, off or log.")
