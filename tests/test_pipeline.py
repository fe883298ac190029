"""SPEC §3–§4: what reaches a PostHog capture server, sent by the real posthog client."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

from conftest import clean_env, telemetry_of

TOKENS = {
    "model": "gpt-4o-mini",
    "provider": "openai",
    "promptTokens": 12,
    "generatedTokens": 34,
    "tokensSource": "provider",
}


def test_events_arrive_with_the_common_properties(sending_shell, capture, global_dir):
    telemetry = telemetry_of(sending_shell)
    telemetry.record("tokens_generated", dict(TOKENS))
    assert telemetry.flush()
    events = capture.wait_for(2)
    tokens = next(e for e in events if e["event"] == "tokens_generated")
    props = tokens["properties"]
    assert {k: props[k] for k in TOKENS} == TOKENS
    assert (
        props["os"] == "linux" and props["ideName"] == "ipython" and props["ideType"] == "jupyter"
    )
    assert props["pythonVersion"].count(".") == 1
    assert props["$process_person_profile"] is False
    assert props["$geoip_disable"] is True
    uuid.UUID(props["$session_id"])
    state = json.loads((global_dir / "devscode_nb.json").read_text())
    assert tokens["distinct_id"] == state["anonymousId"]
    assert not (global_dir / "config.json").exists()  # the id is never put in the user's file
    assert all(r["path"] in ("/batch/", "/i/v0/e/") for r in capture.requests)


def test_the_banner_pageview_is_sent_once_the_notice_was_shown(sending_shell, capture):
    telemetry_of(sending_shell).flush()
    urls = [e["properties"].get("$current_url") for e in capture.wait_for(1)]
    assert urls == ["devscode-nb://banner"]


def test_views_record_pageviews(sending_shell, capture):
    for view in ("help", "version", "telemetry status"):
        sending_shell.run_line_magic("devscode", view)
    telemetry_of(sending_shell).flush()
    urls = [e["properties"]["$current_url"] for e in capture.wait_for(4)]
    assert urls == [f"devscode-nb://{v}" for v in ("banner", "help", "version", "status")]


def test_undeclared_properties_and_events_never_leave(sending_shell, capture):
    telemetry = telemetry_of(sending_shell)
    telemetry.record("tokens_generated", {**TOKENS, "prompt": "secret", "promptTokens": "12"})
    telemetry.record("cell_source", {"code": "print(1)"})
    telemetry.record("suggestion_outcome", {"outcome": "stolen", "accepted": "yes", "numLines": -1})
    telemetry.flush()
    events = capture.wait_for(3)
    names = [e["event"] for e in events]
    assert "cell_source" not in names
    tokens = next(e for e in events if e["event"] == "tokens_generated")["properties"]
    assert "prompt" not in tokens and "promptTokens" not in tokens
    outcome = next(e for e in events if e["event"] == "suggestion_outcome")["properties"]
    assert not {"outcome", "accepted", "numLines"} & set(outcome)


def test_every_property_received_is_declared(sending_shell, capture):
    from devscode_nb.telemetry.events import declared_properties

    telemetry = telemetry_of(sending_shell)
    telemetry.record("tokens_generated", dict(TOKENS))
    telemetry.flush()
    for event in capture.wait_for(2):
        assert set(event["properties"]) <= set(declared_properties(event["event"]))
        assert set(event) <= {
            "event",
            "properties",
            "distinct_id",
            "timestamp",
            "uuid",
            "type",
            "api_key",
        }


def test_debug_mode_logs_locally_and_sends_nothing(make_shell, capture, monkeypatch, capsys):
    monkeypatch.setenv("DEVSCODE_TELEMETRY_DEBUG", "1")
    shell = make_shell(DevscodeTelemetry={"api_key": "phc_test", "host": capture.url})
    telemetry = telemetry_of(shell)
    telemetry.record("tokens_generated", dict(TOKENS))
    telemetry.flush()
    capsys.readouterr()
    shell.run_line_magic("devscode", "telemetry log")
    out = capsys.readouterr().out
    assert "not sent: debug mode (DEVSCODE_TELEMETRY_DEBUG)" in out
    assert '"generatedTokens": 34' in out
    assert capture.requests == []


def test_the_log_shows_payloads_as_sent(sending_shell, capture, capsys):
    telemetry = telemetry_of(sending_shell)
    telemetry.record("tokens_generated", dict(TOKENS))
    telemetry.flush()
    capsys.readouterr()
    sending_shell.run_line_magic("devscode", "telemetry log")
    out = capsys.readouterr().out
    assert "# delivered" in out and '"$lib": "posthog-python"' in out


def test_without_a_project_key_events_stay_local(make_shell, capture):
    shell = make_shell(DevscodeTelemetry={"host": capture.url})
    telemetry = telemetry_of(shell)
    telemetry.record("tokens_generated", dict(TOKENS))
    telemetry.flush()
    assert capture.requests == []
    assert telemetry.log.recent()[-1]["disposition"].startswith("not sent: no PostHog project key")


def test_an_opt_out_drops_what_is_queued_and_sends_nothing_about_itself(sending_shell, capture):
    telemetry = telemetry_of(sending_shell)
    telemetry.flush()
    before = len(capture.wait_for(1))
    telemetry.transport.interval = 60  # keep the queue from draining on its own
    for _ in range(100):
        telemetry.record("tokens_generated", dict(TOKENS))
    sending_shell.run_line_magic("devscode", "telemetry off")
    assert len(telemetry.recorder) == 0
    telemetry.record("tokens_generated", dict(TOKENS))
    assert len(telemetry.recorder) == 0
    sending_shell.run_cell("x = 1")
    telemetry.flush(timeout=1)
    assert len(capture.events) == before


def test_the_queue_is_bounded(sending_shell):
    telemetry = telemetry_of(sending_shell)
    telemetry.transport.interval = 60
    telemetry.flush()
    for _ in range(telemetry.recorder.maxlen + 500):
        telemetry.record("tokens_generated", dict(TOKENS))
    assert len(telemetry.recorder) == telemetry.recorder.maxlen
    assert telemetry.recorder.dropped == 500


def _run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


LOAD_AND_RECORD = """
import sys
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config
c = Config(); c.DevscodeTelemetry.api_key = "phc_x"; c.DevscodeTelemetry.host = HOST
shell = InteractiveShell.instance(config=c)
shell.run_line_magic("load_ext", "devscode_nb")
from devscode_nb.ipython.extension import session_for
t = session_for(shell).telemetry
t.record("tokens_generated", {"model": "m", "provider": "openai"})
shell.run_cell("x = 1")
t.flush(1)
import threading
names = [th.name for th in threading.enumerate()]
print("posthog" in sys.modules, len(t.recorder), "devscode-telemetry" in names)
"""


def test_with_telemetry_off_posthog_is_never_imported_and_nothing_is_sent(capture, isolated_home):
    env = {**clean_env(), "HOME": str(isolated_home), "DO_NOT_TRACK": "1"}
    done = _run_python(f"HOST = {capture.url!r}\n" + LOAD_AND_RECORD, env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].split() == ["False", "0", "False"]  # no thread either
    assert capture.requests == []


def test_with_telemetry_on_posthog_is_imported_lazily(capture, isolated_home):
    env = {**clean_env(), "HOME": str(isolated_home)}
    done = _run_python(f"HOST = {capture.url!r}\n" + LOAD_AND_RECORD, env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].split()[0] == "True"
    assert len(capture.wait_for(2)) == 2
    assert done.stderr == ""


def test_the_debug_trait_records_locally_and_sends_nothing(make_shell, capture):
    shell = make_shell(
        DevscodeTelemetry={"api_key": "phc_test", "host": capture.url, "debug": True}
    )
    telemetry = telemetry_of(shell)
    telemetry.record("tokens_generated", dict(TOKENS))
    telemetry.flush()
    assert telemetry.decision.reason == "debug mode (DevscodeTelemetry.debug)"
    assert telemetry.log.recent()[-1]["payload"]["event"] == "tokens_generated"
    assert capture.requests == []
