"""The telemetry schema (SPEC §3): which events exist and which typed properties may leave.

This is an allow-list. A property that is not declared here, or whose value does not fit its
declared type, is dropped before anything leaves the process. Free text never fits: every string
property is an enum, a pattern, or a public model name (``public_names``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from devscode_nb.telemetry.public_names import CUSTOM, public_model_name

SCHEMA_VERSION = 1

Check = Callable[[Any], Any]  # returns the value to send, or None to drop it

_DROP = None


def enum(*allowed: str) -> Check:
    values = frozenset(allowed)
    return lambda v: v if isinstance(v, str) and v in values else _DROP


def pattern(regex: str) -> Check:
    compiled = re.compile(regex)
    return lambda v: v if isinstance(v, str) and compiled.fullmatch(v) else _DROP


def boolean(v: Any) -> Any:
    return v if isinstance(v, bool) else _DROP


def count(v: Any) -> Any:
    ok = isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 10**9
    return v if ok else _DROP


def seconds(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < 10**6:
        return _DROP
    return round(float(v), 3)


def true_only(v: Any) -> Any:
    return True if v is True else _DROP


def false_only(v: Any) -> Any:
    return False if v is False else _DROP


# --- Model and command names --------------------------------------------------------------------

#: The assistant's built-in commands (``assistant.core.BUILTIN_COMMANDS``; a test keeps them equal).
#: A ``customCommands`` entry is recorded as ``custom``: its name is text the person wrote.
BUILTIN_COMMANDS = ("ask", "edit", "comment", "test", "explain", "fix")
_COMMAND = enum(*BUILTIN_COMMANDS, CUSTOM)
_MODEL = public_model_name


# --- The schema ---------------------------------------------------------------------------------

_ID = pattern(r"[0-9a-f]{8,32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Provider names are an enum: a custom provider string could carry anything.
PROVIDERS = (
    "anthropic",
    "azure",
    "cerebras",
    "deepinfra",
    "deepseek",
    "fireworks",
    "gemini",
    "groq",
    "llamacpp",
    "lmstudio",
    "mistral",
    "ollama",
    "openai",
    "openrouter",
    "together",
    "vllm",
    "xai",
    "other",
)
_PROVIDER = enum(*PROVIDERS)
_VERSION = pattern(r"[0-9]{1,4}(\.[0-9]{1,6}){0,3}((a|b|rc|\.post|\.dev)[0-9]{1,6}){0,2}")

VIEWS = ("banner", "suggestion", "status", "help", "log", "models", "version")

COMMON: Mapping[str, Check] = {
    "os": enum("linux", "darwin", "win32"),
    "ideName": enum("jupyterlab", "notebook", "vscode", "colab", "pycharm", "ipython", "unknown"),
    "ideType": enum("jupyter"),
    "extensionVersion": _VERSION,
    "pythonVersion": pattern(r"[0-9]+\.[0-9]+"),
    "ipythonVersion": _VERSION,
    "$session_id": _ID,
    "$process_person_profile": false_only,
    "$geoip_disable": true_only,
}

# Added by the posthog client itself; only these of its properties may leave.
TRANSPORT: Mapping[str, Check] = {
    "$lib": pattern(r"posthog-python"),
    "$lib_version": _VERSION,
    "$geoip_disable": true_only,
}

EVENTS: Mapping[str, Mapping[str, Check]] = {
    "$pageview": {
        "$current_url": pattern(r"devscode-nb://(" + "|".join(VIEWS) + ")"),
    },
    "suggestion_outcome": {
        "completionId": _ID,
        "accepted": boolean,
        "outcome": enum("accepted", "edited", "rejected", "ignored"),
        "via": enum("button", "magic", "execution", "timeout"),
        "modelName": _MODEL,
        "modelProvider": _PROVIDER,
        "command": _COMMAND,
        "numLines": count,
        "timeMs": count,
    },
    "tokens_generated": {
        "model": _MODEL,
        "provider": _PROVIDER,
        "promptTokens": count,
        "generatedTokens": count,
        "tokensSource": enum("provider", "estimate"),
    },
    "$ai_generation": {
        "$ai_model": _MODEL,
        "$ai_provider": _PROVIDER,
        "$ai_input_tokens": count,
        "$ai_output_tokens": count,
        "$ai_latency": seconds,
        "$ai_trace_id": _ID,
        "$ai_http_status": count,
        "$ai_is_error": boolean,
        "$ai_stream": boolean,
    },
    "useSlashCommand": {
        "name": _COMMAND,
        "model": _MODEL,
        "provider": _PROVIDER,
    },
}

# Top-level keys of a posthog message that may leave (the properties are checked separately).
MESSAGE_KEYS = frozenset({"event", "properties", "distinct_id", "timestamp", "uuid", "type"})


def _checked(props: Mapping[str, Any], schema: Mapping[str, Check]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, check in schema.items():
        if key in props:
            value = check(props[key])
            if value is not None:
                out[key] = value
    return out


def build_properties(
    event: str, props: Mapping[str, Any], common: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The properties that may be sent for ``event``, or ``None`` for an unknown event."""
    schema = EVENTS.get(event)
    if schema is None:
        return None
    return {**_checked(common, COMMON), **_checked(props, schema)}


def filter_message(msg: Mapping[str, Any]) -> dict[str, Any] | None:
    """The last gate before the network: the posthog message, reduced to the allow-list."""
    schema = EVENTS.get(msg.get("event", ""))
    if schema is None:
        return None
    props = msg.get("properties") or {}
    allowed = {**COMMON, **TRANSPORT, **schema}
    out = {k: v for k, v in msg.items() if k in MESSAGE_KEYS and k != "properties"}
    out["properties"] = _checked(props, allowed)
    return out


def declared_properties(event: str) -> Iterable[str]:
    return (*COMMON, *TRANSPORT, *EVENTS.get(event, {}))


@dataclass(frozen=True)
class Event:
    """An event as recorded on the notebook thread, before any checking."""

    name: str
    properties: Mapping[str, Any]
    timestamp: float
