"""Types shared by every wire protocol: the model entry, the answer, and the one error type.

Kept free of networking imports so that ``import devscode_nb.assistant.providers`` stays cheap.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .options import RequestOptions

#: Where users are told to fix their model entries; the IPython layer may pass the real path
#: (``resolve_models(..., config_path=...)``) so messages point at the file actually read.
DEFAULT_CONFIG_HINT = "~/.devscode/config.json"

#: Rule of thumb used when a server reports no usage: about 4 characters per token (OpenAI's
#: published average for English text and code). Estimates are marked ``source="estimate"``.
CHARS_PER_TOKEN = 4

ErrorKind = Literal[
    "no_model",
    "unknown_model",
    "missing_key",
    "unreachable",
    "proxy",
    "tls",
    "config",
    "http",
    "timeout",
    "interrupted",
    "protocol",
    "limit",
    "bad_key",
]


@dataclass(frozen=True)
class ModelConfig:
    """One entry of ``config.json``'s ``models`` array, with the key already resolved."""

    title: str
    provider: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    api_base: str | None = None
    completion_options: Mapping[str, Any] = field(default_factory=dict)
    system_message: str | None = None
    request_options: RequestOptions = field(default_factory=RequestOptions)
    #: Tokens the model can take in (prompt + answer); earlier cells are trimmed to fit.
    context_length: int | None = None
    #: Azure OpenAI: the deployment (``deployment``, else ``engine``, else ``model``) and
    #: ``apiVersion``; ``None`` for every other provider.
    deployment: str | None = None
    api_version: str | None = None
    #: The config file the entry came from, only for error messages (never sent anywhere).
    config_path: str = field(default=DEFAULT_CONFIG_HINT, compare=False, repr=False)

    @property
    def public_model(self) -> str:
        """The model name telemetry may see: an Azure deployment is the customer's own name."""
        if self.provider == "azure" and self.model == self.deployment:
            return "custom"
        return self.model


@dataclass(frozen=True)
class Usage:
    """Token counts; ``source`` says whether the server reported them or we estimated."""

    prompt_tokens: int
    generated_tokens: int
    source: Literal["provider", "estimate"]


@dataclass(frozen=True)
class Answer:
    """A complete answer from a model, with what telemetry needs to describe it."""

    text: str
    usage: Usage
    latency_s: float
    http_status: int
    model: str
    provider: str
    stream: bool
    #: Seconds from sending the request to the first text delta (``None``: no text came).
    first_text_s: float | None = None


class ProviderError(Exception):
    """A failed request. ``str(e)`` is one line saying what happened and what to do.

    ``partial_text`` holds whatever text had already streamed (interrupts, dropped streams,
    mid-stream timeouts) so the caller can still show it; ``latency_s`` is the time spent.
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        http_status: int | None = None,
        server_message: str | None = None,
        partial_text: str = "",
        latency_s: float | None = None,
    ) -> None:
        super().__init__(_one_line(message))
        self.kind: ErrorKind = kind
        self.http_status = http_status
        self.server_message = server_message
        self.partial_text = partial_text
        self.latency_s = latency_s


#: Longest error line we show: a server's message is cut well before this (``cut``).
MAX_ERROR_LINE = 600

#: C0/C1 control characters, DEL, and the bidirectional overrides that reorder shown text.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _one_line(text: str) -> str:
    """Whitespace folded to single spaces, control characters gone, at most one screen line."""
    return cut(text, MAX_ERROR_LINE)


def cut(text: str, limit: int = 300) -> str:
    """``text`` on one line, shortened to ``limit`` characters with an ellipsis."""
    text = " ".join(_CONTROLS.sub(" ", text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def estimate_tokens(text: str) -> int:
    """Estimated token count of ``text`` (see :data:`CHARS_PER_TOKEN`); 0 only for ''."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def estimate_prompt_tokens(messages: list[dict[str, str]]) -> int:
    """Estimated prompt tokens: the text plus ~4 tokens of framing per message."""
    return sum(estimate_tokens(str(m.get("content", ""))) + 4 for m in messages)


