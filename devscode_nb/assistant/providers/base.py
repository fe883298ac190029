"""Types shared by every wire protocol: the model entry, the answer, and the one error type.

Kept free of networking imports so that ``import devscode_nb.assistant.providers`` stays cheap.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

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
    "http",
    "timeout",
    "interrupted",
    "protocol",
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
    #: The config file the entry came from, only for error messages (never sent anywhere).
    config_path: str = field(default=DEFAULT_CONFIG_HINT, compare=False, repr=False)


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


def _one_line(text: str) -> str:
    return " ".join(text.split())


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


def scrub(text: str, secret: str | None) -> str:
    """Remove the API key, and anything shaped like a key, from text shown to the user.

    Some servers echo a fragment of a rejected key (``Incorrect API key provided: sk-ab***``).
    """
    if secret and len(secret) >= MIN_SCRUBBED_KEY:  # a placeholder like "x" is no secret
        text = text.replace(secret, "<key>")
    return _KEYLIKE.sub("<key>", text)


Callback = Callable[[str], None]
