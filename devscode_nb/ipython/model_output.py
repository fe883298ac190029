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

markdown-it-py is imported on the first rendering only.
"""

from __future__ import annotations

import re
from functools import lru_cache
from html import escape
from typing import Any

from devscode_nb.assistant import plain

#: Where links from a model may point: the web, mail, and anchors in the same output.
_SAFE_LINK = re.compile(r"^(?:https?://|mailto:|#)", re.IGNORECASE)


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
