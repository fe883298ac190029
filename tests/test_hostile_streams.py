"""Model servers that answer what an attacker or a confused model might, on the real wire
protocols: malformed chunks, in-band errors, key echoes, keys that cannot be sent, endless
streams and drips. Everything ends as one clean ``ProviderError`` line; no key is ever shown."""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Iterator

import pytest
from model_servers import ModelServer

from devscode_nb.assistant.providers import Limits, ModelConfig, ProviderError, chat
from devscode_nb.assistant.providers.http import event_bound
from devscode_nb.assistant.providers.models import resolve_models

KEY = "sk-proj-Zq81hT0pX9vB7mK2wE4rY6uI3oP5aS8d"
ASK = [{"role": "user", "content": "hi"}]
CHUNK = {"id": "c", "object": "chat.completion.chunk", "model": "demo"}


def openai_chunk(**choice: object) -> tuple[None, str]:
    return None, json.dumps({**CHUNK, "choices": [{"index": 0, **choice}]})


def start(content: str = "Hello ") -> tuple[None, str]:
    return openai_chunk(delta={"content": content})


def anthropic_start() -> list[tuple[str, str]]:
    message = {"type": "message_start", "message": {"usage": {"input_tokens": 5}}}
    delta = {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "Hello "}}
    return [("message_start", json.dumps(message)), ("content_block_delta", json.dumps(delta))]


@pytest.fixture
def server() -> Iterator[ModelServer]:
    with ModelServer() as s:
        yield s


def model_at(server: ModelServer, provider: str = "openai", key: str | None = KEY) -> ModelConfig:
    return ModelConfig(
        title="Hostile", provider=provider, model="demo", api_key=key, api_base=server.base_url
    )


def fails(server: ModelServer, provider: str = "openai", **kw: object) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        chat(model_at(server, provider), ASK, **kw)  # type: ignore[arg-type]
    err = info.value
    line = str(err)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert len(line) <= 600
    for shown in (line, err.server_message or "", err.partial_text):
        assert KEY not in shown and KEY[8:24] not in shown
    assert err.__cause__ is None and err.__context__ is None
    tb = err.__traceback__  # what %xmode Verbose would print: every frame's locals
    while tb is not None:
        assert KEY not in repr(tb.tb_frame.f_locals), tb.tb_frame.f_code.co_name
        assert "headers" not in tb.tb_frame.f_locals, tb.tb_frame.f_code.co_name
        tb = tb.tb_next
    return err


OPENAI_MALFORMED = {
    "delta is a string": [start(), openai_chunk(delta="oops")],
    "choices is a string": [start(), (None, json.dumps({**CHUNK, "choices": "oops"}))],
    "content is a number": [start(), openai_chunk(delta={"content": 5})],
    "truncated JSON": [start(), (None, '{"id": "c", "choices": [{"delta": {"cont')],
    "not an object": [start(), (None, "[1, 2, 3]")],
    "hostile nesting": [start(), (None, "[" * 100_000 + "]" * 100_000)],
}


@pytest.mark.parametrize("case", sorted(OPENAI_MALFORMED))
def test_malformed_openai_chunks_are_one_protocol_line(server: ModelServer, case: str) -> None:
    server.raw_stream = OPENAI_MALFORMED[case]
    err = fails(server)
    assert err.kind == "protocol" and "OpenAI-compatible" in str(err)
    assert err.partial_text == "Hello "  # what arrived before the bad chunk is kept


ANTHROPIC_MALFORMED = {
    "delta is a string": [("content_block_delta", '{"type": "content_block_delta", "delta": 1}')],
    "text is a list": [
        ("content_block_delta",
         '{"type": "content_block_delta", "delta": {"type": "text_delta", "text": []}}'),
    ],
    "message is a string": [("message_start", '{"type": "message_start", "message": "x"}'),
                            ("x", "{")],
    "truncated JSON": [("message_delta", '{"type": "message_delta", "usage": {"outp')],
}


