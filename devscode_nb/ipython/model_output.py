"""A model's answer is data, never code: the forms in which it is shown.

- :func:`to_html` renders the answer's Markdown to HTML in which nothing the model wrote is live:
  raw HTML is escaped (tags appear as text), only ``http(s):``/``mailto:``/``#`` links become
  links (``javascript:``, ``data:``, ``vbscript:`` … stay text), and images are not loaded (their
  alt text is shown). Code blocks, lists, emphasis and tables still render. The HTML is what the
  notebook keeps, so the saved file and an ``nbconvert --to html`` export carry nothing live.
- :func:`plain` and :class:`TerminalFilter` (from the assistant core, which also cleans the code
  it offers with them) take out control and escape sequences (OSC 52 clipboard writes, window
  titles, screen clears, concealed text, cursor moves, bidi overrides), keeping newlines and
  tabs, for terminals and for text outputs (which frontends run through an ANSI interpreter).

- :func:`answer_bundle` is the final display of an answer that was streamed as text: the HTML
  and the plain text, unless that would take what the frontend receives for the answer past
  4× its size (SPEC §6). Markdown can grow a lot as HTML (a table row of 6 bytes becomes 30, a
  line of 30 ``>`` becomes 30 nested blockquotes), so such an answer keeps its streamed text.

markdown-it-py is imported on the first rendering only.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from html import escape
from typing import Any

from devscode_nb.assistant import plain

#: Where links from a model may point: the web, mail, and anchors in the same output.
_SAFE_LINK = re.compile(r"^(?:https?://|mailto:|#)", re.IGNORECASE)


#: What the frontend may receive for an answer, streamed text and final display together: this
#: many bytes per byte of the answer (SPEC §6), plus a constant (what a short answer needs).
FRONTEND_BYTES_PER_ANSWER_BYTE = 4
FRONTEND_BYTES_CONSTANT = 2048
#: Of that constant, what the messages' own fields take (the clear and display messages', and
#: those of the stream messages ipykernel batches the text into, a few a second).
_MESSAGE_FIELDS = 1024

#: A tag, or a quote escaped in text (where a quote is inert, so it is sent as itself).
_TAG_OR_QUOTE = re.compile(r"(<[^>]*>)|&quot;")


def to_html(markdown: str) -> str:
    """The answer's Markdown as inert HTML (see the module docstring)."""
    return _render(plain(markdown))


def _render(clean: str) -> str:
    """``to_html`` of text already without control sequences."""
    html = _renderer().render(clean)
    # markdown-it escapes " everywhere; only attribute values (inside tags) need it.
    html = _TAG_OR_QUOTE.sub(lambda m: m.group(1) or '"', html)
    return f'<div class="devscode-nb-answer">{html}</div>'


def answer_bundle(text: str) -> dict[str, str] | None:
    """The final display of ``text``, already streamed as plain text: inert HTML with the plain
    text as fallback, or ``None`` where the stream and this display together would be more than
    the frontend may receive for it (the streamed text then stays as the answer)."""
    shown = plain(text)
    bundle = {"text/html": _render(shown), "text/plain": shown}
    allowed = FRONTEND_BYTES_PER_ANSWER_BYTE * len(text.encode()) + FRONTEND_BYTES_CONSTANT
    streamed = _json_bytes(shown) + _MESSAGE_FIELDS
    return bundle if streamed + sum(map(_json_bytes, bundle.values())) <= allowed else None


def _json_bytes(text: str) -> int:
    """Bytes ``text`` takes in a Jupyter message (JSON, UTF-8)."""
    return len(json.dumps(text, ensure_ascii=False).encode())


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
