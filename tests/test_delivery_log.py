"""Issue 9: the log tells the truth, status tells the state, files are private, posthog's request
layer is what we think it is. Real shells, the real posthog package, a loopback capture server.
"""

from __future__ import annotations

import inspect
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from capture_server import CaptureServer, refused_url
from conftest import clean_env, telemetry_of

TOKENS = {"model": "gpt-4o-mini", "provider": "openai", "promptTokens": 3, "generatedTokens": 5}
LOG = "devscode_nb-telemetry-log.jsonl"


def _wait(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _last_dispositions(global_dir: Path) -> dict[str, str]:
    last: dict[str, str] = {}
    for line in (global_dir / LOG).read_text().splitlines():
        entry = json.loads(line)
        last[entry["payload"]["uuid"]] = entry["disposition"]
    return last


def test_delivered_means_the_server_received_it(make_shell, capture, global_dir):
    shell = make_shell(DevscodeTelemetry={"api_key": "phc_x", "host": capture.url})
    telemetry = telemetry_of(shell)
    for _ in range(25):
        telemetry.record("tokens_generated", dict(TOKENS))
    assert _wait(lambda: telemetry.transport.sent == 26)
    telemetry.transport.log.write_pending()
    received = {e["uuid"] for e in capture.events}
    last = _last_dispositions(global_dir)
    assert {u for u, d in last.items() if d == "delivered"} == received
    assert len(received) == 26 == len(capture.events)


@pytest.mark.parametrize("status", [400, 413])
def test_a_rejected_batch_is_failed_not_retried_and_not_kept(make_shell, global_dir, status):
    with CaptureServer() as server:
        server.status = status
        shell = make_shell(DevscodeTelemetry={"api_key": "phc_x", "host": server.url})
        telemetry = telemetry_of(shell)
        telemetry.record("tokens_generated", dict(TOKENS))
        assert _wait(lambda: len(server.events) >= 2)
        time.sleep(0.5)  # a retry would come now
        telemetry.flush()
        shell.run_line_magic("unload_ext", "devscode_nb")
        received = [e["uuid"] for e in server.events]
    assert len(received) == len(set(received)) == 2  # one attempt each, no retry
    last = _last_dispositions(global_dir)
    for uuid in received:
        assert last[uuid].startswith(f"failed: HTTP {status}"), last[uuid]
        assert last[uuid].endswith("rejected the batch as malformed or too large (not retried)")
    assert not (global_dir / "devscode_nb-outbox").exists()  # not kept to fail forever
    assert "delivery failed: HTTP" in telemetry.status_text()


def test_a_retryable_error_is_retried_then_kept_in_the_outbox(make_shell, global_dir, capsys):
    with CaptureServer() as server:
        server.status = 503
        shell = make_shell(DevscodeTelemetry={"api_key": "phc_x", "host": server.url})
        telemetry = telemetry_of(shell)
        telemetry.record("tokens_generated", dict(TOKENS))
        assert _wait(lambda: telemetry.outbox.pending() == 2)  # after 3 attempts (1 s + 2 s)
        attempts = len(server.requests)
    assert attempts == 3
    assert set(_last_dispositions(global_dir).values()) == {"in outbox"}
    capsys.readouterr()
    shell.run_line_magic("devscode", "telemetry status")
    out = capsys.readouterr().out
    assert "Last error: delivery failed: HTTP 503" in out
    assert "Outbox: 2 event(s) waiting" in out
    assert "Last delivery: none in this session" in out


def test_status_shows_the_last_delivery(sending_shell, capture, capsys):
    telemetry = telemetry_of(sending_shell)
    assert _wait(lambda: telemetry.transport.sent == 1)
    capsys.readouterr()
    sending_shell.run_line_magic("devscode", "telemetry status")
    out = capsys.readouterr().out
    assert "1 event(s) accepted by the server" in out and "Last error: none" in out


def test_an_opt_out_logs_what_it_dropped(make_shell, global_dir):
    with CaptureServer() as server:
        server.hang = True  # the first batch stays on the wire
        shell = make_shell(DevscodeTelemetry={"api_key": "phc_x", "host": server.url})
        telemetry = telemetry_of(shell)
        assert _wait(lambda: telemetry.transport.requests == 1)
        for _ in range(10):
            telemetry.record("tokens_generated", dict(TOKENS))
        shell.run_line_magic("devscode", "telemetry off")
        entries = [json.loads(line) for line in (global_dir / LOG).read_text().splitlines()]
        assert [e["disposition"] for e in entries] == ["dropped: opted out"] * 10
        assert {e["payload"]["event"] for e in entries} == {"tokens_generated"}
        assert len(server.requests) == 1


GARBAGE = [
    b'{"disposition": "delivered", "payload": {"event": "$pagev',  # torn by a crash
    b'{"disposition": 5, "payload": []}',  # another version's shape
    b'["a", "list"]',
    b"\xff\xfe not utf-8 \x00",
    b"[" * 100_000,  # deep enough to break a recursive parser
    b'{"at": "yesterday", "disposition": "in outbox", "payload": {"event": "x", "uuid": 7}}',
]


def test_the_log_view_never_raises_whatever_the_file_holds(sending_shell, global_dir, capsys):
    telemetry = telemetry_of(sending_shell)
    assert _wait(lambda: telemetry.transport.sent == 1)
    telemetry.log.write_pending()
    with open(global_dir / LOG, "ab") as handle:
        handle.write(b"\n".join(GARBAGE) + b"\n")
    capsys.readouterr()
    sending_shell.run_line_magic("devscode", "telemetry log")
    out = capsys.readouterr()
    assert out.err == ""
    assert "# delivered" in out.out and '"event": "$pageview"' in out.out
    assert "# in outbox" in out.out  # an odd timestamp is shown without one
    assert "5 line(s) of the log file could not be read" in out.out


def test_every_file_we_create_is_private_whatever_the_umask(capture, isolated_home):
    """State, log, lock files and outbox: 0600 (the outbox folder 0700), even with umask 0."""
    code = f"""
import os, time
os.umask(0)
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config
c = Config(); c.DevscodeTelemetry.api_key = "phc_x"; c.DevscodeTelemetry.host = {refused_url()!r}
c.HistoryManager.hist_file = ":memory:"
shell = InteractiveShell.instance(config=c)
shell.run_line_magic("load_ext", "devscode_nb")
from devscode_nb.ipython.extension import session_for
t = session_for(shell).telemetry
t.record("tokens_generated", {TOKENS!r})
t.acknowledge()
time.sleep(0.3)
"""
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean_env(), "HOME": str(isolated_home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    folder = isolated_home / ".devscode"
    modes = {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in folder.rglob("*")}
    assert modes.pop("devscode_nb-outbox") == 0o700
    assert {"devscode_nb.json", LOG, "devscode_nb.json.lock"} <= set(modes)
    assert any(name.startswith("devscode_nb-outbox/") for name in modes)
    assert set(modes.values()) == {0o600}, modes


def test_twenty_kernels_starting_together_get_one_id_and_keep_a_got_it(tmp_path):
    folder = tmp_path / "fresh"
    start = time.time() + 1.5
    worker = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from devscode_nb.telemetry.state import LocalState\n"
        "time.sleep(max(0, float(sys.argv[2]) - time.time()))\n"
        "state = LocalState(Path(sys.argv[1]))\n"
        "if sys.argv[3] == 'ack':\n"
        "    state.set_notice(1, 'acknowledged')\n"
        "print(state.anonymous_id())\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", worker, str(folder), str(start), "ack" if i == 7 else "id"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(21)
    ]
    ids = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert len(ids) == 1, ids
    state = json.loads((folder / "devscode_nb.json").read_text())
    assert state["anonymousId"] in ids
    assert state["notice"]["choice"] == "acknowledged"


# --- the outbox on its own ---------------------------------------------------------------------


def _messages(n: int, age_s: float = 0.0) -> list[dict[str, object]]:
    from datetime import datetime, timezone

    stamp = datetime.fromtimestamp(time.time() - age_s, tz=timezone.utc).isoformat()
    return [
        {"event": "tokens_generated", "uuid": f"{i:08d}-{os.urandom(4).hex()}", "timestamp": stamp}
        for i in range(n)
    ]


def test_the_outbox_is_bounded_oldest_first(tmp_path):
    from devscode_nb.telemetry.outbox import Outbox

    outbox = Outbox(tmp_path, max_events=100)
    first, second, third = _messages(60), _messages(30), _messages(40)
    for batch in (first, second, third):
        outbox.add(batch)
    assert outbox.pending() == 100
    kept = [m["uuid"] for claim in outbox.claim() for m in claim.messages]
    assert kept == [m["uuid"] for m in (first + second + third)[-100:]]


def test_events_older_than_seven_days_are_not_delivered(tmp_path):
    from devscode_nb.telemetry.outbox import Outbox

    outbox = Outbox(tmp_path)
    outbox.add(_messages(3, age_s=8 * 86400) + _messages(2))
    assert [len(c.messages) for c in outbox.claim()] == [2]


CLAIMER = """
import json, sys, time
from pathlib import Path
from devscode_nb.telemetry.outbox import Outbox
time.sleep(max(0, float(sys.argv[2]) - time.time()))
claims = list(Outbox(Path(sys.argv[1])).claim())
print(json.dumps([m["uuid"] for c in claims for m in c.messages]), flush=True)
time.sleep(max(0, float(sys.argv[2]) + 3 - time.time()))  # alive until every claimer is done
import os; os._exit(0)  # killed while delivering: its claims stay behind
"""


def test_two_kernels_never_claim_the_same_entries_and_a_dead_claim_comes_back(tmp_path):
    from devscode_nb.telemetry.outbox import Outbox

    outbox = Outbox(tmp_path)
    written = []
    for _ in range(40):
        batch = _messages(5)
        outbox.add(batch)
        written += [m["uuid"] for m in batch]
    start = str(time.time() + 1.0)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(tmp_path), start],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    claimed = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    flat = [u for uuids in claimed for u in uuids]
    assert sorted(flat) == sorted(written)  # every entry claimed exactly once
    assert sum(1 for uuids in claimed if uuids) >= 1
    # Their processes are gone: the next session gets everything back.
    again = [m["uuid"] for c in Outbox(tmp_path).claim() for m in c.messages]
    assert sorted(again) == sorted(written)


