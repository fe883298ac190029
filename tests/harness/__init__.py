"""Reusable test harnesses: a real Jupyter kernel (``kernel``) and JupyterLab in headless
Chromium (``browser``). Neither module imports devscode_nb."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"


def wait_until(predicate, timeout: float = 10, interval: float = 0.05, message: str = ""):
    """Poll ``predicate()`` until it returns something truthy; return that value or raise
    AssertionError after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message or f"condition not met within {timeout}s")
        time.sleep(interval)
