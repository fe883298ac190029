"""Assistant core: models from config.json, their wire protocols, and suggestions.

Knows nothing of IPython and nothing of telemetry's internals: it is handed a ``record``
callable. Imports the shared ground, the standard library and an HTTP library (lazily, on the
first request). The IPython layer uses the names below.
"""

from __future__ import annotations

from devscode_nb.assistant.core import OWN_MAGIC, Assistant, AssistantError, Reply
from devscode_nb.assistant.plain_text import TerminalFilter, plain
from devscode_nb.assistant.providers import Limits, ModelConfig, ProviderError
from devscode_nb.assistant.providers.models import LOCAL_PROVIDERS, display_url
from devscode_nb.assistant.suggestions import Suggestion

__all__ = [
    "LOCAL_PROVIDERS",
    "OWN_MAGIC",
    "Assistant",
    "AssistantError",
    "Limits",
    "ModelConfig",
    "ProviderError",
    "Reply",
    "Suggestion",
    "TerminalFilter",
    "display_url",
    "plain",
]
