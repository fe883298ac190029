"""Streaming in a REAL kernel, counted on iopub: the text once while it streams, one inert
rendering at the end (≤ 4× the answer, SPEC §6); the size limit cuts a 20 MB stream, the time
limit a drip, and both keep what arrived and say so in one line."""

from __future__ import annotations

import json
from typing import Any

import pytest
from model_servers import ModelServer, streaming_answer
from test_assistant_kernel import flush, start_kernel
from test_model_output import assert_inert

pytestmark = pytest.mark.kernel

DISPLAY = ("stream", "display_data", "update_display_data", "clear_output")
CODE_BLOCK = "```python\nimport math\n\nprint(math.sqrt(2))\n```\n"


def frontend_bytes(messages: list[dict[str, Any]]) -> int:
    """Bytes of what the frontend is sent to show: every display/stream message's content."""
    return sum(
        len(json.dumps(m["content"], ensure_ascii=False).encode())
        for m in messages
        if m["msg_type"] in DISPLAY
    )


def test_a_60_kb_answer_streams_once_and_renders_once(tmp_path, capture) -> None:
    answer = streaming_answer(60_000)
    pieces = [answer[i : i + 100] for i in range(0, len(answer), 100)]
    with ModelServer(answer=answer, pieces=pieces, delay=0.004) as server, start_kernel(
        tmp_path, server, capture
    ) as k:
        r = k.execute("%%devscode\nsummarise", allow_stdin=True, timeout=120).raise_for_error()
    kinds = [m["msg_type"] for m in r.messages if m["msg_type"] in DISPLAY]
    streamed = [m["content"]["text"] for m in r.messages if m["msg_type"] == "stream"]
    assert "".join(streamed).rstrip("\n") == answer.rstrip("\n")  # the text once, as it came
    assert len(streamed) >= 5  # several updates while it arrives, not one at the end
    first_display = kinds.index("display_data")
    assert kinds[first_display - 1] == "clear_output" and set(kinds[:first_display - 1]) == {
        "stream"
    }
    final = r.messages[[m["msg_type"] for m in r.messages].index("display_data")]["content"]
    assert final["data"]["text/plain"] == answer  # the whole answer, rendered once
    assert_inert(final["data"]["text/html"])
    assert "text/markdown" not in final["data"]
    assert "update_display_data" not in kinds
    sent = frontend_bytes(r.messages)
    ratio = sent / len(answer.encode())
    print(f"\n[streaming] {len(answer)} B answer → {sent} B to the frontend ({ratio:.2f}×), "
          f"{len(streamed)} stream messages")
    assert ratio <= 4


def test_an_answer_that_would_grow_past_4x_as_html_stays_the_streamed_text(
    tmp_path, capture
) -> None:
    answer = "|a|b|\n|-|-|\n" + "|a|b|\n" * 10_000  # 60 KB of table rows: 8× as HTML
    pieces = [answer[i : i + 600] for i in range(0, len(answer), 600)]
    with ModelServer(answer=answer, pieces=pieces) as server, start_kernel(
        tmp_path, server, capture
    ) as k:
        r = k.execute("%%devscode\nsummarise", allow_stdin=True, timeout=120).raise_for_error()
    kinds = {m["msg_type"] for m in r.messages if m["msg_type"] in DISPLAY}
    streamed = "".join(m["content"]["text"] for m in r.messages if m["msg_type"] == "stream")
    assert streamed.rstrip("\n") == answer.rstrip("\n")  # shown, as text
    assert kinds == {"stream"}  # not cleared, not rendered
    assert frontend_bytes(r.messages) <= 2 * len(answer.encode())


def test_a_20_mb_stream_is_cut_by_the_size_limit(tmp_path, capture) -> None:
    piece = "0123456789abcdef" * 256  # 4 KB
    with ModelServer(pieces=[piece] * 5_000) as server, start_kernel(
        tmp_path, server, capture
    ) as k:
        k.execute("import resource; rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss")
        r = k.execute("%%devscode\nall of it", allow_stdin=True, timeout=240).raise_for_error()
        grown = k.execute(
            "(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) // 1024"
        ).execute_result
        assert server.last.client_gone.wait(10)  # the other 19 MB were never read
        flush(k)
    limit = 1_000_000  # the default DevscodeMagics.answer_size_limit
    line = r.stderr.strip()
    assert "\n" not in line and "size limit (1,000,000 characters)" in line
    assert "%config DevscodeMagics.answer_size_limit = 2000000" in line
    final = [d for d in r.displays if "text/html" in d]
    assert len(final) == 1 and len(final[0]["text/plain"]) == limit
    assert frontend_bytes(r.messages) <= 4 * limit
    assert grown is not None and int(grown["text/plain"]) < 200  # MB, not the 20 MB × copies
    (gen,) = [e["properties"] for e in capture.events if e["event"] == "$ai_generation"]
    assert gen["$ai_is_error"] is True and gen["$ai_http_status"] == 200
    assert gen["$ai_output_tokens"] == limit // 4  # estimated from what arrived


def test_a_drip_is_stopped_by_the_time_limit_and_keeps_its_complete_code(
    tmp_path, capture
) -> None:
    with ModelServer(pieces=[CODE_BLOCK] + ["."] * 10_000, delay=0.25) as server, start_kernel(
        tmp_path, server, capture
    ) as k:
        k.execute("%config DevscodeMagics.answer_time_limit = 2").raise_for_error()
        r = k.execute("%%devscode\nroot two", allow_stdin=True, timeout=60).raise_for_error()
        assert server.last.client_gone.wait(10)
        flush(k)
    assert "time limit (2 s)" in r.stderr and "DevscodeMagics.answer_time_limit" in r.stderr
    (final,) = [d for d in r.displays if "text/html" in d]
    assert final["text/plain"].startswith(CODE_BLOCK) and final["text/plain"].endswith(".")
    payloads = r.reply.get("payload", [])
    assert [p["text"] for p in payloads if p["source"] == "set_next_input"] == [
        "import math\n\nprint(math.sqrt(2))"
    ]
    events = [e["event"] for e in capture.events]
    assert "tokens_generated" in events and "$ai_generation" in events


def test_a_cell_with_the_persons_own_output_is_never_cleared(tmp_path, capture) -> None:
    with ModelServer(delay=0.01) as server, start_kernel(tmp_path, server, capture) as k:
        r = k.execute("print('mine')\n%devscode ask root two", allow_stdin=True).raise_for_error()
        ours = k.execute("# just asking\n%devscode ask root two", allow_stdin=True)
    kinds = [m["msg_type"] for m in r.messages]
    assert "clear_output" not in kinds and not [d for d in r.displays if "text/html" in d]
    assert r.stdout.startswith("mine\n") and server.answer.strip() in r.stdout
    # a cell of only devscode lines and comments is replaced by the rendering, as %%devscode is
    assert "clear_output" in [m["msg_type"] for m in ours.messages]
    assert [d["text/plain"] for d in ours.displays if "text/html" in d] == [server.answer]
