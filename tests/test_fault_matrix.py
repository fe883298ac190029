"""Bad input from the disk never breaks a cell: one clear message, a safe default, files intact."""

from __future__ import annotations

import os
import resource
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import telemetry_of

SENDING = {"api_key": "phc_x"}


def _run_cells(shell, count: int = 3) -> None:
    for i in range(count):
        assert shell.run_cell(f"x = {i}").success


@pytest.mark.parametrize(
    "make_bad, words",
    [
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b"\xff\xfe" + os.urandom(4096)), "not UTF-8"),
        (lambda p: p.write_bytes(b"[" * 100_000), "not valid JSON"),
        (lambda p: p.write_bytes(b" " * (50 * 1024 * 1024)), "too large"),
    ],
    ids=["directory", "binary-garbage", "deep-nesting", "50MB"],
)
def test_an_unusable_config_json_is_reported_once_and_counts_as_off(
    make_shell, capture, global_dir, capsys, make_bad, words
):
    global_dir.mkdir()
    path = global_dir / "config.json"
    make_bad(path)
    before = _snapshot(path)
    shell = make_shell(DevscodeTelemetry={**SENDING, "host": capture.url})
    _run_cells(shell)
    shell.run_line_magic("devscode", "telemetry off")  # must not rewrite an unparseable file
    err = capsys.readouterr().err
    assert err.count(str(path)) == 1 and words in err
    telemetry = telemetry_of(shell)
    assert not telemetry.decision.enabled
    assert _snapshot(path) == before
    telemetry.flush(1)
    assert capture.requests == []


def test_a_dangling_symlink_is_a_missing_file_and_the_opt_out_follows_the_link(
    make_shell, global_dir, capsys
):
    global_dir.mkdir()
    link = global_dir / "config.json"
    link.symlink_to(global_dir / "dotfiles-config.json")
    shell = make_shell()
    assert telemetry_of(shell).decision.enabled
    shell.run_line_magic("devscode", "telemetry off")
    assert link.is_symlink()
    assert (global_dir / "dotfiles-config.json").read_text() == (
        '{\n  "allowAnonymousTelemetry": false\n}\n'
    )
    assert capsys.readouterr().err == ""


def _snapshot(path: Path) -> object:
    if path.is_symlink():
        return ("link", os.readlink(path))
    if path.is_dir():
        return ("dir",)
    return ("file", path.read_bytes())


def test_an_unwritable_global_dir_keeps_the_opt_out_in_memory(make_shell, isolated_home, capsys):
    (isolated_home / ".devscode").write_text("a file where the folder should be")
    shell = make_shell()
    _run_cells(shell)
    capsys.readouterr()
    shell.run_line_magic("devscode", "telemetry off")
    out = capsys.readouterr().out
    assert "Telemetry is off in this kernel only: the opt-out could not be saved" in out
    assert str(isolated_home / ".devscode") in out
    assert not telemetry_of(shell).decision.enabled
    _run_cells(shell)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A tiny tmpfs, filled up: every write fails with ENOSPC."""
    mount = tmp_path / "full"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"this test needs to mount a tmpfs (root): {done.stderr}"
    try:
        (mount / ".devscode").mkdir()
        (mount / ".devscode" / "config.json").write_text('{\n  // mine\n  "models": []\n}\n')
        try:
            with open(mount / "filler", "wb") as handle:
                while True:
                    handle.write(b"\0" * 4096)
                    handle.flush()
        except OSError:
            pass  # full
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_loses_nothing_and_breaks_nothing(make_shell, full_disk, monkeypatch, capsys):
    monkeypatch.setenv("DEVSCODE_GLOBAL_DIR", str(full_disk / ".devscode"))
    config = full_disk / ".devscode" / "config.json"
    before = config.read_bytes()
    shell = make_shell()
    _run_cells(shell)
    telemetry = telemetry_of(shell)
    for _ in range(100):
        telemetry.record("$pageview", {"$current_url": "devscode-nb://help"})
    telemetry.flush(2)  # the payload log cannot be written: silently kept in memory
    capsys.readouterr()
    shell.run_line_magic("devscode", "telemetry off")
    out = capsys.readouterr().out
    assert "could not be saved" in out and "No space left" in out
    assert config.read_bytes() == before  # the old file is whole: the write was atomic
    assert not [p for p in config.parent.iterdir() if p.name.endswith(".tmp")]
    assert not telemetry.decision.enabled
    _run_cells(shell)


def test_thousands_of_events_a_second_from_a_cell_loop(sending_shell, capture, capsys):
    telemetry = telemetry_of(sending_shell)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = sending_shell.run_cell(
        "from devscode_nb.ipython.extension import session_for\n"
        "t = session_for(get_ipython()).telemetry\n"
        "for i in range(50_000):\n"
        "    t.record('$pageview', {'$current_url': 'devscode-nb://help'})\n"
    )
    assert result.success
    assert len(telemetry.recorder) <= telemetry.recorder.maxlen  # bounded
    telemetry.flush(10)
    rss_growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert rss_growth_mb < 200
    out = capsys.readouterr()
    assert out.out.count("\n") <= 2 and out.err == ""  # at most the notice
    assert len(capture.events) > 0


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_a_model_stream_dropped_half_way_is_one_line_and_the_shell_goes_on(
    sending_shell, capture, global_dir, capsys, protocol
):
    from model_servers import ModelServer
    from test_assistant import events, models_config

    with ModelServer() as server:
        server.fault = "drop"
        model = {
            "title": "Demo",
            "provider": protocol,
            "model": "demo",
            "apiBase": server.base_url,
            "apiKey": "k",
        }
        models_config(global_dir, model)
        capsys.readouterr()
        assert sending_shell.run_cell("%%devscode\nhello").success
    out = capsys.readouterr()
    assert out.err.strip().count("\n") == 0 and "try again" in out.err
    assert "Traceback" not in out.out + out.err
    (generation,) = events(sending_shell, capture, "$ai_generation")
    assert generation["properties"]["$ai_is_error"] is True
    assert sending_shell.run_cell("x = 1").success
