"""The assistant's core: commands, context, asking a model, suggestions, and their telemetry.

Knows nothing of IPython. The IPython layer (``assistant_magics``) gathers the cell text, the
earlier cells and the last error, calls :meth:`Assistant.ask`, and shows what comes back.

What is recorded (SPEC §3), through the ``record`` callable it is handed only:

- ``useSlashCommand`` — a model command ran: its name (``ask`` or another built-in; ``custom``
  for a ``customCommands`` entry, whose name the person wrote), model and provider;
- ``tokens_generated`` and ``$ai_generation`` — a model answered (or failed after a request was
  made): token counts as the server reported them, latency, a random trace id, the HTTP status;
- ``suggestion_outcome`` — a suggestion was decided, whichever way;
- ``$pageview`` ``devscode-nb://suggestion`` is recorded by the display layer when it shows one.

Never a prompt, an answer, code, a path or a key.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import secrets
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devscode_nb.assistant.providers import (
    CHARS_PER_TOKEN,
    Answer,
    Limits,
    ModelConfig,
    ProviderError,
    chat,
    resolve_models,
)
from devscode_nb.assistant.providers.base import estimate_prompt_tokens, make_usage
from devscode_nb.assistant.providers.models import find_model
from devscode_nb.assistant.suggestions import Suggestion, SuggestionTracker, extract_code
from devscode_nb.config_file import ConfigWatcher

SYSTEM_PROMPT = (
    "You are Devscode, a coding assistant inside a Jupyter notebook (Python). Be brief. When the "
    "answer is code, give it as one complete, runnable ```python block that can go into the next "
    "cell as is, followed by at most a few sentences."
)

#: Tokens kept free for the answer when trimming to ``contextLength`` and ``maxTokens`` is not
#: set: a quarter of the context, at most this (Continue's default ``maxTokens``).
ANSWER_RESERVE = 4096

#: Magic lines that run the assistant itself: such a cell never decides a suggestion.
OWN_MAGIC = re.compile(r"^\s*%{1,2}devscode\b")
_INPUT_SLOT = re.compile(r"\{\{\{\s*input\s*\}\}\}")
_COMMAND_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
#: Frames from these files are IPython's, not the person's: left out of ``fix``'s traceback.
_IPYTHON_FRAME = re.compile(r"[\\/]IPython[\\/]")


class AssistantError(Exception):
    """A one-line message for the person (unknown command, unusable config, no error to fix)."""


@dataclass(frozen=True)
class Command:
    """A ``/name`` command: a prompt template whose ``{{{ input }}}`` is filled from the cell."""

    name: str
    template: str
    description: str
    #: Built-ins that work on code use the previous cell when the cell gives none.
    uses_previous_cell: bool = False
    custom: bool = False

    @property
    def public_name(self) -> str:
        """The name telemetry may carry: a built-in's, else ``custom`` (the person wrote it)."""
        return "custom" if self.custom else self.name


BUILTIN_COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command("ask", "{{{ input }}}", "ask anything (the default)"),
        Command(
            "edit",
            "Edit the code below as asked, and answer with the complete edited code in one "
            "```python block.\n\n{{{ input }}}",
            "rewrite code as the cell asks (default: the previous cell)",
            uses_previous_cell=True,
        ),
        Command(
            "comment",
            "Add clear comments and docstrings to this code without changing what it does; "
            "answer with the complete commented code in one ```python block.\n\n{{{ input }}}",
            "comment code (default: the previous cell)",
            uses_previous_cell=True,
        ),
        Command(
            "test",
            "Write pytest unit tests for this code, in one ```python block that can run in a "
            "notebook cell.\n\n{{{ input }}}",
            "write tests (default: for the previous cell)",
            uses_previous_cell=True,
        ),
        Command(
            "explain",
            "Explain what this code does, step by step, briefly. Do not rewrite it.\n\n"
            "{{{ input }}}",
            "explain code (default: the previous cell)",
            uses_previous_cell=True,
        ),
        Command(
            "fix",
            "This notebook cell failed. Find the cause and answer with the complete fixed cell "
            "in one ```python block, then one sentence on what was wrong.\n\n{{{ input }}}",
            "fix the last error",
        ),
    )
}


def fill(template: str, text: str) -> str:
    """The template with every ``{{{ input }}}`` replaced by ``text`` (appended if it has none)."""
    if _INPUT_SLOT.search(template):
        return _INPUT_SLOT.sub(lambda _m: text, template)
    return f"{template}\n\n{text}" if text else template


