"""Issue 9 in real kernels: a kernel shut down right after loading keeps its banner pageview."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from capture_server import CaptureServer
from harness import wait_until
from harness.kernel import KernelHarness, isolated_env


def _env(base: Path, capture: CaptureServer) -> dict[str, str]:
    env = isolated_env(base, {"JPY_SESSION_NAME": "delivery.ipynb"})
    profile = Path(env["IPYTHONDIR"]) / "profile_default"
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "ipython_config.py").write_text(
        "c.DevscodeTelemetry.api_key = 'phc_delivery_test'\n"
        f"c.DevscodeTelemetry.host = {capture.url!r}\n"
    )
    return env


@pytest.mark.parametrize("after_s", [0.0, 1.0])
def test_a_kernel_shut_down_right_after_loading_loses_nothing(tmp_path, after_s):
    with CaptureServer() as capture:
        env = _env(tmp_path, capture)
        sessions = []
        for _ in range(2):  # the second kernel delivers what the first left in the outbox
            with KernelHarness(env) as k:
                k.execute("%load_ext devscode_nb", allow_stdin=True).raise_for_error()
                sid = k.execute(
                    "from devscode_nb.ipython.extension import session_for\n"
                    "print(session_for(get_ipython()).telemetry.session_id)",
                    allow_stdin=True,
                ).text.strip()
                sessions.append(sid)
                time.sleep(after_s)
                if len(sessions) == 2:
                    wait_until(lambda: len(_pageviews(capture)) >= 2, timeout=20)
            assert "Traceback" not in k.log()
        time.sleep(0.5)  # a duplicate would come now
        assert sorted(_pageviews(capture)) == sorted(sessions)  # each kernel's banner, once


def _pageviews(capture: CaptureServer) -> list[str]:
    return [
        e["properties"]["$session_id"]
        for e in capture.events
        if e["properties"].get("$current_url") == "devscode-nb://banner"
    ]
