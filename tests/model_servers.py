"""Loopback model servers speaking the real wire protocols, for tests and demos.

One :class:`ModelServer` answers both protocols on ``127.0.0.1``:

- OpenAI chat completions at ``/v1/chat/completions`` (any ``.../chat/completions``): streaming
  server-sent events (``data: {chunk}`` … ``data: [DONE]``, a final usage chunk with empty
  ``choices`` when the request has ``stream_options.include_usage``) or one JSON object;
- Anthropic Messages at ``/v1/messages``: ``message_start`` … ``message_stop`` events or JSON;
- Azure OpenAI at ``/openai/deployments/<deployment>/chat/completions?api-version=...`` with
  the ``api-key`` header (the deployment and version are in each :class:`Recorded`);
- ``GET /v1/models`` lists ``known_models`` (or the one model "demo").

``tls=`` (an ``ssl.SSLContext``, e.g. from ``trustme``) serves HTTPS; the handshake happens in
the request's thread, so a client that rejects the certificate does not stall the others.

Every request is recorded (method, path, lower-cased headers, JSON body). Attributes set what the
next answers look like: ``answer`` (the text), ``pieces`` (how it is split into deltas),
``usage`` (report token counts or not), ``delay`` (seconds between deltas), ``api_key`` (demand
it), ``known_models`` (others get 404), and ``fault``:

========================  ==========================================================
``"auth"``                401 with the protocol's error body (OpenAI's echoes a key fragment)
``"not_found"``           404 "model does not exist"
``"server_error"``        500 with an error body
``"hang"``                accept and read the request, never answer
``"hang_after_first"``    stream the first delta, then go silent
``"drop"``                stream half the deltas, then cut the connection
``"reject_stream_options"`` 400 naming ``stream_options`` when the request has it
``"error_event"``         (Anthropic) an ``overloaded_error`` event after the first delta
``"redirect"``            307 to ``redirect_to`` (keeping the path)
========================  ==========================================================

``raw_stream`` (a list of ``(event name or None, data)``) replaces the streamed answer of either
protocol with exactly those server-sent events, for hostile or malformed streams (the event
name ``":"`` sends ``data`` as a comment line, as keep-alives are sent); ``raw_newline`` ends
its lines (``"\r\n"`` as some servers do) and ``raw_split`` > 0 sends the whole stream in
HTTP chunks of that many bytes, so line ends fall anywhere in the client's reads. ``flood`` (bytes)
streams ``flood_head`` and then ``flood`` over and over, ``flood_bytes`` in all, with nothing
else: ``b"x" * 65536`` is one line that never ends, ``b"data: x\n" * 8192`` one event that never
ends. ``Recorded.sent`` counts the bytes of it that the socket took before the client left.

Use it as a context manager in tests, or run it for a demo::

    python tests/model_servers.py --port 8765 [--answer-file answer.md] [--delay 0.02]

and point a config.json entry at it: ``{"title": "Demo", "provider": "openai", "model": "demo",
"apiBase": "http://127.0.0.1:8765/v1"}`` (or ``"provider": "anthropic"`` with the same base).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import select
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEFAULT_ANSWER = (
    "Here is one way to do it:\n\n"
    "```python\n"
    "import math\n"
    "\n"
    "print(math.sqrt(2))\n"
    "```\n\n"
    "This prints the square root of two.\n"
)


def streaming_answer(size: int) -> str:
    """Prose and Python blocks, as an assistant answers, about ``size`` bytes."""
    paragraph = (
        "The *mean* of a sample is its sum divided by its size; `statistics.fmean` is fast. "
        "Use **median** when outliers matter, and check `len(xs) > 0` first.\n\n"
    )
    code = (
        "```python\nimport statistics\n\n\ndef summarise(xs):\n"
        "    return {'mean': statistics.fmean(xs), 'median': statistics.median(xs)}\n```\n\n"
    )
    text = ""
    while len(text) < size:
        text += paragraph * 5 + code
    return text


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    #: Set when the client closed the connection before the answer was complete.
    client_gone: threading.Event = field(default_factory=threading.Event)
    #: Set when the server finished handling the request (whatever happened).
    finished: threading.Event = field(default_factory=threading.Event)
    #: Bytes of a ``flood`` written to the socket.
    sent: int = 0


class _ClientGone(Exception):
    pass


class ModelServer:
    """A scripted model server on 127.0.0.1 (port 0 = any free port)."""

    def __init__(
        self,
        *,
        answer: str = DEFAULT_ANSWER,
        pieces: list[str] | None = None,
        usage: bool = True,
        delay: float = 0.0,
        api_key: str | None = None,
        known_models: set[str] | None = None,
        fault: str | None = None,
        raw_stream: list[tuple[str | None, str]] | None = None,
        prompt_tokens: int = 17,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        redirect_to: str | None = None,
        raw_newline: str = "\n",
        raw_split: int = 0,
        flood: bytes | None = None,
        flood_head: bytes = b"data: ",
        flood_bytes: int = 50 * 1024 * 1024,
    ) -> None:
        self.answer = answer
        self.pieces = pieces
        self.usage = usage
        self.delay = delay
        self.api_key = api_key
        self.known_models = known_models
        self.fault = fault
        self.raw_stream = raw_stream
        self.raw_newline = raw_newline
        self.raw_split = raw_split
        self.flood = flood
        self.flood_head = flood_head
        self.flood_bytes = flood_bytes
        self.prompt_tokens = prompt_tokens
        self.redirect_to = redirect_to
        self.tls = tls
        self.requests: list[Recorded] = []
        #: TLS handshakes that failed (the client rejected us, or we rejected its certificate).
        self.tls_failures: list[str] = []
        self._stopping = threading.Event()
        self._httpd = _QuietServer((host, port), _make_handler(self))
        self._httpd.daemon_threads = True
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What goes into ``apiBase``."""
        return f"{self.url}/v1"

    def start(self) -> ModelServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self._stopping.set()
            self._httpd.server_close()

    # -- what tests look at ------------------------------------------------------------------

    @property
    def last(self) -> Recorded:
        return self.requests[-1]

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[Recorded]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.requests

    def answer_pieces(self) -> list[str]:
        """The deltas the answer is streamed in (default: about 8 characters each)."""
        if self.pieces is not None:
            return list(self.pieces)
        text = self.answer
        return [text[i : i + 8] for i in range(0, len(text), 8)] or [""]

    def generated_tokens(self) -> int:
        return len(self.answer_pieces())


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A failed handshake or a client gone mid-answer is part of the tests, not noise."""


def _frame(data: Any, event: str | None = None) -> str:
    """One server-sent event (``event`` ":" makes it a comment line)."""
    text = data if isinstance(data, str) else json.dumps(data)
    if event == ":":
        return f": {text}\n\n"
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {text}\n\n"


def _make_handler(server: ModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        owner = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    owner: ModelServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet in tests
        pass

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            try:
                self.request.do_handshake()
            except (OSError, ssl.SSLError) as exc:
                self.owner.tls_failures.append(str(exc))
                raise
        super().setup()

    # -- plumbing ----------------------------------------------------------------------------

    def _record(self) -> Recorded:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        rec = Recorded(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        self.owner.requests.append(rec)
        return rec

    def _gone(self) -> bool:
        """True when the client has closed its end (readable and EOF)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            if isinstance(self.connection, ssl.SSLSocket):
                return False  # cannot peek under TLS; a write will fail instead
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def _chunk(self, data: bytes) -> None:
        if self._gone():
            raise _ClientGone
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        except OSError:
            raise _ClientGone from None

    def _sse(self, data: Any, event: str | None = None) -> None:
        self._chunk(_frame(data, event).encode())

    def _end_stream(self) -> None:
        self._chunk(b"")

    def _raw(self, rec: Recorded) -> bool:
        """Send ``flood`` or ``raw_stream`` verbatim, if set (True: the request is answered)."""
        owner = self.owner
        if owner.flood is not None:
            self._start_stream()
            self._chunk(owner.flood_head)
            while rec.sent < owner.flood_bytes:
                self._chunk(owner.flood)
                rec.sent += len(owner.flood)
            self._end_stream()
            return True
        if owner.raw_stream is None:
            return False
        newline = owner.raw_newline
        frames = [_frame(d, e).replace("\n", newline).encode() for e, d in owner.raw_stream]
        if owner.raw_split > 0:
            whole, n = b"".join(frames), owner.raw_split
            frames = [whole[i : i + n] for i in range(0, len(whole), n)]
        self._start_stream()
        for frame in frames:
            self._pause()
            self._chunk(frame)
        self._end_stream()
        return True

    def _pause(self) -> None:
        if self.owner.delay:
            time.sleep(self.owner.delay)

    def _hang(self, rec: Recorded) -> None:
        """Say nothing until the client leaves or the server stops."""
        while not self.owner._stopping.wait(0.02):
            if self._gone():
                rec.client_gone.set()
                return

    def _drop(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    # -- routing -----------------------------------------------------------------------------

    def do_GET(self) -> None:
        rec = self._record()
        try:
            if self.path.rstrip("/").endswith("/models"):
                names = sorted(self.owner.known_models or {"demo"})
                self._json(
                    200,
                    {"object": "list", "data": [{"id": n, "object": "model"} for n in names]},
                )
            else:
                self._json(404, {"error": {"message": f"no route {self.path}"}})
        finally:
            rec.finished.set()

    def do_POST(self) -> None:
        rec = self._record()
        path = urlsplit(self.path).path
        try:
            if self.owner.fault == "redirect":
                self.send_response(307)
                self.send_header("Location", f"{self.owner.redirect_to}{self.path}")
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
            elif path.startswith("/openai/deployments/") and path.endswith("/chat/completions"):
                self._azure(rec)
            elif path.endswith("/chat/completions"):
                self._openai(rec)
            elif path.endswith("/messages"):
                self._anthropic(rec)
            else:
                self._json(404, {"error": {"message": f"no route {self.path}"}})
        except _ClientGone:
            rec.client_gone.set()
        finally:
            rec.finished.set()

    # -- Azure OpenAI ------------------------------------------------------------------------

    def _azure(self, rec: Recorded) -> None:
        """Azure's shape: the deployment in the path, ``api-version`` required, ``api-key``."""
        parts = urlsplit(self.path)
        version = parse_qs(parts.query).get("api-version", [""])[0]
        if not version:
            self._json(
                404,
                {"error": {"code": "404", "message": "Resource not found"}},
            )
            return
        want = self.owner.api_key
        if want is not None and self.headers.get("api-key") != want:
            self._json(
                401,
                {
                    "error": {
                        "code": "401",
                        "message": "Access denied due to invalid subscription key or wrong API "
                        "endpoint. Make sure to provide a valid key for an active subscription "
                        "and use a correct regional API endpoint for your resource.",
                    }
                },
            )
            return
        self._openai(rec, key_checked=True)

    # -- OpenAI ------------------------------------------------------------------------------

    def _openai_key_ok(self) -> bool:
        want = self.owner.api_key
        return want is None or self.headers.get("Authorization") == f"Bearer {want}"

    def _openai(self, rec: Recorded, key_checked: bool = False) -> None:
        owner, body = self.owner, rec.body if isinstance(rec.body, dict) else {}
        model = str(body.get("model", ""))
        fault = owner.fault
        if fault == "auth" or not (key_checked or self._openai_key_ok()):
            sent = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            shown = f"{sent[:5]}***{sent[-4:]}" if sent else "none"
            self._json(
                401,
                {
                    "error": {
                        "message": f"Incorrect API key provided: {shown}. You can find your API "
                        "key at https://platform.openai.com/account/api-keys.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "invalid_api_key",
                    }
                },
            )
            return
        if fault == "not_found" or (
            owner.known_models is not None and model not in owner.known_models
        ):
            self._json(
                404,
                {
                    "error": {
                        "message": f"The model `{model}` does not exist or you do not have "
                        "access to it.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "model_not_found",
                    }
                },
            )
            return
        if fault == "server_error":
            self._json(
                500,
                {
                    "error": {
                        "message": "The server had an error while processing your request. "
                        "Sorry about that!",
                        "type": "server_error",
                        "param": None,
                        "code": None,
                    }
                },
            )
            return
        if fault == "reject_stream_options" and "stream_options" in body:
            self._json(
                400,
                {
                    "error": {
                        "message": "Unrecognized request argument supplied: stream_options",
                        "type": "invalid_request_error",
                    }
                },
            )
            return
        if fault == "hang":
            self._hang(rec)
            return
        pieces = owner.answer_pieces()
        usage = {
            "prompt_tokens": owner.prompt_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": owner.prompt_tokens + len(pieces),
        }
        base = {"id": "chatcmpl-test", "created": int(time.time()), "model": model}
        if not body.get("stream"):
            answer: dict[str, Any] = {
                **base,
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(pieces)},
                        "finish_reason": "stop",
                    }
                ],
            }
            if owner.usage:
                answer["usage"] = usage
            self._json(200, answer)
            return
        chunk = {**base, "object": "chat.completion.chunk"}
        if self._raw(rec):
            return
        self._start_stream()
        self._sse(
            {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
        )
        for i, piece in enumerate(self._limited(pieces, rec)):
            self._pause()
            self._sse(
                {
                    **chunk,
                    "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                }
            )
            if i == 0 and fault == "hang_after_first":
                self._hang(rec)
                return
        if fault == "drop":
            self._drop()
            return
        self._sse({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        include = (body.get("stream_options") or {}).get("include_usage")
        if owner.usage and include:
            self._sse({**chunk, "choices": [], "usage": usage})
        self._sse("[DONE]")
        self._end_stream()

    def _limited(self, pieces: list[str], rec: Recorded) -> Iterator[str]:
        """All pieces, or only the first half in "drop" mode."""
        if self.owner.fault == "drop":
            yield from pieces[: max(1, len(pieces) // 2)]
        else:
            yield from pieces

    # -- Anthropic ---------------------------------------------------------------------------

    def _anthropic_error(self, status: int, etype: str, message: str) -> None:
        self._json(status, {"type": "error", "error": {"type": etype, "message": message}})

    def _anthropic(self, rec: Recorded) -> None:
        owner, body = self.owner, rec.body if isinstance(rec.body, dict) else {}
        model = str(body.get("model", ""))
        fault = owner.fault
        if fault == "auth" or (
            owner.api_key is not None and self.headers.get("x-api-key") != owner.api_key
        ):
            self._anthropic_error(401, "authentication_error", "invalid x-api-key")
            return
        if self.headers.get("anthropic-version") is None:
            self._anthropic_error(
                400, "invalid_request_error", "anthropic-version: header is required"
            )
            return
        if "max_tokens" not in body:
            self._anthropic_error(400, "invalid_request_error", "max_tokens: Field required")
            return
        if fault == "not_found" or (
            owner.known_models is not None and model not in owner.known_models
        ):
            self._anthropic_error(404, "not_found_error", f"model: {model}")
            return
        if fault == "server_error":
            self._anthropic_error(500, "api_error", "Internal server error")
            return
        if fault == "hang":
            self._hang(rec)
            return
        pieces = owner.answer_pieces()
        if not body.get("stream"):
            answer: dict[str, Any] = {
                "id": "msg_test",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": "".join(pieces)}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
            }
            if owner.usage:
                answer["usage"] = {
                    "input_tokens": owner.prompt_tokens,
                    "output_tokens": len(pieces),
                }
            self._json(200, answer)
            return
        if self._raw(rec):
            return
        self._start_stream()
        message: dict[str, Any] = {
            "id": "msg_test",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": model,
            "stop_reason": None,
            "stop_sequence": None,
        }
        if owner.usage:
            message["usage"] = {"input_tokens": owner.prompt_tokens, "output_tokens": 1}
        self._sse({"type": "message_start", "message": message}, "message_start")
        self._sse(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            "content_block_start",
        )
        self._sse({"type": "ping"}, "ping")
        for i, piece in enumerate(self._limited(pieces, rec)):
            self._pause()
            self._sse(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": piece},
                },
                "content_block_delta",
            )
            if i == 0 and fault == "hang_after_first":
                self._hang(rec)
                return
            if i == 0 and fault == "error_event":
                self._sse(
                    {
                        "type": "error",
                        "error": {"type": "overloaded_error", "message": "Overloaded"},
                    },
                    "error",
                )
                self._end_stream()
                return
        if fault == "drop":
            self._drop()
            return
        self._sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        delta: dict[str, Any] = {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        }
        if owner.usage:
            delta["usage"] = {"output_tokens": len(pieces)}
        self._sse(delta, "message_delta")
        self._sse({"type": "message_stop"}, "message_stop")
        self._end_stream()


def main(argv: list[str] | None = None) -> int:
    """Serve a canned answer until Ctrl-C (for notebook demos)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--answer", help="the text every request gets")
    parser.add_argument("--answer-file", help="read the answer from this file")
    parser.add_argument("--delay", type=float, default=0.02, help="seconds between deltas")
    parser.add_argument("--api-key", help="demand this key (Bearer or x-api-key)")
    parser.add_argument("--no-usage", action="store_true", help="report no token counts")
    parser.add_argument("--fault", help="auth, not_found, server_error, hang, drop, ...")
    args = parser.parse_args(argv)
    answer = DEFAULT_ANSWER
    if args.answer_file:
        with open(args.answer_file, encoding="utf-8") as f:
            answer = f.read()
    elif args.answer is not None:
        answer = args.answer
    server = ModelServer(
        answer=answer,
        usage=not args.no_usage,
        delay=args.delay,
        api_key=args.api_key,
        fault=args.fault,
        host=args.host,
        port=args.port,
    )
    print(
        f"Model server on {server.base_url} (OpenAI: /chat/completions, Anthropic: /messages); "
        "Ctrl-C stops it",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
