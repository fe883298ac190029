"""urllib3's log records from our own requests stay out of the notebook.

A notebook that calls ``logging.basicConfig(level=logging.DEBUG)`` would otherwise see
"Starting new HTTP connection …" and the request line of every answer in its cell. A filter on
urllib3's loggers drops the records made on a thread while it runs one of our requests, and
only those: the notebook's own urllib3 or requests traffic logs as its owner configured it, on
that thread too, before and after. (The telemetry core does the same for its own threads.)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _OurRequests(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread not in self.threads


_FILTER = _OurRequests()


@contextmanager
def quiet() -> Iterator[None]:
    """While this runs, urllib3 logs nothing for the calling thread (filters go on each of
    urllib3's loggers: a logger's filter sees only its own records, not its children's)."""
    import urllib3  # noqa: F401 (its modules make their loggers as they are imported)

    names = [n for n in list(logging.Logger.manager.loggerDict) if n.split(".")[0] == "urllib3"]
    for name in {"urllib3", *names}:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    ident = threading.get_ident()
    _FILTER.threads.add(ident)
    try:
        yield
    finally:
        _FILTER.threads.discard(ident)