@pytest.mark.parametrize("case", sorted(ANTHROPIC_MALFORMED))
def test_malformed_anthropic_events_are_one_protocol_line(server: ModelServer, case: str) -> None:
    server.raw_stream = anthropic_start() + ANTHROPIC_MALFORMED[case]
    err = fails(server, "anthropic")
    assert err.kind == "protocol" and "Anthropic" in str(err)
    assert err.partial_text == "Hello "


def in_band(error: object) -> list[tuple[str | None, str]]:
    return [start(), (None, json.dumps({"error": error}))]


@pytest.mark.parametrize(
    ("error", "status", "hint"),
    [
        ({"message": "Upstream failed", "code": "500"}, 500, "try again later"),  # LiteLLM
        ({"message": "bad key", "code": 401}, 401, '"apiKey" for model "Hostile"'),
        ({"message": "no such model", "code": "404"}, 404, 'check "model"'),
        ({"message": "slow down", "type": "rate_limit_error"}, 429, "rate limited"),
        ({"message": "Forbidden", "status": 403}, 403, "may use this model"),
        ({"message": "odd", "code": "invalid_api_key"}, None, "try again, or check the model"),
        ("plain text error", None, "try again"),
    ],
)
def test_in_band_errors_read_like_http_errors(
    server: ModelServer, error: object, status: int | None, hint: str
) -> None:
    server.raw_stream = in_band(error)
    err = fails(server)
    assert (err.kind, err.http_status) == ("http", status)
    assert hint in str(err) and "mid-answer" in str(err)
    assert err.partial_text == "Hello "


def test_anthropic_error_events_get_the_same_hints(server: ModelServer) -> None:
    event = {"type": "error", "error": {"type": "authentication_error", "message": "bad key"}}
    server.raw_stream = [*anthropic_start(), ("error", json.dumps(event))]
    err = fails(server, "anthropic")
    assert err.http_status == 401 and '"apiKey" for model "Hostile"' in str(err)


def test_a_long_multiline_in_band_message_with_escapes_and_the_key_is_cut_to_one_line(
    server: ModelServer,
) -> None:
    message = (
        f"rejected key {KEY[:-3]}xyz\n\x1b]52;c;UFdORUQ=\x07\x1b[2J"
        + "Traceback (most recent call last):\n  File 'x'\n" * 200
    )
    server.raw_stream = in_band({"message": message, "code": 401})
    err = fails(server)
    assert "<key>" in str(err) and "\x07" not in str(err)  # ESC: checked in fails()
    assert len(err.server_message or "") <= 300 and str(err).count("Traceback") < 10


def test_a_key_echoed_in_part_by_an_http_error_is_redacted(server: ModelServer) -> None:
    server.fault = "auth"  # OpenAI's 401 echoes a fragment: "sk-pr***aS8d"
    err = fails(server)
    assert err.http_status == 401 and "apiKey" in str(err)


def test_keys_that_cannot_go_into_a_header_are_rejected_when_the_config_is_read() -> None:
    config = {"models": [{"title": "Mine", "provider": "openai", "model": "m",
                          "apiKey": "sk-abc123\ndef456"}]}
    with pytest.raises(ProviderError) as info:
        resolve_models(config, {}, config_path="/cfg/config.json")
    line = str(info.value)
    assert info.value.kind == "bad_key"
    assert '"apiKey" of model "Mine" in /cfg/config.json' in line
    assert "abc123" not in line and "def456" not in line
    env = {"OPENAI_API_KEY": "sk-from-env\x1b[2Jtail"}
    with pytest.raises(ProviderError) as info:
        resolve_models({"models": [{"provider": "openai", "model": "m"}]}, env)
    assert "OPENAI_API_KEY" in str(info.value) and "from-env" not in str(info.value)
    for fine in ("sk-abc123\n", "  sk-abc123  "):  # surrounding blanks are trimmed, as before
        (model,) = resolve_models(
            {"models": [{"provider": "openai", "model": "m", "apiKey": fine}]}, {}
        )
        assert model.api_key == "sk-abc123"


