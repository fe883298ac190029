"""Model output is data: the HTML made from an answer has nothing live in it, and text for a
terminal has no control or escape sequences, however the answer is written or split."""

from __future__ import annotations

import json
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st
from model_servers import streaming_answer

from devscode_nb.assistant.plain_text import TerminalFilter, plain
from devscode_nb.ipython.model_output import (
    FRONTEND_BYTES_CONSTANT,
    FRONTEND_BYTES_PER_ANSWER_BYTE,
    answer_bundle,
    to_html,
)

HOSTILE = """Here you go <img src=x onerror="window.__pwned=1">
<script>window.__pwned=2</script>
<iframe src="https://example.com/"></iframe> <svg onload="window.__pwned=3"></svg>
[click me](javascript:window.__pwned=4) [data](data:text/html;base64,PHNjcmlwdD4=)
[vb](vbscript:msgbox) <javascript:window.__pwned=5> [fine](https://example.com/docs)
![tracker](https://example.com/pixel.png) ![inline](data:image/png;base64,iVBORw0KGgo=)
<a href="javascript:window.__pwned=6">raw anchor</a> <style>body{display:none}</style>

| col | other |
|-----|-------|
| *a* | `b`   |

```python" onmouseover="window.__pwned=7
print("<b>not bold</b>")
```

- one **bold**
- two ~~gone~~
"""

LIVE_TAGS = {"script", "iframe", "img", "svg", "style", "object", "embed", "form", "input",
             "link", "meta", "base", "video", "audio", "math"}


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


def assert_inert(html: str) -> None:
    for tag, attrs in tags_of(html):
        assert tag not in LIVE_TAGS, tag
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        for name in ("href", "src", "action", "formaction"):
            value = (attrs.get(name) or "").strip().lower()
            assert not value or value.startswith(("https://", "http://", "mailto:", "#")), value


def test_raw_html_links_and_images_from_the_model_are_inert() -> None:
    html = to_html(HOSTILE)
    assert_inert(html)
    tags = tags_of(html)
    links = [a["href"] for t, a in tags if t == "a"]
    assert links == ["https://example.com/docs"]  # the one safe link, and only it
    (anchor,) = [a for t, a in tags if t == "a"]
    assert anchor["rel"] == "noopener noreferrer nofollow"
    # tags show as text; markup a reader expects still renders
    assert "&lt;img src=x onerror=" in html and "&lt;script&gt;" in html
    assert "[image: tracker]" in html and "pixel.png" not in html
    names = [t for t, _ in tags]
    for wanted in ("table", "th", "td", "em", "code", "pre", "ul", "li", "strong", "s"):
        assert wanted in names, wanted
    assert 'print("&lt;b&gt;not bold&lt;/b&gt;")' in html  # quotes in text are inert as is
    assert 'class="language-python&quot;"' in html  # in an attribute, they stay escaped


def test_terminal_text_keeps_newlines_and_tabs_and_nothing_else() -> None:
    answer = (
        "title\x1b]0;PWNED\x07 clip\x1b]52;c;UFdORUQ=\x1b\\ clear\x1b[2J\x1b[H hidden\x1b[8mX"
        "\x1b[28m bell\x07 back\x08 csi8\x9b2J bidi\u202eevil\u202c\r\n\tnext\rline"
    )
    out = plain(answer)
    assert out == "title clip clear hiddenX bell back csi82J bidievil\n\tnext\nline"
    assert plain(out) == out and plain("x = 1\n\tprint('~')") == "x = 1\n\tprint('~')"
    for control in ["\x00", "\x07", "\x1b", "\r", "\x7f"]:  # no shortcut past these
        assert plain(f"ab{control}") == ("ab\n" if control == "\r" else "ab")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.text(
            alphabet=st.sampled_from(list("ab\n\t\r;[]P\\\x1b\x07\x9b\x9d\u202e08m")), max_size=40
        ),
        max_size=12,
    )
)
def test_no_split_of_an_answer_lets_a_control_character_through(pieces: list[str]) -> None:
    f = TerminalFilter()
    out = "".join(f.feed(p) for p in pieces) + f.flush()
    assert not [c for c in out if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F]
    assert "\u202e" not in out


def test_a_sequence_split_across_pieces_is_removed_whole() -> None:
    f = TerminalFilter()
    pieces = ["a\x1b]5", "2;c;UFdORUQ", "=\x07b\x1b", "[2", "Jc\r", "\nd"]
    assert "".join(f.feed(p) for p in pieces) + f.flush() == "abc\nd"


# --- what the frontend receives: the streamed text, then at most one rendering (SPEC §6) ----------

#: Markdown that grows as HTML, 30 KB each: rendered, each would take the frontend's bytes for
#: the answer past 4× (a 6-byte table row becomes a 30-byte one; 30 ``>`` are 30 blockquotes).
GROWS_AS_HTML = {
    "table rows": "|a|b|\n|-|-|\n" + "|a|b|\n" * 5_000,
    "nested quotes": (">" * 30 + " a\n\n") * 900,
    "emphasis": "*a* " * 7_500,
    "links": "[a](https://example.com/) " * 1_100,
    "characters HTML escapes": '"<&>' * 7_500,
}

#: Answers as models write them: prose, code, HTML code in a fence, the hostile answer above.
AS_MODELS_WRITE = {
    "prose and code": streaming_answer(60_000),
    "HTML code in a fence": "```html\n" + '<div class="row"><a href="#x">a</a></div>\n' * 1_300
    + "```\n",
    "the hostile answer": HOSTILE * 40,
    "one word": "Hello",
}


def frontend_bytes(answer: str) -> int:
    """What the frontend is sent for ``answer``: the streamed text, and the final display where
    there is one, as the JSON of Jupyter messages' content."""
    sent = len(json.dumps({"name": "stdout", "text": plain(answer)}).encode())
    bundle = answer_bundle(answer)
    if bundle is not None:
        sent += len(json.dumps({"wait": True}).encode())  # clear_output
        content = {"data": bundle, "metadata": {}, "transient": {}}
        sent += len(json.dumps(content, ensure_ascii=False).encode())
    return sent


def allowed(answer: str) -> int:
    return FRONTEND_BYTES_PER_ANSWER_BYTE * len(answer.encode()) + FRONTEND_BYTES_CONSTANT


def test_an_answer_that_would_grow_past_4x_as_html_keeps_its_streamed_text() -> None:
    for name, answer in GROWS_AS_HTML.items():
        assert answer_bundle(answer) is None, name
        assert frontend_bytes(answer) <= 2 * len(answer.encode()), name


def test_answers_as_models_write_them_are_rendered_within_4x() -> None:
    assert FRONTEND_BYTES_PER_ANSWER_BYTE == 4  # SPEC §6
    for name, answer in AS_MODELS_WRITE.items():
        bundle = answer_bundle(answer)
        assert bundle is not None, name
        assert bundle["text/plain"] == plain(answer)
        assert_inert(bundle["text/html"])
        assert frontend_bytes(answer) <= allowed(answer), name
    big = AS_MODELS_WRITE["prose and code"]
    assert frontend_bytes(big) <= 4 * len(big.encode())  # the constant matters only when small


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list('ab |-*_>#`[]()<>&"\'\n\t:/!~')), max_size=40),
    st.integers(min_value=1, max_value=1_500),
)
def test_no_answer_takes_the_frontend_past_4x_its_size(unit: str, times: int) -> None:
    answer = unit * times  # long enough for growth to outweigh the constant
    assert frontend_bytes(answer) <= allowed(answer)
    bundle = answer_bundle(answer)
    if bundle is not None:
        assert_inert(bundle["text/html"])
