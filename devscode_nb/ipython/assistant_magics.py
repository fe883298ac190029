"""The assistant in IPython: ``%%devscode`` and its line subcommands, and how answers are shown.

Thin on purpose: parse the magic line, gather the cell text, earlier cells and ``{var}`` values
from the shell, call :class:`devscode_nb.assistant.Assistant`, and display. In a kernel the answer
streams as Markdown, updated in place; elsewhere it is printed as it arrives.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from IPython.core.error import UsageError as IPythonUsageError
from IPython.core.magic_arguments import argument, magic_arguments

from devscode_nb.assistant import (
    LOCAL_PROVIDERS,
    OWN_MAGIC,
    Assistant,
    AssistantError,
    Limits,
    ModelConfig,
    ProviderError,
    Reply,
    Suggestion,
    TerminalFilter,
    display_url,
)
from devscode_nb.ipython.magics import UsageError, split_words
from devscode_nb.ipython.model_output import answer_bundle

#: Frontends that cannot take ``set_next_input`` (the payload is ignored there).
NO_NEXT_INPUT = frozenset({"vscode", "colab"})

_VAR = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\}(?!\})")
_MISSING = object()


@magic_arguments()
@argument("-m", "--model", default=None, help="a model title, or provider/model")
@argument("command", nargs="?", default=None, help="/command (default: ask)")
def _cell_args(line: str) -> None:
    """%%devscode [-m MODEL] [/command]"""


def expand_vars(text: str, namespace: dict[str, Any]) -> str:
    """``{name}`` and ``{name.attr}`` replaced by the value's ``str`` where ``name`` is a user
    variable; everything else (code braces, ``{{x}}``, unknown names) left as it is."""

    def value(match: re.Match[str]) -> str:
        root, *attrs = match.group(1).split(".")
        obj = namespace.get(root, _MISSING)
        try:
            for attr in attrs:
                obj = getattr(obj, attr) if obj is not _MISSING else obj
        except Exception:
            obj = _MISSING
        return match.group(0) if obj is _MISSING else str(obj)

    return _VAR.sub(value, text) if "{" in text else text


class AssistantMagics:
    """The handlers ``%devscode`` dispatches to for the assistant."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.shell = session.shell
        self.magics = session.magics
        self.assistant = Assistant(session.telemetry.record, session.telemetry.config_path)
        self.assistant.on_decided = self._on_decided
        self._buttons: dict[str, Any] = {}  # suggestion id → its widget box (kernel only)
        add = self.magics.add_subcommand
        add("%%", self.cell)
        add("ask", self.ask_line, raw=True)
        add("fix", self.fix_line, raw=True)
        add("explain", self.explain_line, raw=True)
        add("accept", lambda args: self.decide(args, accept=True))
        add("reject", lambda args: self.decide(args, accept=False))
        add("models", lambda _args: self.models())
        add("commands", lambda _args: self.commands())

    # --- entry points -----------------------------------------------------------------------

    def cell(self, args: list[str]) -> None:
        line, body = args
        try:
            parsed = _cell_args.parser.parse_args(split_words(self._expand(line)))
        except IPythonUsageError as err:
            raise UsageError(f"{err} (usage: %%devscode [-m MODEL] [/command])") from None
        command = parsed.command or "ask"
        if not command.startswith("/") and parsed.command is not None:
            raise UsageError(f"Commands start with a slash: /{command} (see %devscode commands)")
        self.run(command, self._expand(body), parsed.model, whole_cell=True)

    def ask_line(self, args: list[str]) -> None:
        line = args[0] if args else ""
        model, text = _split_model(line)
        if not text.strip():
            raise UsageError("Nothing to ask: %devscode ask [-m MODEL] QUESTION")
        self.run("ask", self._expand(text), model)

    def fix_line(self, args: list[str]) -> None:
        model, text = _split_model(args[0] if args else "")
        self.run("fix", self._expand(text), model)

    def explain_line(self, args: list[str]) -> None:
        model, text = _split_model(args[0] if args else "")
        self.run("explain", self._expand(text), model)

    # --- asking -----------------------------------------------------------------------------

    def run(
        self, command: str, text: str, model_name: str | None, whole_cell: bool = False
    ) -> None:
        magics = self.magics
        cells = self._earlier_cells()
        context = cells[-magics.context_cells :] if magics.context_cells > 0 else []
        rich = self.session.kind == "kernel"
        view = _Stream(rich, replace=rich and (whole_cell or self._cell_is_ours()))
        try:
            reply = self.assistant.ask(
                command,
                text,
                model_name=model_name,
                default_model=magics.default_model,
                context=context,
                previous_cell=cells[-1] if cells else None,
                timeout=magics.request_timeout,
                on_text=view.add,
                limits=self._limits(),
            )
        except KeyboardInterrupt:  # between the request's own guards: still one clean line
            view.finish()
            _error("Interrupted.")
            return
        view.finish(reply.text)
        if reply.notice:  # earlier cells left out to fit contextLength
            print(reply.notice)
        if reply.error:
            _error(reply.error)  # a limit keeps what arrived, and a complete code block
        if reply.suggestion is not None:
            self.show_suggestion(reply)

    def _limits(self) -> Limits:
        magics = self.magics
        time_s, size = magics.answer_time_limit, magics.answer_size_limit
        return Limits(
            time_s=time_s if time_s > 0 else None,
            size_chars=size if size > 0 else None,
            time_setting="DevscodeMagics.answer_time_limit (e.g. %config "
            f"DevscodeMagics.answer_time_limit = {max(2 * time_s, 60):g})",
            size_setting="DevscodeMagics.answer_size_limit (e.g. %config "
            f"DevscodeMagics.answer_size_limit = {max(2 * size, 100_000)})",
        )

    def _cell_is_ours(self) -> bool:
        """The running cell holds only devscode magics (and comments): its output may be
        replaced by the rendered answer without taking anything of the person's with it."""
        parent = getattr(self.shell, "parent_header", None)
        content = parent.get("content") if isinstance(parent, dict) else None
        code = content.get("code") if isinstance(content, dict) else None
        if not isinstance(code, str):
            return False
        lines = [line.strip() for line in code.splitlines() if line.strip()]
        return all(OWN_MAGIC.match(line) or line.startswith("#") for line in lines)

    def _earlier_cells(self) -> list[str]:
        """Sources of the cells run before this one, oldest first, without devscode's own."""
        history = getattr(self.shell, "history_manager", None)
        raw: list[str] = list(getattr(history, "input_hist_raw", []) or [])
        if raw:
            raw = raw[:-1]  # the cell running now
        return [c for c in raw if c.strip() and not OWN_MAGIC.match(c)]

    def _expand(self, text: str) -> str:
        return expand_vars(text, self.shell.user_ns)

    # --- suggestions ------------------------------------------------------------------------

    def show_suggestion(self, reply: Reply) -> None:
        suggestion = reply.suggestion
        assert suggestion is not None
        session = self.session
        ide = session.frontend.ide_name
        inserted = False
        if self.magics.insert_code and ide not in NO_NEXT_INPUT and session.kind != "embedded":
            self.shell.set_next_input(suggestion.code, replace=False)
            inserted = True
        where = "It is in the next cell: run" if inserted else "Run a cell with"
        plain = (
            f"Suggestion {suggestion.id} ({suggestion.num_lines} lines). {where} it as is or "
            f"edited, or decide: %devscode accept {suggestion.id} · %devscode reject "
            f"{suggestion.id}"
        )
        if session.kind == "kernel" and session.frontend.widgets:
            self._show_buttons(suggestion, plain)
        else:
            print(plain)
        session.telemetry.record("$pageview", {"$current_url": "devscode-nb://suggestion"})

    def _show_buttons(self, suggestion: Suggestion, plain: str) -> None:
        from IPython.display import display

        try:
            import ipywidgets as widgets
        except ImportError:
            print(plain)
            return
        accept = widgets.Button(description="Accept", button_style="success", icon="check")
        reject = widgets.Button(description="Reject", icon="times")
        label = widgets.Label(f"Suggestion {suggestion.id} ({suggestion.num_lines} lines)")
        box = widgets.HBox([accept, reject, label])

        def click(accepted: bool) -> None:
            try:
                self.assistant.decide(suggestion.id, accept=accepted, via="button")
            except AssistantError:
                _settle(box, suggestion)

        accept.on_click(lambda _b: click(True))
        reject.on_click(lambda _b: click(False))
        self._buttons[suggestion.id] = box
        bundle = box._repr_mimebundle_()
        bundle["text/plain"] = plain
        display(bundle, raw=True)

    def _on_decided(self, suggestion: Suggestion) -> None:
        box = self._buttons.pop(suggestion.id, None)
        if box is not None:
            _settle(box, suggestion)

    def decide(self, args: list[str], accept: bool) -> None:
        if len(args) > 1:
            raise UsageError(f"Usage: %devscode {'accept' if accept else 'reject'} [ID]")
        try:
            decided = self.assistant.decide(args[0] if args else None, accept=accept)
        except AssistantError as err:
            raise UsageError(str(err)) from None
        print(f"Suggestion {decided.id} {decided.outcome}.")

    # --- listings ---------------------------------------------------------------------------

    def models(self) -> None:
        try:
            models = self.assistant.models()
        except (AssistantError, ProviderError) as err:
            raise UsageError(str(err)) from None
        path = self.assistant.config_path
        if not models:
            print(
                f'No models configured. Add one to the "models" list in {path}, e.g. '
                '{"title": "Llama", "provider": "ollama", "model": "llama3.1"}'
            )
        else:
            default = self._default(models)
            print(f"Models in {path} (* = default; pick one with %%devscode -m TITLE):")
            for m in models:
                mark = "*" if m == default else " "
                print(f" {mark} {m.title!r:24} {m.provider}/{m.model}  {_where(m)}")
        self.session.telemetry.record("$pageview", {"$current_url": "devscode-nb://models"})

    def _default(self, models: list[ModelConfig]) -> ModelConfig | None:
        try:
            return self.assistant.model(None, self.magics.default_model)
        except Exception:
            return None if self.magics.default_model else models[0]

    def commands(self) -> None:
        try:
            commands = self.assistant.commands()
        except AssistantError as err:
            raise UsageError(str(err)) from None
        print("Commands for %%devscode /command (customCommands come from config.json):")
        for c in commands.values():
            print(f"  /{c.name:12} {c.description}")