def test_the_size_limit_stops_an_endless_stream_and_keeps_what_arrived(
    server: ModelServer,
) -> None:
    server.pieces = ["x" * 4096] * 5_000  # 20 MB
    got: list[str] = []
    t0 = time.monotonic()
    err = fails(server, limits=Limits(size_chars=100_000, size_setting="the SIZE trait"),
                on_text=got.append)
    assert err.kind == "limit" and "size limit (100,000 characters)" in str(err)
    assert "raise the SIZE trait" in str(err)
    assert err.partial_text == "x" * 100_000 == "".join(got)
    assert err.http_status == 200 and err.latency_s is not None
    assert server.last.client_gone.wait(10)  # the rest was never read
    assert time.monotonic() - t0 < 60


def test_the_time_limit_stops_a_drip_that_never_ends(server: ModelServer) -> None:
    server.pieces, server.delay = ["."] * 10_000, 0.2
    err = fails(server, "anthropic", limits=Limits(time_s=1.0, time_setting="the TIME trait"))
    assert err.kind == "limit" and "time limit (1 s)" in str(err) and "the TIME trait" in str(err)
    assert 0 < len(err.partial_text) < 100 and set(err.partial_text) == {"."}
    assert server.last.client_gone.wait(10)


def test_the_time_limit_also_counts_events_without_text(server: ModelServer) -> None:
    server.raw_stream = [start("a")] + [openai_chunk(delta={})] * 10_000
    server.delay = 0.1
    err = fails(server, limits=Limits(time_s=1.0))
    assert err.kind == "limit" and err.partial_text == "a"


def test_the_time_limit_holds_for_a_stream_of_keep_alive_comments(server: ModelServer) -> None:
    server.raw_stream = [start("a")] + [(":", "keep-alive")] * 10_000
    server.delay = 0.1
    err = fails(server, "anthropic", limits=Limits(time_s=1.0))
    assert err.kind == "limit" and err.partial_text == ""  # nothing Anthropic-shaped came
    server.raw_stream = [start("a")] + [(":", "keep-alive")] * 10_000
    err = fails(server, limits=Limits(time_s=1.0))
    assert err.kind == "limit" and err.partial_text == "a"


def test_an_answer_within_the_limits_is_untouched(server: ModelServer) -> None:
    answer = chat(model_at(server), ASK, limits=Limits(time_s=60, size_chars=len(server.answer)))
    assert answer.text == server.answer


def test_anything_unexpected_becomes_one_line_without_its_message_or_frames(
    server: ModelServer,
) -> None:
    def failing_display(_text: str) -> None:  # a caller's callback that fails, key in hand
        raise RuntimeError(f"display broke while holding {KEY}")

    err = fails(server, on_text=failing_display)
    assert err.kind == "protocol" and "failed unexpectedly (RuntimeError)" in str(err)
    assert 'model "Hostile"' in str(err)


# -- a line or an event that never ends ------------------------------------------------------

FLOOD = 50 * 1024 * 1024
#: One whole event ("Hello "), then the start of one that never ends.
OPENAI_HEAD = b"data: " + json.dumps({**CHUNK, "choices": [
    {"index": 0, "delta": {"content": "Hello "}}]}).encode() + b"\n\ndata: "
ANTHROPIC_HEAD = b"".join(
    f"event: {name}\ndata: {data}\n\n".encode() for name, data in anthropic_start()
) + b"data: "
NEVER_ENDS = {
    "one line without a newline": b"x" * 65_536,
    "one event without a blank line": (b"data: " + b"x" * 57 + b"\n") * 1024,
    "one comment line without a newline": b"x" * 65_536,
}