def custom_commands(config: Mapping[str, Any]) -> dict[str, Command]:
    """``customCommands`` entries (``name``, ``prompt``, ``description``) as commands."""
    raw = config.get("customCommands")
    out: dict[str, Command] = {}
    if not isinstance(raw, list):
        return out
    for entry in raw:
        if not isinstance(entry, Mapping):
            continue
        name, prompt = entry.get("name"), entry.get("prompt")
        if not isinstance(name, str) or not isinstance(prompt, str):
            continue
        name = name.strip().lstrip("/")
        if not _COMMAND_NAME.fullmatch(name):
            continue
        description = entry.get("description")
        out[name] = Command(
            name,
            prompt,
            description.strip() if isinstance(description, str) else "custom command",
            custom=True,
        )
    return out


def _fenced(code: str) -> str:
    fence = "```"
    while fence in code:
        fence += "`"
    return f"{fence}python\n{code.rstrip()}\n{fence}"


def format_error(cell: str, error: BaseException) -> str:
    """The failing cell and its traceback (without IPython's own frames), for ``fix``."""
    if isinstance(error, SyntaxError):
        lines = traceback.format_exception_only(type(error), error)
    else:
        frames = [
            f for f in traceback.extract_tb(error.__traceback__)
            if not _IPYTHON_FRAME.search(f.filename)
        ]
        lines = ["Traceback (most recent call last):\n"]
        lines += traceback.format_list(frames)
        lines += traceback.format_exception_only(type(error), error)
    return f"The cell:\n{_fenced(cell)}\n\nThe error:\n```\n{''.join(lines).rstrip()}\n```"


@dataclass
class Reply:
    """What came of one request: the answer (or what arrived before an error) and a suggestion."""

    command: str
    text: str = ""
    model: ModelConfig | None = None
    answer: Answer | None = None
    error: str | None = None
    error_kind: str | None = None
    suggestion: Suggestion | None = None
    #: Earlier cells left out of the prompt to fit the model's ``contextLength``, and a line
    #: saying so (the count of tokens is an estimate, and says it).
    cells_left_out: int = 0
    notice: str | None = None


@dataclass
class _LastError:
    cell: str
    error: BaseException


