"""Issue 11, live: unchecking "Devscode: Telemetry Enabled" in VS Code (another process writes
the settings file) stops a running kernel within 2 s; the same kernel sent before (control)."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from capture_server import CaptureServer
from harness import wait_until
from harness.kernel import KernelHarness
from test_banner_kernel import RECORD_LOOP, make_env, run

pytestmark = pytest.mark.kernel

SETTINGS = '{\n  // my editor\n  "editor.fontSize": 13,\n  "devscode.telemetryEnabled": true,\n}\n'

# As VS Code saves: a temp file renamed over the old one.
UNCHECK = """\
import os, sys
path = sys.argv[1]
text = open(path).read().replace('"devscode.telemetryEnabled": true', sys.argv[2])
with open(path + ".tmp", "w") as handle:
    handle.write(text)
os.replace(path + ".tmp", path)
"""


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("User", '"devscode.telemetryEnabled": false'),
        ("User", '"telemetry.telemetryLevel": "error"'),
        ("profiles", '"devscode.telemetryEnabled": false'),
    ],
    ids=["user-devscode", "user-level", "profile-devscode"],
)
def test_a_running_kernel_stops_within_two_seconds(tmp_path: Path, where: str, change: str):
    with CaptureServer() as capture:
        env = make_env(tmp_path / "env", capture, None, flush_interval=0.5)  # the default
        user = Path(env["XDG_CONFIG_HOME"]) / "Code" / "User"
        path = user / ("profiles/1a2b3c/settings.json" if where == "profiles" else "settings.json")
        path.parent.mkdir(parents=True)
        path.write_text(SETTINGS)
        with KernelHarness(env, cwd=tmp_path) as k:
            run(k, "%load_ext devscode_nb")
            run(k, RECORD_LOOP.replace("{busy}", "True"))  # an event every 10 ms

            def loop_events() -> list[dict[str, Any]]:
                return [
                    e
                    for e in capture.events
                    if e["properties"].get("$current_url") == "devscode-nb://status"
                ]

            wait_until(lambda: len(loop_events()) > 50, timeout=15)  # control: it sends
            changed = time.time()
            subprocess.run([sys.executable, "-c", UNCHECK, str(path), change], check=True)
            written = (path.read_bytes(), path.stat().st_mtime_ns)
            time.sleep(3)
            stopped_at = float(run(k, "print(_stopped_at)").stdout)
            before = len(capture.events)
            run(k, "%devscode help\n%devscode version")
            status = run(k, "%devscode telemetry status").stdout
            time.sleep(1)
            after = len(capture.events)
            events = loop_events()
        assert (path.read_bytes(), path.stat().st_mtime_ns) == written  # read, never written

    stopped_after = stopped_at - changed
    last_recorded = max(datetime.fromisoformat(e["timestamp"]).timestamp() for e in events)
    print(
        f"\n[kernel, {where}: {change}] stopped taking events {stopped_after:.3f} s after the "
        f"change; the last event it sent was recorded {last_recorded - changed:+.3f} s after it"
    )
    assert 0 <= stopped_after < 2.0
    assert last_recorded - changed < 2.0
    assert after == before  # nothing after the change, views included
    quoted, literal = change.split(": ")
    setting = quoted.strip('"')
    assert f"Devscode telemetry: OFF — VS Code setting {setting} = {literal}" in status
    assert f"in {path}" in status


def test_no_banner_and_nothing_sent_when_vscode_says_off_at_start(tmp_path: Path):
    with CaptureServer() as capture:
        env = make_env(tmp_path / "env", capture, None)
        workspace = tmp_path / "project" / ".vscode" / "settings.json"
        workspace.parent.mkdir(parents=True)
        workspace.write_text('{"devscode": {"telemetryEnabled": false}}')
        (tmp_path / "project" / "notebooks").mkdir()
        with KernelHarness(env, cwd=tmp_path / "project" / "notebooks") as k:
            r = run(k, "%load_ext devscode_nb")
            assert r.displays == [] and r.stdout == "" and k.widgets == {}
            run(k, "%devscode help")
            probe = run(k, "import sys; print('posthog' in sys.modules)").stdout
            status = run(k, "%devscode telemetry status").stdout
            time.sleep(1)
        assert capture.requests == []
    assert probe.strip() == "False"
    assert f"VS Code setting devscode.telemetryEnabled = false in {workspace}" in status
