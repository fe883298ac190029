"""A model's answer is data, never code: the forms in which it is shown.

- :func:`to_html` renders the answer's Markdown to HTML in which nothing the model wrote is live:
  raw HTML is escaped (tags appear as text), only ``http(s):``/``mailto:``/``#`` links become
  links (``javascript:``, ``data:``, ``vbscript:`` … stay text), and images are not loaded (their
  alt text is shown). Code blocks, lists, emphasis and tables still render. The HTML is what the
  notebook keeps, so the saved file and an ``nbconvert --to html`` export carry nothing live.
- :func:`plain` and :class:`TerminalFilter` take out control and escape sequences (OSC 52
  clipboard writes, window titles, screen clears, concealed text, cursor moves, bidi overrides),
  keeping newlines and tabs, for terminals and for text outputs (which frontends run through an
  ANSI interpreter).

markdown-it-py is imported on the first rendering only.
"""

from __future__ import annotations

import re
from functools import lru_cache
from html import escape
from typing import Any

#: Complete escape sequences: CSI, OSC (ended by BEL or ST), DCS/SOS/PM/APC strings, and the
#: two- or three-character ESC forms (charset selection, keypad modes, RIS …).
_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
    r"|\x1b[PX^_][^\x1b]*\x1b\\"
    r"|\x1b[ -/]*[0-OQ-WYZ\\`-~]"
)
#: Controls left after sequences are gone (a lone ESC, BEL, backspace, C1 …), DEL, and the
#: bidirectional overrides that make shown text differ from what it is. Not \t or \n.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
#: Longest unfinished escape sequence held back waiting for its end (then it is dropped).
MAX_HELD = 4096

#: Where links from a model may point: the web, mail, and anchors in the same output.
_SAFE_LINK = re.compile(r"^(?:https?://|mailto:|#)", re.IGNORECASE)


def plain(text: str) -> str:
    """``text`` without control or escape sequences; a ``\\r`` (alone or before ``\\n``) is
    a line break."""
    text = _SEQUENCE.sub("", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


class TerminalFilter:
    """:func:`plain` for text that arrives in pieces: a sequence split across two pieces is held
    back until it is complete, so neither half reaches the terminal."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        text, self._held = self._held + piece, ""
        start = text.rfind("\x1b")
        if start != -1 and len(text) - start <= MAX_HELD:
            tail = text[start:]
            if not _SEQUENCE.match(tail) and _could_continue(tail):
                text, self._held = text[:start], tail
        if text.endswith("\r"):  # it may be the first half of \r\n
            text, self._held = text[:-1], "\r" + self._held
        return plain(text)

    def flush(self) -> str:
        text, self._held = self._held, ""
        return plain(text)


def _could_continue(tail: str) -> bool:
    """An escape sequence that is not finished yet (more pieces may finish it)."""
    if len(tail) == 1:
        return True
    kind = tail[1]
    if kind == "[":
        return re.fullmatch(r"\x1b\[[0-?]*[ -/]*", tail) is not None
    if kind in "]PX^_":
        return tail.count("\x1b") == 1 or tail.endswith("\x1b")
    return re.fullmatch(r"\x1b[ -/]*", tail) is not None


def to_html(markdown: str) -> str:
    """The answer's Markdown as inert HTML (see the module docstring)."""
    return f'<div class="devscode-nb-answer">{_renderer().render(plain(markdown))}</div>'


def _safe_link(url: str) -> bool:
    return bool(_SAFE_LINK.match(url.strip()))


def _image(_renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    """Images are not loaded: their alt text is shown instead (the URL is not even kept)."""
    alt = "".join(child.content for child in tokens[idx].children or ())
    return f"<span class=\"devscode-nb-image\">[image: {escape(alt)}]</span>"


def _link_open(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    """Links open elsewhere and tell the target nothing about the notebook."""
    tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
    tokens[idx].attrSet("target", "_blank")
    return str(renderer.renderToken(tokens, idx, options, env))


@lru_cache(maxsize=1)
def _renderer() -> Any:
    from markdown_it import MarkdownIt

    md = MarkdownIt(
        "commonmark", {"html": False, "linkify": False, "typographer": False}
    ).enable(["table", "strikethrough"])
    md.validateLink = _safe_link  # type: ignore[method-assign]
    md.add_render_rule("image", _image)
    md.add_render_rule("link_open", _link_open)
    return md
