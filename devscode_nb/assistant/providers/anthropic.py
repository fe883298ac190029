"""Anthropic's Messages API: ``POST <base>/messages`` with ``x-api-key`` and a version header.

Streaming events: ``message_start`` (``message.usage.input_tokens``), ``content_block_delta``
(``text_delta``), ``message_delta`` (``usage.output_tokens``, cumulative), ``message_stop``;
``ping`` is ignored and ``error`` events become ``ProviderError(kind="http")``. A stream that ends
before ``message_stop`` is a dropped stream → ``ProviderError(kind="protocol")`` with the
partial text.
"""

from __future__ import annotations

from typing import Any

from .base import Answer, Callback, Limits, ModelConfig, ProviderError
from .errors import in_band_error, json_object, parse_json
from .http import Progress, Response, Target, ask
from .models import base_url, require_key

API_VERSION = "2023-06-01"
#: ``max_tokens`` is required by the API; used when ``completionOptions.maxTokens`` is not set.
DEFAULT_MAX_TOKENS = 4096

def build_body(model: ModelConfig, messages: list[dict[str, str]], stream: bool) -> dict[str, Any]:
    """The request body: system messages move to the top-level ``system`` field."""
    system = [model.system_message] if model.system_message else []
    system += [m["content"] for m in messages if m["role"] == "system"]
    opts = model.completion_options
    body: dict[str, Any] = {
        "model": model.model,
        "max_tokens": opts.get("maxTokens") or DEFAULT_MAX_TOKENS,
        "messages": [
            {"role": m["role"], "content": m["content"]} for m in messages if m["role"] != "system"
        ],
        "stream": stream,
    }
    if system:
        body["system"] = "\n\n".join(system)
    for src, dst in (("temperature", "temperature"), ("topP", "top_p"), ("topK", "top_k")):
        if opts.get(src) is not None:
            body[dst] = opts[src]
    stop = opts.get("stop")
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    return body


def chat(
    model: ModelConfig,
    messages: list[dict[str, str]],
    *,
    on_text: Callback | None = None,
    stream: bool = True,
    timeout: float = 60.0,
    limits: Limits | None = None,
) -> Answer:
    """Ask Anthropic's Messages API; see :func:`devscode_nb.assistant.providers.chat`."""
    base = base_url(model)
    key = require_key(model)
    headers = {"anthropic-version": API_VERSION}
    if key:
        headers["x-api-key"] = key
    body = build_body(model, messages, stream)
    target = Target(model, base, "/messages", timeout)
    return ask(target, headers, body, messages, on_text, limits, _read_stream, _read_json)


def _input_tokens(usage: dict[str, Any]) -> int | None:
    """All prompt tokens, counting cache writes and reads (billed separately, still input)."""
    total = usage.get("input_tokens")
    if not isinstance(total, int):
        return None
    for extra in ("cache_creation_input_tokens", "cache_read_input_tokens"):
        value = usage.get(extra)
        if isinstance(value, int):
            total += value
    return total


def _read_stream(
    target: Target, resp: Response, progress: Progress
) -> tuple[int | None, int | None]:
    """Text deltas and usage; an event of the wrong shape or type is a one-line ``protocol``
    error (never an ``AttributeError`` carrying the request's locals)."""
    prompt: int | None = None
    generated: int | None = None
    complete = False
    for event, data in resp.events(progress):
        obj = json_object(data)
        if obj is None:
            raise _bad(target, progress, "an event that is not a JSON object")
        kind = obj.get("type") or event
        if kind == "message_start":
            prompt = _input_tokens(_dict(_dict(obj.get("message")).get("usage")))
        elif kind == "content_block_delta":
            delta = obj.get("delta")
            if not isinstance(delta, dict):
                raise _bad(target, progress, "a content_block_delta whose delta is not an object")
            if delta.get("type") == "text_delta":
                text = delta.get("text")
                if not isinstance(text, str):
                    raise _bad(target, progress, "a text_delta whose text is not text")
                progress.add(text)
        elif kind == "message_delta":
            usage = _dict(obj.get("usage"))
            output = usage.get("output_tokens")
            if isinstance(output, int) and not isinstance(output, bool):
                generated = output
            prompt = _input_tokens(usage) or prompt
        elif kind == "message_stop":
            complete = True
            break
        elif kind == "error":
            raise in_band_error(target, progress, obj)
    if not complete:
        raise target.error(
            "protocol",
            f"The stream from {target.shown} ended before message_stop "
            f"(after {progress.size} characters): try again",
            http_status=resp.status,
            progress=progress,
        )
    return prompt, generated


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _read_json(target: Target, resp: Response, progress: Progress) -> tuple[int | None, int | None]:
    data = parse_json(target, resp.read_body())
    if not isinstance(data, dict):
        raise _bad(target, progress, "JSON that is not an object")
    if data.get("type") == "error":
        raise in_band_error(target, progress, data)
    content = data.get("content")
    if not isinstance(content, list):
        raise _bad(target, progress, "no content")
    progress.add(
        "".join(
            b["text"]
            for b in content
            if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
        )
    )
    usage = _dict(data.get("usage"))
    out = usage.get("output_tokens")
    return _input_tokens(usage), out if isinstance(out, int) else None


def _bad(target: Target, progress: Progress, what: str) -> ProviderError:
    return target.error(
        "protocol",
        f"{target.shown} sent {what}: is apiBase pointing at Anthropic's Messages API?",
        progress=progress,
    )
