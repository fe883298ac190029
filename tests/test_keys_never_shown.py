"""An API key never appears in cell output, stderr, a log record or a telemetry payload — with
``%xmode Verbose`` (which prints every frame's locals), a malformed stream in either protocol,
a key echoed back by the server, and a key with a line break in config.json. Real shell, real
loopback servers, real capture server; the file descriptors are read, not just sys.stdout."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import telemetry_of
from model_servers import ModelServer
from test_assistant import models_config

KEY = "sk-live-Q7b2XnR4t9LmW3pZ8cV1yK6hJ0gF5dS2"
#: The key, and every 12-character piece of it: none may show anywhere.
FRAGMENTS = [KEY] + [KEY[i : i + 12] for i in range(0, len(KEY) - 11, 4)]


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """Every log record of every logger, at every level, while the test runs."""
    got: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            got.append(record)

    root, handler = logging.getLogger(), Keep(logging.DEBUG)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield got
    root.removeHandler(handler)
    root.setLevel(level)


def assert_nowhere(shell: Any, capture: Any, capfd: Any, records: list[logging.LogRecord],
                   ) -> str:
    telemetry = telemetry_of(shell)
    assert telemetry.flush()
    out, err = capfd.readouterr()
    logged = "\n".join(r.getMessage() + repr(r.args) + str(r.exc_info) for r in records)
    payloads = json.dumps(capture.events) + json.dumps(telemetry.log.recent())
    for where, text in (("output", out), ("stderr", err), ("log", logged), ("payloads", payloads)):
        for fragment in FRAGMENTS:
            assert fragment not in text, (where, fragment)
    return out + err


def bad_stream(provider: str) -> list[tuple[str | None, str]]:
    if provider == "anthropic":
        return [("content_block_delta", '{"type": "content_block_delta", "delta": "oops"}')]
    return [(None, '{"choices": [{"index": 0, "delta": "oops"}]}')]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_malformed_chunk_under_xmode_verbose_shows_one_line_and_no_key(
    sending_shell, capture, global_dir, capfd, records, provider
) -> None:
    with ModelServer(raw_stream=bad_stream(provider)) as server:
        models_config(global_dir, {"title": "Demo", "provider": provider, "model": "demo",
                                   "apiBase": server.base_url, "apiKey": KEY})
        sending_shell.run_line_magic("xmode", "Verbose")
        result = sending_shell.run_cell("%devscode ask hi", store_history=True)
        sent = server.last.headers
    assert KEY in (sent.get("authorization", "") + sent.get("x-api-key", ""))  # it was used
    assert result.success and result.error_in_exec is None  # nothing raised into the cell
    shown = assert_nowhere(sending_shell, capture, capfd, records)
    assert "Traceback" not in shown and "AttributeError" not in shown
    (line,) = [ln for ln in shown.splitlines() if ln.startswith("devscode:")]
    assert "sent a content_block_delta" in line or "sent a stream chunk" in line


def test_a_key_echoed_whole_by_the_server_is_redacted(
    sending_shell, capture, global_dir, capfd, records
) -> None:
    echo = {"message": f"key {KEY} is revoked", "code": 401}
    with ModelServer(raw_stream=[(None, json.dumps({"error": echo}))]) as server:
        models_config(global_dir, {"title": "Demo", "provider": "openai", "model": "demo",
                                   "apiBase": server.base_url, "apiKey": KEY})
        sending_shell.run_cell("%devscode ask hi", store_history=True)
    shown = assert_nowhere(sending_shell, capture, capfd, records)
    assert "key <key> is revoked" in shown and 'check "apiKey" for model "Demo"' in shown
    (gen,) = [e["properties"] for e in capture.events if e["event"] == "$ai_generation"]
    assert gen["$ai_http_status"] == 401


def test_a_key_with_a_line_break_is_rejected_by_name_not_printed(
    sending_shell, capture, global_dir, capfd, records
) -> None:
    with ModelServer() as server:
        path = models_config(global_dir, {"title": "Demo", "provider": "openai", "model": "demo",
                                          "apiBase": server.base_url,
                                          "apiKey": KEY[:20] + "\n" + KEY[20:]})
        for cell in ("%devscode ask hi", "%%devscode\nhi", "%devscode models"):
            result = sending_shell.run_cell(cell, store_history=True)
            assert result.success
        assert server.requests == []  # no request was ever made with it
    shown = assert_nowhere(sending_shell, capture, capfd, records)
    lines = [ln for ln in shown.splitlines() if ln.startswith("devscode:")]
    assert len(lines) == 3
    assert all(f'"apiKey" of model "Demo" in {path}' in ln for ln in lines)
    assert "could not read the command line" not in shown