@dataclass
class Assistant:
    """One session's assistant: config-driven models and commands, and its open suggestions."""

    #: Records one event (name, properties); the telemetry core's ``Telemetry.record``. Handed
    #: in so that the assistant knows nothing of how telemetry works.
    record: Callable[[str, dict[str, Any]], None]
    config_path: Path
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    #: Called with each decided suggestion after its outcome was recorded (the display layer
    #: uses it to update buttons).
    on_decided: Callable[[Suggestion], None] | None = None

    def __post_init__(self) -> None:
        self._config = ConfigWatcher(self.config_path)
        self.tracker = SuggestionTracker(self._decided)
        self.last_error: _LastError | None = None
        self._exit_hook = False
        self._fresh: set[str] = set()  # opened by the cell still running: it cannot decide them

    # --- configuration ----------------------------------------------------------------------

    def _config_data(self) -> Mapping[str, Any]:
        reading = self._config.current()
        if reading.error:
            raise AssistantError(f"{reading.error}: fix it to use its models and commands")
        return reading.data

    def models(self) -> list[ModelConfig]:
        return resolve_models(self._config_data(), self.env, config_path=str(self.config_path))

    def model(self, name: str | None, default: str | None) -> ModelConfig:
        """The model to use; raises ``ProviderError`` (no model / unknown model)."""
        models = self.models()
        if not models:
            raise ProviderError(
                "no_model",
                f'No model configured: add one to the "models" list in {self.config_path}, e.g. '
                '{"title": "Llama", "provider": "ollama", "model": "llama3.1"}',
            )
        return find_model(models, name, default or None)

    def commands(self) -> dict[str, Command]:
        """Built-in commands, then ``customCommands`` (a custom one may replace a built-in)."""
        return {**BUILTIN_COMMANDS, **custom_commands(self._config_data())}

    def command(self, name: str) -> Command:
        commands = self.commands()
        found = commands.get(name.lstrip("/"))
        if found is None:
            names = ", ".join(f"/{n}" for n in commands)
            raise AssistantError(f"Unknown command /{name.lstrip('/')}: use one of {names}")
        return found

    # --- asking -----------------------------------------------------------------------------

    def build_messages(
        self,
        command: Command,
        text: str,
        context: Sequence[str],
        previous_cell: str | None,
        model: ModelConfig | None = None,
    ) -> tuple[list[dict[str, str]], int]:
        """The chat messages (a system prompt, then earlier cells and the filled template), and
        how many earlier cells were left out to fit ``contextLength``.

        ``model.system_message`` (the config's ``systemMessage``) replaces our system prompt.

        The prompt is counted at :data:`CHARS_PER_TOKEN` characters per token (an estimate: no
        server says its count before it is asked); the answer gets ``maxTokens``, else a quarter
        of the context (at most :data:`ANSWER_RESERVE`). Oldest cells go first; the cell itself
        is never cut (the server then says the prompt is too long).
        """
        if command.name == "fix" and not command.custom:
            if self.last_error is None:
                raise AssistantError("No error to fix: run a cell that fails first.")
            error = format_error(self.last_error.cell, self.last_error.error)
            text = f"{error}\n\n{text}" if text.strip() else error
        elif command.uses_previous_cell and previous_cell and not _looks_like_code(text):
            code = _fenced(previous_cell)
            text = f"{text.strip()}\n\n{code}" if text.strip() else code
        system = (model.system_message if model else None) or SYSTEM_PROMPT
        request = fill(command.template, text.strip())

        def messages(cells: Sequence[str]) -> list[dict[str, str]]:
            parts = []
            if cells:
                parts.append(
                    "Earlier cells of the notebook, oldest first:\n\n"
                    + "\n\n".join(_fenced(c) for c in cells)
                )
            parts.append(request)
            return [
                {"role": "system", "content": system},
                {"role": "user", "content": "\n\n".join(parts)},
            ]

        cells = [c for c in context if c.strip()]
        limit = model.context_length if model else None
        if not limit:
            return messages(cells), 0
        max_tokens = model.completion_options.get("maxTokens") if model else None
        reserve = (
            max_tokens
            if isinstance(max_tokens, int) and max_tokens > 0
            else min(ANSWER_RESERVE, limit // 4)
        )
        dropped = 0
        while cells and estimate_prompt_tokens(messages(cells)) + reserve > limit:
            cells.pop(0)
            dropped += 1
        return messages(cells), dropped

    def ask(
        self,
        command_name: str,
        text: str,
        *,
        model_name: str | None = None,
        default_model: str | None = None,
        context: Sequence[str] = (),
        previous_cell: str | None = None,
        timeout: float = 60.0,
        on_text: Callable[[str], None] | None = None,
        stream: bool = True,
        limits: Limits | None = None,
    ) -> Reply:
        """Run one command against a model; never raises for model or config trouble.

        ``KeyboardInterrupt`` during the request comes back as ``error_kind="interrupted"``.
        An answer stopped by ``limits`` keeps what arrived (``error_kind="limit"``), is recorded
        as a generation with estimated counts, and offers its code if a block was complete.
        """
        reply = Reply(command=command_name.lstrip("/") or "ask")
        try:
            command = self.command(reply.command)
            reply.command = command.name
            model = self.model(model_name, default_model)
        except (AssistantError, ProviderError) as err:
            reply.error, reply.error_kind = str(err), getattr(err, "kind", "usage")
            if isinstance(err, ProviderError):
                self._record_command(command.public_name, None)
            return reply
        try:
            messages, dropped = self.build_messages(command, text, context, previous_cell, model)
        except AssistantError as err:
            reply.error, reply.error_kind = str(err), "usage"
            return reply
        if dropped:
            reply.cells_left_out = dropped
            reply.notice = (
                f"Left out the {dropped} oldest earlier cell{'s' if dropped > 1 else ''} to fit "
                f"contextLength {model.context_length} of {model.title!r} (tokens estimated at "
                f"{CHARS_PER_TOKEN} characters each)"
            )
        reply.model = model
        self._record_command(command.public_name, model)
        trace_id = secrets.token_hex(16)
        try:
            answer = chat(
                model, messages, on_text=on_text, stream=stream, timeout=timeout, limits=limits
            )
        except ProviderError as err:
            reply.text, reply.error, reply.error_kind = err.partial_text, str(err), err.kind
            if err.kind == "limit":
                reply.answer = _stopped(err, model, messages, stream)
                self._record_generation(model, trace_id, reply.answer, err, stream)
                code = extract_code(err.partial_text, whole_blocks=True)
                if code:
                    reply.suggestion = self.open_suggestion(code, model, command.name)
            elif err.latency_s is not None:  # a request was made (not a config problem)
                self._record_generation(model, trace_id, None, err, stream)
            return reply
        reply.answer, reply.text = answer, answer.text
        self._record_generation(model, trace_id, answer, None, stream)
        code = extract_code(answer.text)
        if code:
            reply.suggestion = self.open_suggestion(code, model, command.public_name)
        return reply

    # --- suggestions ------------------------------------------------------------------------

    def open_suggestion(self, code: str, model: ModelConfig, command: str) -> Suggestion:
        if not self._exit_hook:  # after the transport's own hook: ours runs first at exit
            atexit.register(self.close)
            self._exit_hook = True
        suggestion = self.tracker.open(
            code, model=model.public_model, provider=model.provider, command=command
        )
        self._fresh.add(suggestion.id)
        return suggestion

    def decide(self, suggestion_id: str | None, accept: bool, via: str = "magic") -> Suggestion:
        """An explicit decision; raises ``AssistantError`` when there is no such suggestion."""
        outcome = "accepted" if accept else "rejected"
        decided = self.tracker.decide(suggestion_id, outcome, via)  # type: ignore[arg-type]
        if decided is None:
            if suggestion_id is None:
                raise AssistantError("No open suggestion to decide.")
            raise AssistantError(
                f"No open suggestion {suggestion_id!r} (already decided, or never offered)."
            )
        return decided

    def cell_executed(self, result: Any) -> None:
        """The post-run-cell hook: remember a failure for ``fix``; match open suggestions.

        Cheap when nothing is open: a few attribute reads and a length check.
        """
        error = result.error_in_exec or result.error_before_exec
        if error is not None:
            self.last_error = _LastError(result.info.raw_cell or "", error)
        fresh = self._fresh
        if fresh:  # opened by this very cell: running it did not run the suggestion
            self._fresh = set()
        if not len(self.tracker) or fresh:
            return
        source = result.info.raw_cell or ""
        if OWN_MAGIC.match(source):
            return
        self.tracker.match(source)

    def _decided(self, suggestion: Suggestion) -> None:
        self.record(
            "suggestion_outcome",
            {
                "completionId": suggestion.id,
                "accepted": suggestion.accepted,
                "outcome": suggestion.outcome,
                "via": suggestion.via,
                "modelName": suggestion.model,
                "modelProvider": suggestion.provider,
                "command": suggestion.command,
                "numLines": suggestion.num_lines,
                "timeMs": suggestion.time_ms,
            },
        )
        if self.on_decided is not None:
            with contextlib.suppress(Exception):
                self.on_decided(suggestion)

    # --- telemetry --------------------------------------------------------------------------

    def _record_command(self, name: str, model: ModelConfig | None) -> None:
        props: dict[str, Any] = {"name": name}
        if model is not None:
            props.update(model=model.public_model, provider=model.provider)
        self.record("useSlashCommand", props)

    def _record_generation(
        self,
        model: ModelConfig,
        trace_id: str,
        answer: Answer | None,
        error: ProviderError | None,
        stream: bool,
    ) -> None:
        props: dict[str, Any] = {
            "$ai_model": model.public_model,
            "$ai_provider": model.provider,
            "$ai_trace_id": trace_id,
            "$ai_is_error": error is not None,
        }
        if answer is not None:  # also an answer stopped by a limit: what arrived is known
            usage = answer.usage
            props.update(
                {
                    "$ai_input_tokens": usage.prompt_tokens,
                    "$ai_output_tokens": usage.generated_tokens,
                    "$ai_latency": answer.latency_s,
                    "$ai_http_status": answer.http_status,
                    "$ai_stream": answer.stream,
                }
            )
            self.record(
                "tokens_generated",
                {
                    "model": model.public_model,
                    "provider": model.provider,
                    "promptTokens": usage.prompt_tokens,
                    "generatedTokens": usage.generated_tokens,
                    "tokensSource": usage.source,
                },
            )
        elif error is not None:
            props["$ai_latency"] = error.latency_s
            props["$ai_http_status"] = error.http_status
            props["$ai_stream"] = stream
        self.record("$ai_generation", props)

    # --- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Unload or kernel end: open suggestions become "ignored"."""
        if self._exit_hook:
            with contextlib.suppress(Exception):
                atexit.unregister(self.close)
            self._exit_hook = False
        self.tracker.close_all()


def _stopped(
    err: ProviderError, model: ModelConfig, messages: list[dict[str, str]], stream: bool
) -> Answer:
    """What is known of an answer stopped by a limit: its text so far, estimated counts."""
    return Answer(
        text=err.partial_text,
        usage=make_usage(None, None, messages, err.partial_text),
        latency_s=err.latency_s or 0.0,
        http_status=err.http_status or 200,
        model=model.model,
        provider=model.provider,
        stream=stream,
    )


def _looks_like_code(text: str) -> bool:
    """The cell already holds code (a fence, or several lines that are plainly Python)."""
    if "```" in text:
        return True
    return text.count("\n") >= 1 and extract_code(text) is not None