def flood_peak(server: ModelServer, provider: str, limits: Limits) -> tuple[ProviderError, int]:
    """The error a flood ends in, and the peak of Python memory while reading it."""
    tracemalloc.start()
    try:
        err = fails(server, provider, limits=limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return err, peak


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("case", sorted(NEVER_ENDS))
def test_a_line_or_event_that_never_ends_is_cut_at_a_bound_tied_to_the_size_limit(
    provider: str, case: str
) -> None:
    head = OPENAI_HEAD if provider == "openai" else ANTHROPIC_HEAD
    if "comment" in case:
        head = head.removesuffix(b"data: ") + b": "
    limits = Limits(time_s=120, size_chars=50_000, size_setting="the SIZE trait")
    bound = event_bound(limits)
    assert bound == 1024 * 1024 + 12 * 50_000
    with ModelServer(flood=NEVER_ENDS[case], flood_head=head, flood_bytes=FLOOD) as server:
        err, peak = flood_peak(server, provider, limits)
        # Cut by the bound, not by the time limit: reading was linear (the old re-split of the
        # whole buffer on every read never got through 50 MB before the time limit).
        assert err.kind == "protocol", str(err)
        assert f"more than {bound:,} bytes in one event" in str(err)
        assert "raise the SIZE trait" in str(err)
        assert err.partial_text == "Hello " and "(6 characters) is kept" in str(err)
        assert server.last.client_gone.wait(10) and server.last.finished.wait(10)
        # The rest was never read: what the socket took is the bound plus its buffers.
        assert server.last.sent < FLOOD // 4
    assert peak < 4 * bound, f"peak {peak:,} bytes for a bound of {bound:,}"


def test_with_the_size_limit_off_the_bound_is_fixed_and_names_no_setting() -> None:
    limits = Limits(time_s=120, size_chars=None, size_setting="the SIZE trait")
    assert event_bound(limits) == event_bound(None) == 16 * 1024 * 1024
    with ModelServer(flood=b"x" * 65_536, flood_head=OPENAI_HEAD, flood_bytes=FLOOD) as server:
        err, peak = flood_peak(server, "openai", limits)
        assert err.kind == "protocol" and "more than 16,777,216 bytes" in str(err)
        assert "raise" not in str(err) and err.partial_text == "Hello "
        assert server.last.client_gone.wait(10)
        assert server.last.sent < FLOOD * 3 // 4
    assert peak < 4 * event_bound(None)


def test_an_event_as_large_as_the_size_limit_allows_still_arrives_whole(
    server: ModelServer,
) -> None:
    """The bound never cuts an event whose text fits the size limit, even escaped at the most
    bytes a character can take (a surrogate pair as ``\\ud83d\\ude00``)."""
    text = "\U0001f600" * 50_000
    data = json.dumps({**CHUNK, "choices": [{"index": 0, "delta": {"content": text}}]})
    assert len(data) > 12 * 50_000
    server.raw_stream = [(None, data), openai_chunk(delta={}, finish_reason="stop")]
    answer = chat(model_at(server), ASK, limits=Limits(size_chars=50_000))
    assert answer.text == text


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("split", [1, 7, 4096, 8193])
def test_events_split_anywhere_across_reads_parse_the_same(
    server: ModelServer, newline: str, split: int
) -> None:
    """Line ends (``\\r\\n`` too, its halves in two reads), multi-byte characters and
    comments fall at every offset of the reads; the answer is the same."""
    pieces = [("é€" * (i % 97)) + str(i) for i in range(300 if split == 1 else 3_000)]
    server.raw_stream = [start(p) for p in pieces[:-1]] + [(":", "keep-alive")]
    server.raw_stream += [start(pieces[-1]), openai_chunk(delta={}, finish_reason="stop")]
    server.raw_newline, server.raw_split = newline, split
    deltas = 0

    def count(_text: str) -> None:
        nonlocal deltas
        deltas += 1

    answer = chat(model_at(server), ASK, on_text=count)
    assert answer.text == "".join(pieces) and deltas == len(pieces)
