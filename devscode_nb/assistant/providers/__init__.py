"""Talking to models: the pure core of the assistant (knows nothing of IPython).

``resolve_models`` reads ``config.json``'s ``models``; ``find_model`` picks one; ``chat`` asks it.
The wire protocols (and ``http.client``) are imported on the first ``chat`` only, so importing
this package costs next to nothing.

Errors are always :class:`ProviderError` whose ``str`` is one actionable line. A kernel interrupt
during a request closes the connection and raises ``ProviderError(kind="interrupted")`` with the
text received so far in ``partial_text``; a stream that ends early raises
``ProviderError(kind="protocol")``, also with ``partial_text``.
"""

from __future__ import annotations

from .base import (
    CHARS_PER_TOKEN,
    Answer,
    Callback,
    Limits,
    ModelConfig,
    ProviderError,
    Usage,
    estimate_tokens,
)
from .models import DEFAULT_BASES, KEY_ENV_VARS, LOCAL_PROVIDERS, find_model, resolve_models

__all__ = [
    "CHARS_PER_TOKEN",
    "DEFAULT_BASES",
    "KEY_ENV_VARS",
    "LOCAL_PROVIDERS",
    "Answer",
    "Limits",
    "ModelConfig",
    "ProviderError",
    "Usage",
    "chat",
    "estimate_tokens",
    "find_model",
    "resolve_models",
]


def chat(
    model: ModelConfig,
    messages: list[dict[str, str]],
    *,
    on_text: Callback | None = None,
    stream: bool = True,
    timeout: float = 60.0,
    limits: Limits | None = None,
) -> Answer:
    """Send ``messages`` (``{"role", "content"}`` dicts) to ``model`` and return its answer.

    ``on_text`` gets each piece of text as it arrives (once, with the whole text, when not
    streaming). ``timeout`` bounds connecting and each wait for data, in seconds; ``limits``
    bound the whole answer's time and size (``ProviderError(kind="limit")`` with what arrived).

    Only ``ProviderError`` leaves: any other failure (a bug, a library's surprise) becomes a
    one-line ``protocol`` error that carries neither the original message nor its traceback,
    whose frames hold the request headers and so the key.
    """
    try:
        if model.provider == "anthropic":
            from . import anthropic

            return anthropic.chat(
                model, messages, on_text=on_text, stream=stream, timeout=timeout, limits=limits
            )
        from . import openai_compat

        return openai_compat.chat(
            model, messages, on_text=on_text, stream=stream, timeout=timeout, limits=limits
        )
    except ProviderError as err:
        raise _detached(err) from None
    except Exception as exc:  # the one place that turns anything else into one line
        name = type(exc).__name__
    raise _detached(
        ProviderError(
            "protocol",
            f'The request to model "{model.title}" failed unexpectedly ({name}): try again; if '
            "it keeps failing, report it to devscode_nb",
        )
    ) from None


def _detached(err: ProviderError) -> ProviderError:
    """``err`` without the chain and frames it collected on the way (headers live there)."""
    err.__cause__ = err.__context__ = None
    return err.with_traceback(None)