def make_usage(
    prompt: int | None, generated: int | None, messages: list[dict[str, str]], text: str
) -> Usage:
    """Usage from the server's counts, estimating whichever is missing."""
    if prompt is not None and generated is not None:
        return Usage(prompt, generated, "provider")
    return Usage(
        prompt if prompt is not None else estimate_prompt_tokens(messages),
        generated if generated is not None else estimate_tokens(text),
        "estimate",
    )


_KEYLIKE = re.compile(
    r"\b(?:sk|pk|rk|gsk|xai|key|api[-_]?key)[-_][A-Za-z0-9*_\-]{2,}", re.IGNORECASE
)


MIN_SCRUBBED_KEY = 6
#: A run of this many characters of the key, found anywhere in a message, is redacted.
KEY_FRAGMENT = 8


def scrub(text: str, secret: str | None) -> str:
    """Remove the API key, any long fragment of it, and anything shaped like a key.

    Some servers echo a rejected key whole or in part (``Incorrect API key provided:
    sk-ab***wxyz``, ``invalid key 'abcd1234efgh…'``); a placeholder like "x" is no secret.
    """
    if secret and len(secret) >= MIN_SCRUBBED_KEY:
        text = text.replace(secret, "<key>")
        text = _redact_fragments(text, secret)
    return _KEYLIKE.sub("<key>", text)


def _redact_fragments(text: str, secret: str) -> str:
    """Every run of ``KEY_FRAGMENT`` or more characters that also occurs in ``secret``."""
    n = min(KEY_FRAGMENT, len(secret))
    grams = {secret[i : i + n] for i in range(len(secret) - n + 1)}
    hit = [False] * len(text)
    for i in range(len(text) - n + 1):
        if text[i : i + n] in grams:
            hit[i : i + n] = [True] * n
    if not any(hit):
        return text
    out: list[str] = []
    for i, ch in enumerate(text):
        if not hit[i]:
            out.append(ch)
        elif i == 0 or not hit[i - 1]:
            out.append("<key>")
    return "".join(out)


_UNSENDABLE = re.compile(r"[^\x21-\x7e]")


def check_key(key: str | None, title: str, source: str, config_path: str) -> None:
    """Reject a key that cannot go into an HTTP header (a line break, a control character,
    a space or a non-ASCII character): naming the model and where the key came from, never
    the key. Caught when the config is read, so no request library ever sees (and prints) it.
    """
    if key and _UNSENDABLE.search(key):
        where = f'"apiKey" of model "{title}" in {config_path}' if source == "apiKey" else (
            f'{source} (the key for model "{title}")'
        )
        raise ProviderError(
            "bad_key",
            f"{where} contains a line break, space, control or non-ASCII character: "
            "paste the key again as one line",
        )


@dataclass(frozen=True)
class Limits:
    """Overall bounds on one answer (``None``: unbounded); the settings name how to raise them.

    The request timeout bounds each wait for data; these bound the whole answer, so an endless
    stream or a slow drip ends too.
    """

    time_s: float | None = None
    size_chars: int | None = None
    time_setting: str = "the time limit"
    size_setting: str = "the size limit"

    def exceeded(self, size: int, elapsed: float) -> str | None:
        """What to tell the person when a limit is passed by now, else ``None``."""
        if self.size_chars is not None and size > self.size_chars:
            return (
                f"Stopped the answer at the size limit ({self.size_chars:,} characters); what "
                f"arrived is kept. To allow more, raise {self.size_setting}"
            )
        if self.time_s is not None and elapsed >= self.time_s:
            return (
                f"Stopped the answer at the time limit ({self.time_s:g} s); what arrived is "
                f"kept. To allow more, raise {self.time_setting}"
            )
        return None


Callback = Callable[[str], None]
