"""One POST to a model server through urllib3, JSON or server-sent events back.

The request goes through :mod:`.session` (proxies, TLS, client certificates from
``requestOptions`` and the environment); urllib3 is imported on the first request only, never
by ``import devscode_nb`` or ``%load_ext`` (docs/benchmarks.md has the measurements behind the
choice of library).

Reading is done in small pieces (urllib3's ``read1``) with a read timeout equal to the request
timeout, so a silent server turns into ``ProviderError(kind="timeout")`` after about ``timeout``
seconds and a kernel interrupt (SIGINT → ``KeyboardInterrupt`` on the main thread) interrupts the
blocking ``recv`` promptly. Whatever happens, the connection is closed before the error
propagates.

Interrupts are turned into ``ProviderError(kind="interrupted")`` carrying the partial text, so the
caller can show what arrived and record the request; the process stays usable. Proxy and TLS
failures become one line naming the model and the setting to check.
"""

from __future__ import annotations

import json
import os
import ssl
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from .base import Answer, Callback, Limits, ModelConfig, ProviderError, make_usage, scrub
from .errors import hint, server_message, shown_message
from .models import LOCAL_PROVIDERS, display_url

if TYPE_CHECKING:
    import urllib3

T = TypeVar("T")

#: Largest response body we keep (JSON answers, error bodies): bounds memory on a bad server.
MAX_BODY = 16 * 1024 * 1024
#: Largest error body we read: only the message is needed.
MAX_ERROR_BODY = 64 * 1024
READ_SIZE = 8192
#: Most bytes one character of an answer can take on the wire: a JSON-escaped surrogate pair
#: (``\ud83d\ude00``). An event this many times the size limit cannot fit the answer anyway.
MAX_BYTES_PER_CHAR = 12
#: Room in one server-sent event beyond its text (the JSON around it, usage, metadata).
EVENT_ROOM = 1024 * 1024


def event_bound(limits: Limits | None) -> int:
    """Most bytes one server-sent event (or one unfinished line) may take: enough for any event
    whose text is within the size limit, however escaped; :data:`MAX_BODY` when it is off."""
    size = limits.size_chars if limits is not None else None
    return MAX_BODY if size is None else EVENT_ROOM + MAX_BYTES_PER_CHAR * size


