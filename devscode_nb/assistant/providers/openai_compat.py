"""The OpenAI chat completions protocol, spoken by OpenAI and by nearly every other server.

``POST <base>/chat/completions`` with ``Authorization: Bearer <key>``. When streaming we ask for
``stream_options.include_usage`` so the last chunk (empty ``choices``) carries the token counts;
servers that reject the field (HTTP 400/422 naming it) are asked once more without it, and
servers that send no usage get an estimate.

A stream counts as complete at ``data: [DONE]`` or after a choice with a ``finish_reason``; one
that ends before either is a dropped stream → ``ProviderError(kind="protocol")`` with the partial
text (it is not returned as an answer, so no half suggestion is offered as if it were whole).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .base import Answer, Callback, Limits, ModelConfig, ProviderError
from .errors import in_band_error, json_object, parse_json
from .http import Progress, Response, Target, ask
from .models import DEFAULT_BASES, LOCAL_PROVIDERS, base_url, require_key

#: Continue's camelCase ``completionOptions`` → request fields.
_OPTIONS = {
    "temperature": "temperature",
    "topP": "top_p",
    "stop": "stop",
    "presencePenalty": "presence_penalty",
    "frequencyPenalty": "frequency_penalty",
    "seed": "seed",
}


def build_body(model: ModelConfig, messages: list[dict[str, str]], stream: bool) -> dict[str, Any]:
    """The JSON request body (the system message first, completion options mapped)."""
    msgs = [{"role": m["role"], "content": m["content"]} for m in messages]
    if model.system_message and not any(m["role"] == "system" for m in msgs):
        msgs.insert(0, {"role": "system", "content": model.system_message})
    body: dict[str, Any] = {"model": model.model, "messages": msgs, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    opts = model.completion_options
    for src, dst in _OPTIONS.items():
        if opts.get(src) is not None:
            body[dst] = opts[src]
    if opts.get("maxTokens") is not None:
        # OpenAI's own newer models accept only max_completion_tokens; others know max_tokens.
        hosted_openai = model.provider == "openai" and model.api_base in (
            None,
            DEFAULT_BASES["openai"],
        )
        body["max_completion_tokens" if hosted_openai else "max_tokens"] = opts["maxTokens"]
    if opts.get("topK") is not None and model.provider in LOCAL_PROVIDERS:
        body["top_k"] = opts["topK"]
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
    """Ask an OpenAI-compatible server; see :func:`devscode_nb.assistant.providers.chat`."""
    base = base_url(model)
    key = require_key(model)
    path = "/chat/completions"
    if model.provider == "azure":  # Azure OpenAI: the deployment in the path, its own header
        path = (
            f"/openai/deployments/{quote(model.deployment or model.model, safe='')}"
            f"/chat/completions?api-version={quote(model.api_version or '', safe='')}"
        )
        headers = {"api-key": key} if key else {}
    else:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = build_body(model, messages, stream)
    try:
        return _request(model, base, path, headers, body, messages, on_text, timeout, limits)
    except ProviderError as exc:
        if (
            stream
            and exc.kind == "http"
            and exc.http_status in (400, 422)
            and "stream_options" in (exc.server_message or "")
        ):
            body.pop("stream_options", None)
            return _request(model, base, path, headers, body, messages, on_text, timeout, limits)
        raise


def _request(
    model: ModelConfig,
    base: str,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any],
    messages: list[dict[str, str]],
    on_text: Callback | None,
    timeout: float,
    limits: Limits | None,
) -> Answer:
    target = Target(model, base, path, timeout)
    return ask(target, headers, body, messages, on_text, limits, _read_stream, _read_json)


def _read_stream(
    target: Target, resp: Response, progress: Progress
) -> tuple[int | None, int | None]:
    """Text deltas of choice 0 and the usage chunk; anything of the wrong shape or type is a
    one-line ``protocol`` error (never an ``AttributeError`` carrying the request's locals)."""
    prompt: int | None = None
    generated: int | None = None
    complete = False
    for _event, data in resp.events(progress):
        if data.strip() == "[DONE]":
            complete = True
            break
        chunk = json_object(data)
        if chunk is None:
            raise _bad(target, progress, "a stream chunk that is not a JSON object")
        if chunk.get("error"):
            raise in_band_error(target, progress, chunk)
        usage = chunk.get("usage")
        groq = chunk.get("x_groq")
        if not isinstance(usage, dict) and isinstance(groq, dict):
            usage = groq.get("usage")
        if isinstance(usage, dict):
            prompt = _int(usage.get("prompt_tokens"), prompt)
            generated = _int(usage.get("completion_tokens"), generated)
        choices = chunk.get("choices") or []
        if not isinstance(choices, list):
            raise _bad(target, progress, "a stream chunk whose choices are not a list")
        for choice in choices:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if not isinstance(delta, dict):
                raise _bad(target, progress, "a stream chunk whose delta is not an object")
            content = delta.get("content")
            if content is not None and not isinstance(content, str):
                raise _bad(target, progress, "a stream chunk whose content is not text")
            if content:
                progress.add(content)
            if choice.get("finish_reason"):
                complete = True
    if not complete:
        raise target.error(
            "protocol",
            f"The stream from {target.shown} ended before the answer was complete "
            f"(after {progress.size} characters): try again",
            http_status=resp.status,
            progress=progress,
        )
    return prompt, generated


def _read_json(target: Target, resp: Response, progress: Progress) -> tuple[int | None, int | None]:
    data = parse_json(target, resp.read_body())
    if not isinstance(data, dict):
        raise _bad(target, progress, "JSON that is not an object")
    if data.get("error"):
        raise in_band_error(target, progress, data)
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise _bad(target, progress, "no choices")
    message = choices[0].get("message") or {}
    content = message.get("content") if isinstance(message, dict) else None
    if content is not None and not isinstance(content, str):
        raise _bad(target, progress, "a message whose content is not text")
    progress.add(content or "")
    raw_usage = data.get("usage")
    usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
    return _int(usage.get("prompt_tokens"), None), _int(usage.get("completion_tokens"), None)


def _int(value: Any, fallback: int | None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else fallback


def _bad(target: Target, progress: Progress, what: str) -> ProviderError:
    return target.error(
        "protocol",
        f"{target.shown} sent {what}: is apiBase pointing at an OpenAI-compatible API?",
        progress=progress,
    )