_MODEL_FLAG = re.compile(r"(?:-m|--model)\s+(?:\"([^\"]*)\"|'([^']*)'|(\S+))\s*(.*)", re.DOTALL)


def _split_model(line: str) -> tuple[str | None, str]:
    """``-m MODEL rest`` → (MODEL, rest); quotes allowed around MODEL."""
    stripped = line.strip()
    match = _MODEL_FLAG.fullmatch(stripped)
    if match is None:
        if stripped in ("-m", "--model"):
            raise UsageError("-m needs a model name (see %devscode models)")
        return None, stripped
    model = next(g for g in match.groups()[:3] if g is not None)
    return model, match.group(4).strip()


def _where(model: ModelConfig) -> str:
    base = display_url(model.api_base) if model.api_base else "default address"
    if model.api_key:
        key = "key set"
    elif model.api_base or model.provider in LOCAL_PROVIDERS:
        key = "no key needed"
    else:
        key = "no key: add apiKey"
    return f"({base}, {key})"


def _settle(box: Any, suggestion: Suggestion) -> None:
    """Disable a suggestion's buttons and say what was decided."""
    for child in box.children[:2]:
        child.disabled = True
    box.children[2].value = f"Suggestion {suggestion.id}: {suggestion.outcome or 'decided'}"