class OverlongEvent(Exception):
    """A server-sent line or event past :func:`event_bound`: a broken or hostile server."""

    def __init__(self, limits: Limits | None) -> None:
        self.bound = event_bound(limits)
        super().__init__(self.bound)
        #: The setting that raises the bound (``None``: it is the fixed :data:`MAX_BODY`).
        self.setting = (
            limits.size_setting if limits is not None and limits.size_chars is not None else None
        )

    def message(self, shown: str, kept: int) -> str:
        todo = f" If the answer is genuine, raise {self.setting}" if self.setting else ""
        return (
            f"The model server at {shown} sent more than {self.bound:,} bytes in one event "
            f"without ending it: stopped; what arrived ({kept:,} characters) is kept.{todo}"
        )


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
    """Where a request goes and how to talk about it in an error message.

    ``path`` may carry a query (Azure's ``?api-version=``); ``shown`` never does.
    """

    def __init__(
        self,
        model: ModelConfig,
        base: str,
        path: str,
        timeout: float,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.model = model
        self.url = base + path
        # A model's own requestOptions.timeout beats the session-wide default.
        self.timeout = model.request_options.timeout or timeout
        self.shown = display_url(base)
        self.env: Mapping[str, str] = os.environ if env is None else env
        #: The proxy the request went through (set when sending), for error messages.
        self.proxy: str | None = None

    def error(
        self, kind: Any, message: str, progress: Progress | None = None, **extra: Any
    ) -> ProviderError:
        """A one-line error, secrets scrubbed; with ``progress``, what had arrived and when."""
        if progress is not None:
            extra.update(partial_text=progress.text, latency_s=time.monotonic() - progress.started)
        cert = self.model.request_options.client_certificate
        message = scrub(message, cert.passphrase if cert else None)
        return ProviderError(kind, scrub(message, self.model.api_key), **extra)


class Response:
    """An open HTTP response; iterate its bytes or its server-sent events."""

    def __init__(self, resp: urllib3.BaseHTTPResponse) -> None:
        self.resp = resp
        self.status = resp.status
        self.reason = resp.reason or ""
        self.content_type = (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def chunks(self) -> Iterator[bytes]:
        """Bytes as they arrive, in small pieces (decompressed if the server compressed)."""
        while True:
            data = self.resp.read1(READ_SIZE, decode_content=True)
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

    def events(self, progress: Progress) -> Iterator[tuple[str, str]]:
        """Server-sent events as ``(event name, data)``; the name is "" when not given.

        Linear in the bytes read: only each new piece is searched for line ends, and an
        unfinished line waits in one buffer. Bounded: a line or an event longer than
        :func:`event_bound` raises :class:`OverlongEvent` (a server that never ends its line
        would otherwise hold the kernel's memory until the time limit). ``progress.check`` runs
        for every piece read (comments and keep-alives included), so the overall time limit
        holds even for a stream that never sends an event."""
        bound = event_bound(progress.limits)
        partial = bytearray()  # the line not ended yet
        event, data, lines = "", bytearray(), 0  # this event's name, data and data lines
        for piece in self.chunks():
            progress.check()
            start = 0
            while (end := piece.find(b"\n", start)) != -1:
                if partial:
                    partial += piece[start:end]
                    raw, partial = bytes(partial), bytearray()
                else:
                    raw = piece[start:end]
                start = end + 1
                line = raw[:-1] if raw.endswith(b"\r") else raw
                if not line:
                    if lines:
                        yield event, data.decode("utf-8", "replace")
                    event, data, lines = "", bytearray(), 0
                elif line.startswith(b":"):
                    continue
                else:
                    name, _, value = line.partition(b":")
                    value = value[1:] if value.startswith(b" ") else value
                    if name == b"data":
                        data += b"\n" + value if lines else value
                        lines += 1
                        if len(data) > bound:
                            raise OverlongEvent(progress.limits)
                    elif name == b"event":
                        event = value.decode("utf-8", "replace")
            partial += piece[start:]
            if len(partial) + len(data) > bound:
                raise OverlongEvent(progress.limits)
        if lines:  # a last event without its blank line
            yield event, data.decode("utf-8", "replace")

    def close(self) -> None:
        self.resp.close()


def exchange(
    target: Target,
    headers: dict[str, str],
    body: dict[str, Any],
    progress: Progress,
    handle: Callable[[Response], T],
) -> T:
    """POST ``body`` as JSON and give the open response to ``handle``; map every failure.

    ``requestOptions.headers`` are laid over ``headers``; ``extraBodyProperties`` over ``body``.
    Non-2xx answers become ``ProviderError(kind="http")`` with the server's own message.
    """
    pool: urllib3.PoolManager | None = None
    response: Response | None = None
    try:
        pool, resp = _send(target, headers, body)
        response = Response(resp)
        if not 200 <= response.status < 300:
            raise _http_error(target, response, progress)
        return handle(response)
    except ProviderError:
        raise
    except KeyboardInterrupt:
        _close(pool, response)
        pool = response = None
        raise target.error(
            "interrupted",
            f"Interrupted: stopped the answer from {target.model.title!r} after "
            f"{len(progress.text)} characters",
            progress=progress,
        ) from None
    except Exception as exc:
        raise _failure(target, exc, response, progress) from None
    finally:
        _close(pool, response)


#: A protocol's reader: the response body into the text (through ``progress``) and the token
#: counts the server reported (``None`` where it did not).
Reader = Callable[["Target", "Response", "Progress"], tuple["int | None", "int | None"]]


def ask(
    target: Target,
    headers: dict[str, str],
    body: dict[str, Any],
    messages: list[dict[str, str]],
    on_text: Callback | None,
    limits: Limits | None,
    read_stream: Reader,
    read_json: Reader,
) -> Answer:
    """One request of either protocol: the exchange, the protocol's own reader for a stream
    or a whole JSON body, and the :class:`Answer` with usage and timings."""
    started = time.monotonic()
    progress = Progress(on_text, started, limits)

    def handle(resp: Response) -> Answer:
        streamed = resp.content_type == "text/event-stream"
        # A server may ignore ``stream: true``: read what it sent, not what was asked for.
        read = read_stream if streamed else read_json
        prompt, generated = read(target, resp, progress)
        return Answer(
            text=progress.text,
            usage=make_usage(prompt, generated, messages, progress.text),
            latency_s=time.monotonic() - started,
            http_status=resp.status,
            model=target.model.model,
            provider=target.model.provider,
            stream=streamed,
            first_text_s=progress.first_text_s,
        )

    from .quiet import quiet

    with quiet():
        return exchange(target, headers, body, progress, handle)


def _close(pool: urllib3.PoolManager | None, response: Response | None) -> None:
    try:
        if response is not None:
            response.close()
        if pool is not None:
            pool.clear()
    except Exception:
        pass


def request_headers(
    target: Target, headers: Mapping[str, str], stream: bool
) -> dict[str, str]:
    """Ours, then the protocol's (auth), then ``requestOptions.headers`` (case-insensitively)."""
    out = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if stream else "application/json",
        # A proxy or server that compresses a stream would hold it back until a block fills.
        "Accept-Encoding": "identity" if stream else "gzip, deflate",
        "User-Agent": "devscode-nb",
        **headers,
    }
    for name, value in target.model.request_options.headers.items():
        for existing in [k for k in out if k.lower() == name.lower()]:
            del out[existing]
        out[name] = value
    return out


def _send(
    target: Target, headers: dict[str, str], body: dict[str, Any]
) -> tuple[urllib3.PoolManager, urllib3.BaseHTTPResponse]:
    import urllib3

    from .session import make_pool, proxy_for

    options = target.model.request_options
    payload = json.dumps({**body, **options.extra_body}).encode("utf-8")
    target.proxy = proxy_for(target.url, options, target.env)  # named in errors, even its own
    pool = make_pool(target.url, target.proxy, options, target.env)
    try:
        with warnings.catch_warnings():  # verifySsl: false is the person's choice, not noise
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            resp = pool.request(
                "POST",
                target.url,
                body=payload,
                headers=request_headers(target, headers, bool(body.get("stream"))),
                timeout=urllib3.Timeout(connect=target.timeout, read=target.timeout),
                preload_content=False,
                redirect=False,  # the key in our headers is for this host only
                retries=False,
            )
        return pool, resp
    except BaseException:
        pool.clear()
        raise


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps (urllib3 → ``ssl``/``socket``), outermost first."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = [getattr(current, "reason", None), current.__cause__, current.__context__]
        inner += [a for a in current.args if isinstance(a, BaseException)]
        todo += [e for e in inner if isinstance(e, BaseException)]


def _failure(
    target: Target, exc: Exception, response: Response | None, progress: Progress
) -> ProviderError:
    """One line for whatever urllib3 raised."""
    import urllib3.exceptions as uex

    from .session import SettingError

    if isinstance(exc, SettingError):  # nothing was sent
        if exc.setting == "proxy":
            return target.error("proxy", f'The proxy for "{target.model.title}" {exc}')
        return target.error("tls", f'{exc.setting} of "{target.model.title}": {exc}')
    if isinstance(exc, OverlongEvent):
        return target.error(
            "protocol",
            exc.message(target.shown, progress.size),
            http_status=response.status if response else None,
            progress=progress,
        )
    chain = list(_chain(exc))

    def has(*types: type[BaseException]) -> BaseException | None:
        return next((e for e in chain if isinstance(e, types)), None)

    status = response.status if response else None
    if response is None and has(uex.ProxyError):
        return _proxy_error(target, chain, progress)
    if has(ssl.SSLError, ssl.CertificateError, uex.SSLError):
        return _tls_error(target, chain, progress)
    if response is None and has(ConnectionRefusedError):
        return _unreachable(target, "connection refused", progress)
    if response is None and has(uex.NameResolutionError):
        return _unreachable(target, "host name not found", progress)
    # (urllib3's NewConnectionError is a ConnectTimeoutError too: refusals are handled above.)
    if has(TimeoutError, uex.ReadTimeoutError):
        via = f" through proxy {display_url(target.proxy)}" if target.proxy else ""
        return target.error(
            "timeout",
            f"No answer from {target.shown}{via} within {target.timeout:g} s (timeout): raise "
            "DevscodeMagics.request_timeout or check the server",
            http_status=status,
            progress=progress,
        )
    if response is None and target.proxy and has(uex.LocationValueError, uex.ProxySchemeUnknown):
        scheme = target.proxy.partition("://")[0].lower() if "://" in target.proxy else ""
        why = (
            f"{scheme}:// proxies are not supported; use an http:// or https:// proxy"
            if has(uex.ProxySchemeUnknown)
            else "not a proxy URL; write it as http://host:port"
        )
        return target.error(
            "proxy",
            f'Cannot use the proxy {display_url(target.proxy)} for "{target.model.title}" '
            f"({why}): check requestOptions.proxy and the HTTPS_PROXY, HTTP_PROXY and ALL_PROXY "
            "variables, or add the host to requestOptions.noProxy (or NO_PROXY)",
            latency_s=time.monotonic() - progress.started,
        )
    if response is None and has(uex.LocationValueError):
        return target.error(
            "unreachable",
            f'Cannot use the address of "{target.model.title}" ({exc}): check apiBase',
            latency_s=time.monotonic() - progress.started,
        )
    if response is None and isinstance(exc, (ValueError, TypeError)):
        # http.client refuses a header it cannot send (a newline in a value, a space in a
        # name); the value may be a secret, so it is not repeated.
        return target.error(
            "config",
            f'requestOptions.headers of "{target.model.title}" has a header that cannot be sent '
            f"({type(exc).__name__}): use plain names and single-line values",
        )
    if has(uex.HTTPError, OSError):
        what = (
            "closed the connection without answering"
            if response is None
            else f"broke off mid-answer after {len(progress.text)} characters"
        )
        inner = chain[-1]
        return target.error(
            "protocol",
            f"The model server at {target.shown} {what} ({type(inner).__name__}): try again",
            http_status=status,
            progress=progress,
        )
    raise exc


def _proxy_error(
    target: Target, chain: list[BaseException], progress: Progress
) -> ProviderError:
    proxy = display_url(target.proxy or "") or "the proxy"
    title = target.model.title
    text = " ".join(str(e) for e in chain)
    setting = "requestOptions.proxy (or HTTPS_PROXY)"
    if "407" in text:
        message = (
            f"Proxy {proxy} wants a user name and password for \"{title}\" (407): put them in "
            f"{setting} as http://user:password@host:port"
        )
    elif any(isinstance(e, ConnectionRefusedError) for e in chain):
        message = (
            f"Proxy {proxy} refused the connection for \"{title}\": check {setting}, or add the "
            "host to requestOptions.noProxy (or NO_PROXY)"
        )
    else:
        tunnel = next((str(e) for e in chain if "Tunnel connection failed" in str(e)), "")
        reason = tunnel.split(":", 1)[-1].strip() or type(chain[-1]).__name__
        message = f"Proxy {proxy} failed for \"{title}\" ({reason}): check {setting}"
    return target.error("proxy", message, latency_s=time.monotonic() - progress.started)


#: OpenSSL's verify codes → what to say and which setting to name.
_VERIFY = {
    10: ("its certificate has expired", "renew it on the server, or set requestOptions.verifySsl "
         "to false"),
    18: ("its certificate is self-signed", "add it to requestOptions.caBundlePath (or "
         "SSL_CERT_FILE), or set requestOptions.verifySsl to false"),
    62: ("its certificate is not valid for this host name", 'check the host in "apiBase", or set '
         "requestOptions.verifySsl to false"),
}
_VERIFY[9] = ("its certificate is not valid yet", "check this machine's clock")
_VERIFY[64] = _VERIFY[62]  # the same for an IP address
_UNKNOWN_CA = (
    "its certificate is signed by an unknown authority",
    "add your organisation's CA to requestOptions.caBundlePath (or SSL_CERT_FILE), or set "
    "requestOptions.verifySsl to false",
)


def _tls_error(target: Target, chain: list[BaseException], progress: Progress) -> ProviderError:
    verify = next((e for e in chain if isinstance(e, ssl.SSLCertVerificationError)), None)
    text = " ".join(str(e) for e in chain).lower()
    if verify is not None and verify.verify_code:
        what, todo = _VERIFY.get(verify.verify_code, _UNKNOWN_CA)
    elif "hostname" in text and "match" in text:
        what, todo = _VERIFY[62]
    elif "certificate required" in text or "handshake failure" in text:
        what, todo = "it asks for a client certificate", "set requestOptions.clientCertificate"
    elif "unknown ca" in text or "bad certificate" in text or "certificate unknown" in text:
        what, todo = (
            "it rejected the client certificate",
            "check requestOptions.clientCertificate",
        )
    elif any(isinstance(e, ssl.SSLEOFError) for e in chain):
        # Under TLS 1.3 a server that refuses the client's certificate (or its absence) may just
        # close: the alert can be lost in the race with the client's first write.
        what = "the server closed the connection during the TLS handshake"
        todo = (
            "check requestOptions.clientCertificate"
            if target.model.request_options.client_certificate
            else "if it asks for a client certificate, set requestOptions.clientCertificate"
        )
    else:
        reason = next(
            (e.reason for e in chain if isinstance(e, ssl.SSLError) and e.reason), "TLS error"
        )
        what, todo = (
            f"TLS failed ({reason})",
            "check requestOptions.caBundlePath and requestOptions.verifySsl",
        )
    return target.error(
        "tls",
        f'Secure connection to {target.shown} for "{target.model.title}" failed: {what} — {todo}',
        latency_s=time.monotonic() - progress.started,
    )


def _unreachable(target: Target, reason: str, progress: Progress) -> ProviderError:
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
    if 300 <= status < 400:
        location = display_url(response.resp.headers.get("Location") or "") or "elsewhere"
        return target.error(
            "http",
            f"HTTP {status} from {target.model.provider} at {target.shown}: it redirects to "
            f'{location} — set "apiBase" of "{target.model.title}" to the final address (the '
            "key is not sent on to another address)",
            http_status=status,
            latency_s=time.monotonic() - progress.started,
        )
    try:
        raw = response.read_body(MAX_ERROR_BODY)
    except Exception:
        raw = b""
    message = shown_message(server_message(raw) or response.reason or "error", target.model)
    return target.error(
        "http",
        f"HTTP {status} from {target.model.provider} at {target.shown}: {message} — "
        f"{hint(status, target.model)}",
        http_status=status,
        server_message=message,
        latency_s=time.monotonic() - progress.started,
    )
