"""Suggestions: code taken from an answer, and what became of it — worked out locally.

The IPython layer opens a :class:`Suggestion` when a model answers, and calls
:meth:`SuggestionTracker.match` from the cell-execution hook with each executed cell's source.
A cell equal to an open suggestion (ignoring whitespace at line ends, blank lines around it and
control or escape sequences, which are never shown) means it was **accepted**; a cell similar
enough (``difflib`` ratio ≥ :data:`EDITED_THRESHOLD`) means it was run **edited**. Buttons and
``%devscode accept|reject`` decide explicitly. A new suggestion makes the older undecided ones
**ignored**, and so does the end of the kernel.

Only the outcome, the line count and the time to decision leave this module; never the code.
Pure stdlib, no IPython.
"""

from __future__ import annotations

import ast
import difflib
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from devscode_nb.assistant.plain_text import plain

Outcome = Literal["accepted", "edited", "rejected", "ignored"]
Via = Literal["button", "magic", "execution", "timeout"]

#: A cell whose ``difflib.SequenceMatcher`` ratio to a suggestion is at least this counts as the
#: suggestion run edited. 0.6 is difflib's own "close match" cut-off (``get_close_matches``):
#: renaming a variable or changing a literal stays above it, an unrelated cell falls well below.
EDITED_THRESHOLD = 0.6
#: At most this many suggestions stay open; opening more marks the oldest ignored.
MAX_OPEN = 20
#: When ``len(a) * len(b)`` exceeds this, similarity is measured on lines rather than characters:
#: difflib is quadratic at worst, and ~1,500 × 1,500 characters is about 30 ms; lines are far
#: fewer. Runs only while a suggestion is open, never for other cells.
CHAR_COMPARE_LIMIT = 2_500_000

_PYTHON_LANGS = frozenset({"python", "py", "python3", "py3", "ipython", "ipython3", "jupyter"})
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\n]*)$")
_MAGIC_LINE = re.compile(r"^\s*[%!]")


def extract_code(answer_text: str, *, whole_blocks: bool = False) -> str | None:
    """The code to offer from an answer, or ``None`` when there is none.

    The first fenced block labelled Python (or unlabelled, if none is labelled Python); a block
    left unclosed (a cut-off answer) runs to the end, unless ``whole_blocks`` (an answer stopped
    by a limit: only a closed block is offered, and unfenced text never). Blocks in other
    languages (bash, json …) are not offered. Without fences, the whole answer when it is
    plainly code: it parses as Python (IPython ``%``/``!`` lines allowed) and is more than a
    lone name or number.

    The answer is read as it is shown (:func:`plain`: no control or escape sequences), so the
    code offered — into the next cell, where a terminal draws it — is the code the person saw,
    and what an executed cell is matched against.
    """
    answer_text = plain(answer_text)
    blocks = _fenced_blocks(answer_text, whole_blocks)
    if blocks or whole_blocks:
        for lang, code in blocks:
            if lang in _PYTHON_LANGS and code.strip():
                return _tidy(code)
        for lang, code in blocks:
            if not lang and code.strip():
                return _tidy(code)
        return None
    text = answer_text.strip("\n")
    return _tidy(text) if text.strip() and _plainly_code(text) else None


