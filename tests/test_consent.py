"""SPEC §2: telemetry is on only when no source says off; any explicit "off" wins."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import telemetry_of, write_config

from devscode_nb.config_file import ConfigRead
from devscode_nb.telemetry.consent import Decision, Inputs, Notice, decide


def decision(
    env: dict[str, str] | None = None,
    enabled: bool | None = None,
    config: dict | None = None,
    config_error: str | None = None,
    **kwargs,
) -> Decision:
    reading = ConfigRead(
        Path("/x/config.json"),
        config is not None or config_error is not None,
        data=config or {},
        error=config_error,
    )
    defaults = dict(
        notice=Notice(1, shown_this_session=True),
        api_key="phc_x",
        host="http://h",
    )
    defaults.update(kwargs)
    return decide(
        Inputs(env=env or {}, enabled=enabled, enabled_origin="test", config=reading, **defaults)
    )


def test_with_no_source_saying_off_events_are_sent():
    result = decision()
    assert result.enabled and result.sending
    assert result.reason == "no source says off"


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "On"])
def test_do_not_track_truthy_turns_it_off(value):
    result = decision(env={"DO_NOT_TRACK": value})
    assert not result.enabled and "DO_NOT_TRACK" in result.reason


@pytest.mark.parametrize("value", ["0", "false", "", "nope"])
def test_do_not_track_falsy_or_odd_values_do_not(value):
    assert decision(env={"DO_NOT_TRACK": value}).enabled


@pytest.mark.parametrize("value", ["0", "false", "OFF", "no"])
def test_devscode_telemetry_off_values(value):
    result = decision(env={"DEVSCODE_TELEMETRY": value})
    assert not result.enabled and "DEVSCODE_TELEMETRY" in result.reason


def test_a_truthy_devscode_telemetry_does_not_beat_an_opt_out_elsewhere():
    assert not decision(
        env={"DEVSCODE_TELEMETRY": "1"}, config={"allowAnonymousTelemetry": False}
    ).enabled
    assert not decision(env={"DEVSCODE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}).enabled
    assert not decision(env={"DEVSCODE_TELEMETRY": "1"}, enabled=False).enabled


def test_the_trait_false_is_off_none_defers_true_never_overrides():
    assert not decision(enabled=False).enabled
    assert decision(enabled=None).enabled
    assert not decision(enabled=True, config={"allowAnonymousTelemetry": False}).enabled
    assert not decision(enabled=True, env={"DO_NOT_TRACK": "1"}).enabled


def test_config_json_false_is_off_and_missing_key_or_file_is_on():
    assert not decision(config={"allowAnonymousTelemetry": False}).enabled
    assert decision(config={"models": []}).enabled
    assert decision(config=None).enabled


def test_an_unusable_config_json_counts_as_off_and_says_why():
    result = decision(config_error="/x/config.json is not valid JSON (line 1)")
    assert not result.enabled
    assert "/x/config.json" in result.reason


def test_the_first_off_source_is_the_reason_and_every_source_is_listed():
    result = decision(
        env={"DO_NOT_TRACK": "1"}, enabled=False, config={"allowAnonymousTelemetry": False}
    )
    assert "DO_NOT_TRACK" in result.reason
    off = [r.source for r in result.readings if r.says_off]
    assert off == ["DO_NOT_TRACK", "DevscodeTelemetry.enabled", "allowAnonymousTelemetry"]
    assert {r.source for r in result.readings} >= {
        "DO_NOT_TRACK",
        "DEVSCODE_TELEMETRY",
        "DevscodeTelemetry.enabled",
        "allowAnonymousTelemetry",
        "notice",
    }


def test_nothing_is_sent_before_the_notice_could_have_been_seen():
    result = decision(notice=Notice(1))
    assert result.enabled and not result.sending
    assert "notice" in result.reason
    assert decision(notice=Notice(1, acknowledged_version=1, choice="acknowledged")).sending


def test_an_acknowledgement_of_an_older_schema_does_not_count():
    assert not decision(notice=Notice(2, acknowledged_version=1, choice="acknowledged")).sending


def test_opt_in_mode_sends_nothing_until_allowed():
    seen = Notice(1, shown_this_session=True)
    assert not decision(consent_mode="opt-in", notice=seen).sending
    allowed = Notice(1, acknowledged_version=1, choice="allowed")
    assert decision(consent_mode="opt-in", notice=allowed).sending


@pytest.mark.parametrize(
    "circumstance, words",
    [
        ({"headless": True}, "headless"),
        ({"debug": True}, "debug"),
        ({"api_key": ""}, "project key"),
    ],
)
def test_circumstances_keep_events_local(circumstance, words):
    result = decision(**circumstance)
    assert result.enabled and not result.sending
    assert words in result.reason and "local" in result.destination


# --- the same rules, through a real shell ---------------------------------------------------


def test_do_not_track_in_the_environment(make_shell, monkeypatch):
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    shell = make_shell(DevscodeTelemetry={"api_key": "phc_x"})
    assert not telemetry_of(shell).decision.enabled


def test_ipython_config_turns_it_off(make_shell):
    shell = make_shell(DevscodeTelemetry={"enabled": False, "api_key": "phc_x"})
    result = telemetry_of(shell).decision
    assert not result.enabled
    origin = next(r.origin for r in result.readings if r.source == "DevscodeTelemetry.enabled")
    assert "ipython_config.py" in origin


def test_percent_config_takes_effect_live(sending_shell, capture):
    telemetry = telemetry_of(sending_shell)
    assert telemetry.decision.sending
    sending_shell.run_line_magic("config", "DevscodeTelemetry.enabled = False")
    assert not telemetry.decision.enabled
    assert not telemetry.recorder.accepting
    sending_shell.run_line_magic("config", "DevscodeTelemetry.enabled = None")
    assert telemetry.decision.sending


def test_config_json_is_read_from_the_global_dir(make_shell, global_dir):
    write_config(global_dir, '{ "allowAnonymousTelemetry": false, // no thanks\n}')
    shell = make_shell(DevscodeTelemetry={"api_key": "phc_x"})
    assert "config.json" in telemetry_of(shell).decision.reason


def test_devscode_global_dir_moves_the_config(make_shell, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    write_config(elsewhere, '{"allowAnonymousTelemetry": false}')
    monkeypatch.setenv("DEVSCODE_GLOBAL_DIR", str(elsewhere))
    shell = make_shell()
    assert telemetry_of(shell).config_path == elsewhere / "config.json"
    assert not telemetry_of(shell).decision.enabled


def test_an_external_opt_out_stops_this_kernel_within_two_seconds(sending_shell, global_dir):
    telemetry = telemetry_of(sending_shell)
    assert telemetry.recorder.accepting
    started = time.monotonic()
    write_config(global_dir, '{"allowAnonymousTelemetry": false}')
    while telemetry.recorder.accepting and time.monotonic() - started < 5:
        time.sleep(0.02)  # the kernel is idle: no cell runs, the transport notices
    assert not telemetry.recorder.accepting
    assert time.monotonic() - started < 2.0


def test_a_corrupt_config_is_reported_once_and_counts_as_off(make_shell, global_dir, capsys):
    path = write_config(global_dir, "{ this is not json")
    shell = make_shell(DevscodeTelemetry={"api_key": "phc_x"})
    for _ in range(3):
        shell.run_cell("x = 1")
    err = capsys.readouterr().err
    assert err.count(str(path)) == 1
    assert not telemetry_of(shell).decision.enabled
    assert path.read_text() == "{ this is not json"


def test_on_after_a_corrupt_config_says_it_could_not_save(make_shell, global_dir, capsys):
    path = write_config(global_dir, "{ broken")
    shell = make_shell()
    capsys.readouterr()
    shell.run_line_magic("devscode", "telemetry on")
    assert "could not be parsed" in capsys.readouterr().out
    assert path.read_text() == "{ broken"
