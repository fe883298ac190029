"""A small HTTP client on stdlib ``http.client``: one POST, JSON or server-sent events back.

Why not ``requests``: it costs ~100 ms of imports in a kernel and we need only this.

Reading is done in small pieces (``read1``) with a socket timeout equal to the request timeout,
so a silent server turns into ``ProviderError(kind="timeout")`` after about ``timeout`` seconds
and a kernel interrupt (SIGINT → ``KeyboardInterrupt`` on the main thread) interrupts the blocking
``recv`` promptly. Whatever happens, the connection is closed before the error propagates.

Interrupts are turned into ``ProviderError(kind="interrupted")`` carrying the partial text, so the
caller can show what arrived and record the request; the process stays usable.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .base import Callback, Limits, ModelConfig, ProviderError, scrub
from .errors import hint, server_message, shown_message
from .models import LOCAL_PROVIDERS, display_url

T = TypeVar("T")

#: Largest response body we keep (JSON answers, error bodies): bounds memory on a bad server.
MAX_BODY = 16 * 1024 * 1024
#: Largest error body we read: only the message is needed.
MAX_ERROR_BODY = 64 * 1024
READ_SIZE = 8192


class Progress:
    """Text received so far; lets errors and interrupts carry the partial answer.

    Enforces the overall ``limits`` where text arrives: past the size limit nothing more is kept,
    and reaching either limit raises ``ProviderError(kind="limit")`` (``check`` is also called
    for every piece of a stream read, so a stream without text still ends in time).
    """

    def __init__(
        self, on_text: Callback | None, started: float, limits: Limits | None = None
    ) -> None:
        self.parts: list[str] = []
        self.on_text = on_text
        self.started = started
        self.first_text_s: float | None = None
        self.limits = limits
        self.size = 0

    def add(self, text: str) -> None:
        wanted = self.size + len(text)
        if text:
            if self.limits is not None and self.limits.size_chars is not None:
                text = text[: max(0, self.limits.size_chars - self.size)]
            if self.first_text_s is None:
                self.first_text_s = time.monotonic() - self.started
            self.parts.append(text)
            self.size += len(text)
            if self.on_text is not None and text:
                self.on_text(text)
        self.check(wanted)

    def check(self, wanted: int | None = None) -> None:
        """Raise ``ProviderError(kind="limit")`` with what arrived once a limit is passed
        (``wanted``: the size the answer would have had without the size limit)."""
        if self.limits is None:
            return
        elapsed = time.monotonic() - self.started
        message = self.limits.exceeded(self.size if wanted is None else wanted, elapsed)
        if message is not None:
            raise ProviderError(
                "limit", message, http_status=200, partial_text=self.text, latency_s=elapsed
            )

    @property
    def text(self) -> str:
        return "".join(self.parts)


class Target:
    """Where a request goes and how to talk about it in an error message."""

    def __init__(self, model: ModelConfig, base: str, path: str, timeout: float) -> None:
        self.model = model
        self.url = base + path
        self.timeout = timeout
        self.shown = display_url(base)

    def error(
        self, kind: Any, message: str, progress: Progress | None = None, **extra: Any
    ) -> ProviderError:
        """A one-line error, the key scrubbed; with ``progress``, what had arrived and when."""
        if progress is not None:
            extra.update(partial_text=progress.text, latency_s=time.monotonic() - progress.started)
        return ProviderError(kind, scrub(message, self.model.api_key), **extra)


class Response:
    """An open HTTP response; iterate its bytes or its server-sent events."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse) -> None:
        self.conn = conn
        self.resp = resp
        self.status = resp.status
        self.content_type = (resp.getheader("Content-Type") or "").split(";")[0].strip().lower()

    def chunks(self) -> Iterator[bytes]:
        """Bytes as they arrive, in small pieces."""
        while True:
            data = self.resp.read1(READ_SIZE)
            if not data:
                return
            yield data

    def read_body(self, limit: int = MAX_BODY) -> bytes:
        buf = bytearray()
        for data in self.chunks():
            buf += data
            if len(buf) > limit:
                break
        return bytes(buf[:limit])

    def events(self, tick: Callable[[], None] | None = None) -> Iterator[tuple[str, str]]:
        """Server-sent events as ``(event name, data)``; the name is "" when not given.

        ``tick`` is called for every piece read (comments and keep-alives included), so the
        overall time limit holds even for a stream that never sends an event."""
        pending = b""
        event, data = "", list[str]()
        for piece in self.chunks():
            if tick is not None:
                tick()
            pending += piece
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                line = raw.rstrip(b"\r").decode("utf-8", "replace")
                if not line:
                    if data:
                        yield event, "\n".join(data)
                    event, data = "", []
                elif line.startswith(":"):
                    continue
                else:
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if name == "data":
                        data.append(value)
                    elif name == "event":
                        event = value
        if data:  # a last event without its blank line
            yield event, "\n".join(data)

    def close(self) -> None:
        try:
            self.resp.close()
        finally:
            self.conn.close()