def test_a_live_claim_is_left_alone(tmp_path):
    from devscode_nb.telemetry.outbox import Outbox

    Outbox(tmp_path).add(_messages(3))
    mine = list(Outbox(tmp_path).claim())
    assert [len(c.messages) for c in mine] == [3]
    assert list(Outbox(tmp_path).claim()) == []  # this process is alive: not abandoned
    Outbox(tmp_path).release(mine[0])
    assert [len(c.messages) for c in Outbox(tmp_path).claim()] == [3]


# --- the function we rely on in posthog ---------------------------------------------------------


def test_posthogs_request_layer_still_takes_our_session_and_speaks_batch(capture):
    """A posthog upgrade that changes ``batch_post`` or ``APIError`` fails here, not in a cell."""
    import posthog.request

    from devscode_nb.telemetry.sender import classify, post_batch

    assert "session" in inspect.signature(posthog.request.post).parameters
    message = {"event": "x", "uuid": "u-1", "distinct_id": "d", "properties": {}}
    assert post_batch("phc_secret_key", capture.url, [message], 5).kind == "ok"
    request = capture.requests[-1]
    assert request["path"] == "/batch/"
    assert request["headers"].get("Content-Encoding") == "gzip"
    assert request["json"]["api_key"] == "phc_secret_key"
    assert request["json"]["batch"] == [message]
    capture.status, capture.retry_after = 429, "7"
    result = post_batch("phc_secret_key", capture.url, [message], 5)
    assert (result.kind, result.retry_after) == ("retry", 7.0)
    capture.status, capture.retry_after = 400, None
    assert post_batch("phc_secret_key", capture.url, [message], 5).kind == "reject"
    capture.status = 500
    assert post_batch("phc_secret_key", capture.url, [message], 5).kind == "retry"
    assert len(capture.requests) == 4  # one request per call: no hidden retries
    refused = post_batch("phc_secret_key", refused_url(), [message], 5)
    assert refused.kind == "retry" and "phc_secret_key" not in refused.reason
    rejected = classify(posthog.request.APIError(413, "phc_secret_key too big"), "phc_secret_key")
    assert rejected.kind == "reject" and "phc_secret_key" not in rejected.reason
