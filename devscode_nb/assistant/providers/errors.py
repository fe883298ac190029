"""What a server says went wrong, read the same way whether it came as an HTTP status or inside
a 200 stream: the message, the status (numeric or string codes, Anthropic's error types), and the
hint that tells the person what to do. Pure parsing: no networking here.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .base import ModelConfig, ProviderError, cut, scrub

if TYPE_CHECKING:
    from .http import Progress, Target

#: Longest server message kept in an error line.
MAX_SERVER_MESSAGE = 300

#: Anthropic's error types (in error bodies and ``error`` events) → the HTTP status they mean.
ERROR_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}

_HINTS = {
    401: 'check "apiKey" for model "{title}" in {path}',
    403: 'check that the key for model "{title}" may use this model ({path})',
    404: 'check "model" (and "apiBase") for "{title}" in {path}; is the model installed/served?',
    407: "the proxy wants a user name and password: put them in requestOptions.proxy "
    "(http://user:password@host:port) or HTTP_PROXY",
    408: "the server timed out; try again",
    413: "the prompt is too large; shorten it",
    429: "rate limited or out of quota; wait and retry, or check your plan",
}


def hint(status: int | None, model: ModelConfig) -> str:
    """What to do about an error with this status (the same for HTTP and in-band errors)."""
    found = _HINTS.get(status) if status is not None else None
    if found is None:
        if status is not None and status >= 500:
            found = "the server failed; try again later"
        elif status is None:
            found = "try again, or check the model"
        else:
            found = "check the request"
    return found.format(title=model.title, path=model.config_path)


def status_of(code: Any) -> int | None:
    """An HTTP status from an error's ``code``/``status``: ``401``, ``"401"``, or a type name
    such as ``"authentication_error"``; ``None`` for anything else (``"invalid_api_key"``)."""
    if isinstance(code, bool):
        return None
    if isinstance(code, str):
        code = code.strip()
        if code in ERROR_TYPE_STATUS:
            return ERROR_TYPE_STATUS[code]
        if not code.isdigit():
            return None
        code = int(code)
    if isinstance(code, int) and 400 <= code < 600:
        return code
    return None


def in_band(data: Any) -> tuple[int | None, str]:
    """The status and the message of an error object sent inside a 200 answer.

    Shapes: OpenAI/OpenRouter/LiteLLM ``{"error": {"message", "code", "type"}}``, Anthropic
    ``{"type": "error", "error": {"type", "message"}}``, and ``{"error": "text"}``.
    """
    error = data.get("error") if isinstance(data, dict) else data
    status: int | None = None
    if isinstance(error, dict):
        for key in ("code", "status", "status_code", "type"):
            status = status_of(error.get(key))
            if status is not None:
                break
    if status is None and isinstance(data, dict):
        status = status_of(data.get("status")) or status_of(data.get("code"))
    message = _message_in(data) or (error.get("type") if isinstance(error, dict) else None)
    return status, str(message or "error")


def in_band_error(target: Target, progress: Progress, data: Any) -> ProviderError:
    """An error object inside a 200 answer (OpenRouter, LiteLLM, Anthropic's ``error`` event):
    the same status, hint and one-line message as the HTTP error would get."""
    status, message = in_band(data)
    shown = shown_message(message, target.model)
    code = f" {status}" if status is not None else ""
    return target.error(
        "http",
        f"{target.model.provider} at {target.shown} reported error{code} mid-answer: {shown} — "
        f"{hint(status, target.model)}",
        http_status=status,
        server_message=shown,
        progress=progress,
    )


def parse_json(target: Target, raw: bytes) -> Any:
    """``raw`` (a whole JSON answer) parsed, or a ``protocol`` error naming the server."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: hostile nesting
        raise target.error(
            "protocol",
            f"{target.shown} answered with something that is not JSON: is apiBase pointing at "
            "an OpenAI-compatible (or Anthropic) API?",
        ) from None


def json_object(data: str) -> dict[str, Any] | None:
    """``data`` parsed as a JSON object, else ``None`` (not JSON, truncated, or not an object)."""
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: hostile nesting
        return None
    return obj if isinstance(obj, dict) else None


def shown_message(message: str, model: ModelConfig) -> str:
    """A server's message made fit to show: the key redacted, one line, cut short."""
    return cut(scrub(message, model.api_key), MAX_SERVER_MESSAGE)


def server_message(raw: bytes) -> str | None:
    """The human message in an error body, for the shapes OpenAI, Anthropic, Ollama and vLLM use.

    ``{"error": {"message": ...}}``, ``{"type": "error", "error": {...}}``, ``{"error": "..."}``,
    ``{"message": ...}``, ``{"detail": ...}``; else the text itself if it is short.
    """
    text = raw.decode("utf-8", "replace").strip()
    if not text:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return " ".join(text.split())[:MAX_SERVER_MESSAGE] if not text.startswith("<") else None
    return _message_in(data)


def _message_in(data: Any) -> str | None:
    if isinstance(data, list) and data:
        return _message_in(data[0])
    if not isinstance(data, dict):
        return str(data) if isinstance(data, str) else None
    error = data.get("error")
    if isinstance(error, dict):
        found = _message_in(error)
        if found:
            return found
    elif isinstance(error, str) and error:
        return error
    for key in ("message", "detail", "msg"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, (list, dict)):
            found = _message_in(value)
            if found:
                return found
    return None
