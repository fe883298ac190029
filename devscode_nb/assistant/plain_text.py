"""A model's text without control or escape sequences: what a terminal may be shown and what
may go into a cell.

:func:`plain` and :class:`TerminalFilter` take out OSC 52 clipboard writes, window titles, screen
clears, concealed text, cursor moves, BEL, C1 controls and bidi overrides, keeping newlines and
tabs. They live in the assistant core so that the code a suggestion offers (and is matched
against) is the very text the person is shown; the IPython layer uses them for display.
Pure stdlib.
"""

from __future__ import annotations

import re

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
#: Printable ASCII, tab and newline: text of only these has nothing to take out.
_PLAIN_ASCII = bytes(range(0x20, 0x7F)) + b"\t\n"
#: Longest unfinished escape sequence held back waiting for its end (then it is dropped).
MAX_HELD = 4096


def plain(text: str) -> str:
    """``text`` without control or escape sequences; a ``\\r`` (alone or before ``\\n``) is
    a line break."""
    if text.isascii() and not text.encode("ascii").translate(None, _PLAIN_ASCII):
        return text  # the common case (a cell's code), ~10× faster than the regexes
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
