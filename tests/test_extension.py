"""Loading, unloading and reloading are symmetric; the magics explain themselves."""

from __future__ import annotations

import json

from conftest import clean_env, run_terminal_ipython, telemetry_of, write_config

from devscode_nb import __version__


def registrations(shell) -> dict[str, int]:
    return {
        "pre_run_cell": len(shell.events.callbacks["pre_run_cell"]),
        "post_run_cell": len(shell.events.callbacks["post_run_cell"]),
        "line magics": int("devscode" in shell.magics_manager.magics["line"]),
        "cell magics": int("devscode" in shell.magics_manager.magics["cell"]),
        "configurables": sum(
            type(c).__name__ in ("DevscodeTelemetry", "DevscodeMagics") for c in shell.configurables
        ),
    }


def test_load_registers_and_unload_removes_everything(make_shell):
    shell = make_shell(load=False)
    before = registrations(shell)
    shell.run_line_magic("load_ext", "devscode_nb")
    loaded = registrations(shell)
    assert loaded["pre_run_cell"] == before["pre_run_cell"] + 1
    assert loaded["post_run_cell"] == before["post_run_cell"] + 1
    assert loaded["line magics"] == loaded["cell magics"] == 1
    assert loaded["configurables"] == 2
    shell.run_line_magic("unload_ext", "devscode_nb")
    assert registrations(shell) == before
    assert "DevscodeMagics" not in shell.magics_manager.registry


def test_loading_twice_or_reloading_never_doubles_a_hook(make_shell):
    shell = make_shell()
    loaded = registrations(shell)
    shell.run_line_magic("load_ext", "devscode_nb")
    assert registrations(shell) == loaded
    for _ in range(3):
        shell.run_line_magic("reload_ext", "devscode_nb")
    assert registrations(shell) == loaded


def test_unload_stops_the_background_thread(sending_shell):
    telemetry = telemetry_of(sending_shell)
    assert telemetry.transport.running
    sending_shell.run_line_magic("unload_ext", "devscode_nb")
    assert not telemetry.transport.running
    sending_shell.run_line_magic("load_ext", "devscode_nb")


def test_help_and_version(make_shell, capsys):
    shell = make_shell()
    capsys.readouterr()
    shell.run_line_magic("devscode", "help")
    assert "%devscode telemetry off" in capsys.readouterr().out
    shell.run_line_magic("devscode", "version")
    assert f"devscode_nb {__version__}" in capsys.readouterr().out


def test_an_unknown_subcommand_is_one_line_not_an_exception(make_shell, capsys):
    shell = make_shell()
    capsys.readouterr()
    result = shell.run_cell("%devscode frobnicate")
    assert result.success
    out = capsys.readouterr().out
    assert out.strip().count("\n") == 0 and "%devscode help" in out
    assert shell.run_cell('%devscode ask "unbalanced').success


def test_status_lists_every_source_and_where_events_go(make_shell, capsys, global_dir):
    shell = make_shell()
    capsys.readouterr()
    shell.run_line_magic("devscode", "telemetry status")
    out = capsys.readouterr().out
    for source in (
        "DO_NOT_TRACK",
        "DEVSCODE_TELEMETRY",
        "DevscodeTelemetry.enabled",
        "allowAnonymousTelemetry",
        "notice",
    ):
        assert source in out
    assert "no PostHog project key" in out
    assert "Events go to: local log only" in out
    assert str(global_dir / "config.json") in out


def test_off_and_on_write_config_json_and_keep_comments(make_shell, global_dir, capsys):
    global_dir.mkdir()
    original = '// mine\n{\n  "models": [], /* keep */\n}\n'
    (global_dir / "config.json").write_text(original)
    shell = make_shell()
    shell.run_line_magic("devscode", "telemetry off")
    assert (global_dir / "config.json").read_text() == (
        '// mine\n{\n  "models": [], /* keep */\n  "allowAnonymousTelemetry": false,\n}\n'
    )
    assert not telemetry_of(shell).decision.enabled
    shell.run_line_magic("devscode", "telemetry on")
    assert 'allowAnonymousTelemetry": true' in (global_dir / "config.json").read_text()
    assert telemetry_of(shell).decision.enabled
    state = json.loads((global_dir / "devscode_nb.json").read_text())
    assert state["notice"]["choice"] == "allowed"  # `on` is informed consent


def test_on_does_not_beat_do_not_track(make_shell, monkeypatch, capsys):
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    shell = make_shell()
    shell.run_line_magic("devscode", "telemetry on")
    assert "stays off: DO_NOT_TRACK" in capsys.readouterr().out


def test_the_terminal_app_loads_it_from_ipython_config(tmp_path, isolated_home):
    """``c.InteractiveShellApp.extensions = ["devscode_nb"]`` in a real ipython_config.py."""
    profile = tmp_path / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_config.py").write_text(
        'c.InteractiveShellApp.extensions = ["devscode_nb"]\nc.DevscodeTelemetry.enabled = False\n'
    )
    env = {**clean_env(), "HOME": str(isolated_home), "IPYTHONDIR": str(tmp_path / "ipython")}
    code = "%devscode telemetry status"
    done = run_terminal_ipython(code, env)
    assert done.returncode == 0, done.stderr
    assert "Devscode telemetry: OFF — DevscodeTelemetry.enabled is False" in done.stdout
    assert "ipython_config.py" in done.stdout


def test_on_that_cannot_be_saved_says_it_stays_off_here_why_and_where(
    make_shell, global_dir, capsys
):
    (global_dir / "config.json").mkdir(parents=True)  # cannot be read, cannot be written
    shell = make_shell()
    capsys.readouterr()
    shell.run_line_magic("devscode", "telemetry on")
    out = capsys.readouterr().out.strip()
    assert "\n" not in out  # one line
    assert out.startswith("Telemetry stays off in this kernel, nothing is sent (config.json could")
    assert "because the opt-in could not be saved: " in out
    assert f"{global_dir / 'config.json'} is a directory" in out
    assert not telemetry_of(shell).decision.enabled


def test_on_that_cannot_be_saved_while_already_on_says_nothing_changed(
    make_shell, global_dir, capture, capsys
):
    path = write_config(global_dir, '{"models": []}')
    path.chmod(0o444)  # read-only, without the key: telemetry is on (opt-out mode)
    shell = make_shell(DevscodeTelemetry={"api_key": "phc_test", "host": capture.url})
    capsys.readouterr()
    shell.run_line_magic("devscode", "telemetry on")
    out = capsys.readouterr().out.strip()
    assert out == (
        "The opt-in could not be saved, so nothing changed: telemetry is on in this kernel as "
        f"before (PostHog at {capture.url}). Why: {path} is read-only (mode 0444), so it was "
        "not changed"
    )
    assert telemetry_of(shell).decision.sending


def test_off_that_cannot_be_saved_says_it_holds_for_this_kernel_only(
    make_shell, global_dir, capsys
):
    path = write_config(global_dir, '{"models": []}')
    path.chmod(0o444)
    shell = make_shell()
    capsys.readouterr()
    shell.run_line_magic("devscode", "telemetry off")
    out = capsys.readouterr().out.strip()
    assert out == (
        "Telemetry is off in this kernel only: the opt-out could not be saved, so other and new "
        "kernels do not know it (set DO_NOT_TRACK=1 for those). "
        f"Why: {path} is read-only (mode 0444), so it was not changed"
    )
    assert not telemetry_of(shell).decision.enabled
    assert path.read_text() == '{"models": []}'
