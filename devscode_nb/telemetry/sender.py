"""One HTTP request to PostHog's batch endpoint, through posthog's own request layer.

posthog's ``batch_post`` gives us its wire format, gzip and error parsing; we hand it a
``requests`` session of our own without automatic retries, so that every request that starts is
one our transport decided to start (after checking consent). Retries are the transport's.
posthog is imported here only, lazily, on the transport's thread.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

#: Loggers that our requests write to; their records from our thread never reach anyone.
NOISY_LOGGERS = ("posthog", "urllib3", "requests", "charset_normalizer")
THREAD_PREFIX = "devscode-telemetry"

_lock = threading.Lock()
_session: Any = None


@dataclass(frozen=True)
class Result:
    """What became of one request: ``ok``, ``retry`` (network, 5xx, 408, 429) or ``reject``."""

    kind: str
    reason: str = ""
    retry_after: float | None = None


class _OurThreadsOnly(logging.Filter):
    """Drops the records made on our transport's threads; everyone else's pass untouched."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.threadName or "").startswith(THREAD_PREFIX)


_FILTER = _OurThreadsOnly()


def silence() -> None:
    """Keep posthog's, urllib3's and requests' records from our threads out of every handler.

    A filter on each of their loggers (children included) instead of a level change, so a
    notebook's own ``posthog`` client still logs as its owner configured it.
    """
    manager = logging.Logger.manager
    names = [n for n in list(manager.loggerDict) if n.split(".")[0] in NOISY_LOGGERS]
    for name in {*NOISY_LOGGERS, *names}:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def _get_session() -> Any:
    """A pooled session with no automatic retries (posthog's retries twice, unasked)."""
    global _session
    with _lock:
        if _session is None:
            import requests
            from requests.adapters import HTTPAdapter

            session = requests.Session()
            adapter = HTTPAdapter(max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            _session = session
        return _session


def post_batch(api_key: str, host: str, batch: list[dict[str, Any]], timeout: float) -> Result:
    """POST ``batch`` once; never raises. The reason never contains the project key."""
    try:
        from posthog.request import batch_post

        silence()
        batch_post(api_key, host, gzip=True, timeout=timeout, batch=batch, session=_get_session())
    except Exception as err:  # every failure is a delivery outcome here
        return classify(err, api_key)
    return Result("ok")


def classify(err: BaseException, api_key: str = "") -> Result:
    """posthog's rule: 4xx other than 408 and 429 is final; 5xx, 408, 429, network: retry."""
    from posthog.request import APIError

    if isinstance(err, APIError):
        status = err.status if isinstance(err.status, int) else 0
        detail = _clean(str(err.message), api_key)
        reason = f"HTTP {status}" + (f" ({detail})" if detail else "")
        if 400 <= status < 500 and status not in (408, 429):
            if status in (400, 413):
                reason += ": the server rejected the batch as malformed or too large"
            return Result("reject", reason)
        return Result("retry", reason, err.retry_after)
    return Result("retry", _clean(f"{type(err).__name__}: {err}", api_key))


def _clean(text: str, api_key: str) -> str:
    """One short line, without the project key (a proxy may echo the body back)."""
    text = " ".join(text.split())
    if api_key:
        text = text.replace(api_key, "[key]")
    return text[:200]