def _error(message: str) -> None:
    print(f"devscode: {message}", file=sys.stderr)


class _Stream:
    """Shows an answer as it arrives, in time and bytes linear in its size (SPEC §6).

    Pieces are written once, as plain text without control sequences, to stdout (ipykernel
    batches them: a few updates a second). In a kernel whose cell is ours alone (``replace``),
    the streamed text is then swapped for one rendering of the whole answer: inert HTML from
    its Markdown, with the plain text as fallback. Anywhere else the plain text stays.
    """

    def __init__(self, rich: bool, replace: bool = False) -> None:
        self.rich = rich
        self.replace = replace
        self.filter = TerminalFilter()
        self.streamed = False

    def add(self, piece: str) -> None:
        self._write(self.filter.feed(piece))

    def _write(self, text: str) -> None:
        if text:
            sys.stdout.write(text)
            self.streamed = True
            if not self.rich:
                sys.stdout.flush()

    def finish(self, text: str | None = None) -> None:
        """The final state; ``text`` is the whole answer (or what arrived before an error)."""
        self._write(self.filter.flush())
        bundle = answer_bundle(text) if self.replace and text and text.strip() else None
        if bundle is not None:
            from IPython.display import clear_output, display

            sys.stdout.flush()
            clear_output(wait=True)
            display(bundle, raw=True)
        elif self.streamed:
            sys.stdout.write("\n")
            sys.stdout.flush()
