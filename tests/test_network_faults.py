"""A dead or hostile network never reaches a cell: no exception, no output, a bounded exit."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from capture_server import CaptureServer, refused_url
from conftest import clean_env, telemetry_of

EVENT = {"model": "m", "provider": "openai", "promptTokens": 1, "generatedTokens": 1}


def _configure(server: CaptureServer, fault: str) -> None:
    if fault == "hang":
        server.hang = True
    elif fault == "slow":
        server.delay = 2.0
    elif fault == "garbage":
        server.garbage = True
    elif fault == "429":
        server.status, server.retry_after = 429, "1"
    elif fault.isdigit():
        server.status = int(fault)


@pytest.mark.parametrize("fault", ["refused", "hang", "slow", "500", "413", "429", "garbage"])
def test_cells_run_clean_whatever_the_capture_host_does(make_shell, capsys, fault):
    with CaptureServer() as server:
        _configure(server, fault)
        host = refused_url() if fault == "refused" else server.url
        shell = make_shell(DevscodeTelemetry={"api_key": "phc_x", "host": host})
        telemetry = telemetry_of(shell)
        capsys.readouterr()
        started = time.monotonic()
        for i in range(20):
            telemetry.record("tokens_generated", dict(EVENT))
            result = shell.run_cell(f"x = {i}")
            assert result.success
        elapsed = time.monotonic() - started
        time.sleep(0.3)  # let the transport meet the fault
        shell.run_cell("y = 2")
        out = capsys.readouterr()
        assert out.out == "" and out.err == ""
        assert elapsed < 1.0  # 20 cells never waited on the network
        shell.run_line_magic("unload_ext", "devscode_nb")
        shell.run_line_magic("load_ext", "devscode_nb")


EXIT_SCRIPT = """
import sys, time
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config
c = Config(); c.DevscodeTelemetry.api_key = "phc_x"; c.DevscodeTelemetry.host = sys.argv[1]
c.HistoryManager.hist_file = ":memory:"
shell = InteractiveShell.instance(config=c)
if sys.argv[2] == "load":
    shell.run_line_magic("load_ext", "devscode_nb")
    from devscode_nb.ipython.extension import session_for
    t = session_for(shell).telemetry
    for i in range(50):
        t.record("tokens_generated", {"model": "m", "provider": "openai"})
    shell.run_cell("x = 1")
    time.sleep(1.0)  # the transport is now blocked on the host
    for i in range(50):
        t.record("tokens_generated", {"model": "m", "provider": "openai"})
else:
    time.sleep(1.0)
print("EXITING", time.time(), flush=True)
"""


def _exit_delay(host: str, mode: str, env: dict[str, str]) -> tuple[float, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", EXIT_SCRIPT, host, mode],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    marker = ""
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("EXITING"):
            marker = line
            break
    proc.wait(timeout=60)
    ended = time.time()
    assert marker, proc.stderr.read() if proc.stderr else ""
    return ended - float(marker.split()[1]), proc.stderr.read() if proc.stderr else ""


@pytest.mark.parametrize("fault", ["refused", "hang"])
def test_exit_is_bounded_and_silent_with_the_host_unreachable(isolated_home, fault):
    env = {**clean_env(), "HOME": str(isolated_home)}
    with CaptureServer() as server:
        server.hang = True
        host = refused_url() if fault == "refused" else server.url
        baseline, _ = _exit_delay(host, "bare", env)
        loaded, stderr = _exit_delay(host, "load", env)
    assert stderr == ""
    # SPEC §6 allows 0.1 s extra; the benchmark measures it precisely. Here, a loose bound that
    # still fails if a retry back-off (1 s) or a request timeout (10 s) were waited for.
    assert loaded - baseline < 0.9, (loaded, baseline)
    # Nothing lost: the banner's pageview and all 100 events wait in the outbox.
    folder = isolated_home / ".devscode" / "devscode_nb-outbox"
    kept = [e for p in folder.iterdir() for e in json.loads(p.read_text())["events"]]
    assert len(kept) == 101 and len({e["uuid"] for e in kept}) == 101


@pytest.mark.parametrize("fault", ["hang", "500", "429", "garbage"])
def test_with_telemetry_off_no_fault_gets_a_single_request(make_shell, monkeypatch, fault):
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    with CaptureServer() as server:
        _configure(server, fault)
        shell = make_shell(DevscodeTelemetry={"api_key": "phc_x", "host": server.url})
        telemetry = telemetry_of(shell)
        for i in range(20):
            telemetry.record("tokens_generated", dict(EVENT))
            assert shell.run_cell(f"x = {i}").success
        telemetry.flush(0.5)
        assert server.requests == []
        assert not telemetry.transport.running