def _fenced_blocks(text: str, whole_blocks: bool = False) -> list[tuple[str, str]]:
    blocks: list[tuple[str, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m["fence"], (m["info"].split() or [""])[0].lower()
        body: list[str] = []
        i += 1
        while i < len(lines):
            close = _FENCE.match(lines[i])
            if (
                close
                and close["fence"][0] == fence[0]
                and len(close["fence"]) >= len(fence)
                and not close["info"].strip()
            ):
                break
            body.append(lines[i])
            i += 1
        if i < len(lines) or not whole_blocks:
            blocks.append((lang.lstrip("{.").rstrip("}"), "\n".join(body)))
        i += 1
    return blocks


def _plainly_code(text: str) -> bool:
    source = "\n".join(
        "pass" if _MAGIC_LINE.match(line) else line for line in text.splitlines()
    )
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    for node in tree.body:
        if isinstance(node, ast.Pass):  # also what the magic lines became
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, (ast.Name, ast.Constant)):
            continue  # "Yes", "42", a lone docstring: words, not code
        return True
    return any(_MAGIC_LINE.match(line) for line in text.splitlines())


def _tidy(code: str) -> str:
    return code.strip("\n").rstrip() if code.strip() else ""


def normalise(code: str) -> str:
    """Code as compared: as shown (:func:`plain`, which also unifies newlines), line ends
    stripped, blank lines around removed — the same for a suggestion and an executed cell."""
    lines = [line.rstrip() for line in plain(code).split("\n")]
    return "\n".join(lines).strip("\n")


@dataclass
class Suggestion:
    """An offered piece of code and, once decided, what became of it."""

    id: str
    code: str
    model: str
    provider: str
    command: str
    created: float = field(default_factory=time.monotonic)
    outcome: Outcome | None = None
    via: Via | None = None
    decided: float | None = None
    _normalised: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        self._normalised = normalise(self.code)

    @property
    def num_lines(self) -> int:
        """Lines of the suggested code (blank lines around it not counted)."""
        return self._normalised.count("\n") + 1 if self._normalised else 0

    @property
    def time_ms(self) -> int | None:
        """Milliseconds from offering to deciding; ``None`` while open."""
        if self.decided is None:
            return None
        return max(0, round((self.decided - self.created) * 1000))

    @property
    def accepted(self) -> bool:
        """The telemetry ``accepted`` flag: the code was run, as is or edited."""
        return self.outcome in ("accepted", "edited")


def new_id() -> str:
    """A random 16-hex-digit id (64 bits): unique per suggestion, meaningless outside."""
    return secrets.token_hex(8)


class SuggestionTracker:
    """The open suggestions of one kernel, and the rules that decide them.

    Every decision — whichever method made it — is also passed to ``on_decided``, so the
    telemetry layer sees each outcome exactly once, including suggestions superseded by
    :meth:`open` or closed by :meth:`close_all`. Exceptions from ``on_decided`` propagate.
    """

    def __init__(
        self,
        on_decided: Callable[[Suggestion], None] | None = None,
        *,
        supersede_on_open: bool = True,
        max_open: int = MAX_OPEN,
        threshold: float = EDITED_THRESHOLD,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._open: OrderedDict[str, Suggestion] = OrderedDict()
        self._on_decided = on_decided
        self._supersede_on_open = supersede_on_open
        self._max_open = max(1, max_open)
        self._threshold = threshold
        self._clock = clock

    def __len__(self) -> int:
        return len(self._open)

    @property
    def open_suggestions(self) -> list[Suggestion]:
        """Open suggestions, oldest first."""
        return list(self._open.values())

    def get(self, suggestion_id: str) -> Suggestion | None:
        return self._open.get(suggestion_id)

    def open(
        self, code: str, *, model: str = "", provider: str = "", command: str = "ask"
    ) -> Suggestion:
        """Offer ``code``; older undecided suggestions become ignored (see class docstring)."""
        if self._supersede_on_open:
            self.supersede()
        while len(self._open) >= self._max_open:
            _, oldest = self._open.popitem(last=False)
            self._decide(oldest, "ignored", "timeout")
        suggestion = Suggestion(
            id=new_id(),
            code=code,
            model=model,
            provider=provider,
            command=command,
            created=self._clock(),
        )
        self._open[suggestion.id] = suggestion
        return suggestion

    def match(self, executed_cell_source: str) -> tuple[Suggestion, Outcome] | None:
        """Decide the open suggestion an executed cell ran, if any ("accepted" or "edited").

        Called for every cell: returns at once when nothing is open. The newest exact match
        wins; otherwise the most similar suggestion at or above the threshold.
        """
        if not self._open:
            return None
        cell = normalise(executed_cell_source)
        if not cell:
            return None
        best: Suggestion | None = None
        best_ratio = self._threshold
        for suggestion in reversed(self._open.values()):
            if suggestion._normalised == cell:
                best, best_ratio = suggestion, 2.0
                break
            ratio = similarity(suggestion._normalised, cell, floor=best_ratio)
            if ratio >= best_ratio and (best is None or ratio > best_ratio):
                best, best_ratio = suggestion, ratio
        if best is None:
            return None
        outcome: Outcome = "accepted" if best_ratio > 1.0 else "edited"
        del self._open[best.id]
        self._decide(best, outcome, "execution")
        return best, outcome

    def decide(
        self, suggestion_id: str | None, outcome: Outcome, via: Via = "magic"
    ) -> Suggestion | None:
        """Decide explicitly (a button or ``%devscode accept|reject [ID]``).

        ``None`` means the newest open suggestion. Returns ``None`` when there is no such open
        suggestion (unknown id, or already decided).
        """
        if suggestion_id is None:
            if not self._open:
                return None
            suggestion_id = next(reversed(self._open))
        suggestion = self._open.pop(suggestion_id, None)
        if suggestion is None:
            return None
        self._decide(suggestion, outcome, via)
        return suggestion

    def supersede(self) -> list[Suggestion]:
        """Mark every open suggestion ignored (a newer one replaces them)."""
        return self._ignore_all()

    def expire(self, max_age_s: float) -> list[Suggestion]:
        """Mark suggestions open for longer than ``max_age_s`` ignored."""
        now = self._clock()
        old = [s for s in self._open.values() if now - s.created > max_age_s]
        for s in old:
            del self._open[s.id]
            self._decide(s, "ignored", "timeout")
        return old

    def close_all(self) -> list[Suggestion]:
        """At kernel end: every open suggestion becomes ignored; returns them."""
        return self._ignore_all()

    def _ignore_all(self) -> list[Suggestion]:
        gone = list(self._open.values())
        self._open.clear()
        for s in gone:
            self._decide(s, "ignored", "timeout")
        return gone

    def _decide(self, suggestion: Suggestion, outcome: Outcome, via: Via) -> None:
        suggestion.outcome, suggestion.via, suggestion.decided = outcome, via, self._clock()
        if self._on_decided is not None:
            self._on_decided(suggestion)


def similarity(a: str, b: str, *, floor: float = 0.0) -> float:
    """``difflib`` ratio of two normalised sources, skipping the full comparison when the cheap
    upper bounds already fall below ``floor``. Long inputs are compared line by line.
    """
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    seq_a: str | list[str] = a
    seq_b: str | list[str] = b
    if len(a) * len(b) > CHAR_COMPARE_LIMIT:
        seq_a, seq_b = a.split("\n"), b.split("\n")
    # The ratio can't beat what the lengths allow: skip building a matcher (the costly part).
    if 2 * min(len(seq_a), len(seq_b)) / (len(seq_a) + len(seq_b)) < floor:
        return 0.0
    matcher = difflib.SequenceMatcher(None, seq_a, seq_b, autojunk=False)
    if matcher.quick_ratio() < floor:
        return 0.0
    return matcher.ratio()