def exchange(
    target: Target,
    headers: dict[str, str],
    body: dict[str, Any],
    progress: Progress,
    handle: Callable[[Response], T],
) -> T:
    """POST ``body`` as JSON and give the open response to ``handle``; map every failure.

    Non-2xx answers become ``ProviderError(kind="http")`` with the server's own message.
    """
    conn: http.client.HTTPConnection | None = None
    response: Response | None = None
    try:
        conn, resp = _send(target, headers, body)
        response = Response(conn, resp)
        if not 200 <= response.status < 300:
            raise _http_error(target, response, progress)
        return handle(response)
    except ProviderError:
        raise
    except KeyboardInterrupt:
        _close(conn, response)
        conn = response = None
        raise target.error(
            "interrupted",
            f"Interrupted: stopped the answer from {target.model.title!r} after "
            f"{len(progress.text)} characters",
            progress=progress,
        ) from None
    except TimeoutError:  # socket.timeout is an alias since 3.10
        raise target.error(
            "timeout",
            f"No answer from {target.shown} within {target.timeout:g} s (timeout): raise "
            "DevscodeMagics.request_timeout or check the server",
            http_status=response.status if response else None,
            progress=progress,
        ) from None
    except (http.client.HTTPException, ConnectionError) as exc:
        if response is None and isinstance(exc, ConnectionRefusedError):
            raise _unreachable(target, exc, progress) from None
        what = (
            "closed the connection without answering"
            if response is None
            else f"broke off mid-answer after {len(progress.text)} characters"
        )
        raise target.error(
            "protocol",
            f"The model server at {target.shown} {what} ({type(exc).__name__}): try again",
            http_status=response.status if response else None,
            progress=progress,
        ) from None
    except OSError as exc:
        raise _unreachable(target, exc, progress) from None
    finally:
        _close(conn, response)


def _close(conn: http.client.HTTPConnection | None, response: Response | None) -> None:
    try:
        if response is not None:
            response.close()
        elif conn is not None:
            conn.close()
    except Exception:
        pass


def _send(
    target: Target, headers: dict[str, str], body: dict[str, Any]
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    parts = urlsplit(target.url)
    host, port = parts.hostname or "", parts.port
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        import ssl  # lazily: only hosted providers need it

        conn = http.client.HTTPSConnection(
            host, port, timeout=target.timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(host, port, timeout=target.timeout)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    payload = json.dumps(body).encode("utf-8")
    all_headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if body.get("stream") else "application/json",
        "User-Agent": "devscode-nb",
        **headers,
    }
    try:
        conn.request("POST", path, body=payload, headers=all_headers)
        return conn, conn.getresponse()
    except BaseException:
        conn.close()
        raise


def _unreachable(target: Target, exc: OSError, progress: Progress) -> ProviderError:
    if isinstance(exc, ConnectionRefusedError):
        reason = "connection refused"
    elif isinstance(exc, socket.gaierror):
        reason = "host name not found"
    elif isinstance(exc, ConnectionError):
        reason = "connection reset"
    else:
        import ssl

        if isinstance(exc, ssl.SSLError):
            reason = f"TLS error: {exc.reason or exc}"
        else:
            reason = exc.strerror or type(exc).__name__
    host = urlsplit(target.url).hostname or ""
    local = target.model.provider in LOCAL_PROVIDERS or host in ("localhost", "127.0.0.1", "::1")
    title = target.model.title
    hint = "is it running?" if local else f'check the network and "apiBase" of "{title}"'
    return target.error(
        "unreachable",
        f"Model server at {target.shown} is unreachable ({reason}): {hint}",
        latency_s=time.monotonic() - progress.started,
    )


def _http_error(target: Target, response: Response, progress: Progress) -> ProviderError:
    status = response.status
    try:
        raw = response.read_body(MAX_ERROR_BODY)
    except (OSError, http.client.HTTPException):
        raw = b""
    message = shown_message(server_message(raw) or response.resp.reason or "error", target.model)
    return target.error(
        "http",
        f"HTTP {status} from {target.model.provider} at {target.shown}: {message} — "
        f"{hint(status, target.model)}",
        http_status=status,
        server_message=message,
        latency_s=time.monotonic() - progress.started,
    )
