"""The banner's words and fallbacks, and where it is not shown (real shells, real files)."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from conftest import clean_env, run_terminal_ipython, telemetry_of, write_config

from devscode_nb.ipython.banner import COLLECTED, DETAILS_URL, Banner, notice_text

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_without_widgets_the_bundle_is_text_and_html_telling_how_to_opt_out(make_shell):
    banner = Banner(telemetry_of(make_shell()), widgets=False)
    bundle = banner._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    for text in bundle.values():
        assert "%devscode telemetry off" in text
        assert "Never collected: your code, prompts, outputs" in text
        assert "What is not" not in text and "never your" not in text.lower()
        assert all(kind in text for kind in COLLECTED)
        assert "Box(" not in text and "children" not in text
    assert f'href="{DETAILS_URL}"' in bundle["text/html"]
    assert "button" not in bundle["text/html"].lower()  # no buttons that would do nothing
    assert repr(banner) == bundle["text/plain"]


def test_the_kernel_bundle_carries_the_widget_view_and_the_fallbacks(make_shell):
    banner = Banner(telemetry_of(make_shell()), opt_in=True)
    bundle = banner._repr_mimebundle_()
    assert set(bundle) == {WIDGET_VIEW, "text/plain", "text/html"}
    assert bundle[WIDGET_VIEW]["model_id"] == banner.widget().model_id
    assert "%devscode telemetry on" in bundle["text/plain"]
    assert "Box(" not in bundle["text/plain"]


def test_opt_in_wording_speaks_of_what_would_be_collected(make_shell):
    banner = Banner(telemetry_of(make_shell()), opt_in=True, widgets=False)
    bundle = banner._repr_mimebundle_()
    widget_words = Banner(telemetry_of(make_shell()), opt_in=True).notice_html()
    for text in (*bundle.values(), widget_words, notice_text(opt_in=True)):
        assert "would be collected" in text or "only if you allow it" in text
        assert "What is collected" not in text and "collects" not in text
        assert "turn it off" not in text and "opt out" not in text.lower()
        assert "Never collected: your code" in text
    assert "What would be collected:" in bundle["text/plain"]
    assert "%devscode telemetry on" in bundle["text/plain"]


def test_opt_out_then_undo_in_process(make_shell, global_dir):
    path = write_config(global_dir, '{"models": [] /* mine */}')
    telemetry = telemetry_of(make_shell())
    banner = Banner(telemetry, widgets=False)
    banner.opt_out()
    assert path.read_text() == '{"models": [], "allowAnonymousTelemetry": false /* mine */}'
    assert banner.state == "off" and str(path) in banner.text()
    assert not telemetry.decision.enabled
    for fallback in (banner.text(), banner.html()):  # what a reopened notebook shows
        assert "Telemetry is off" in fallback and "%devscode telemetry status" in fallback
        assert "To opt out" not in fallback and "sends anonymous" not in fallback
    banner.undo()
    assert path.read_text() == '{"models": [], "allowAnonymousTelemetry": true /* mine */}'
    assert banner.state == "on" and telemetry.decision.enabled
    assert "Telemetry is on again" in banner.html() and "Telemetry is off" not in banner.html()


def test_a_long_path_can_wrap_in_every_text_that_shows_it(make_shell, monkeypatch, tmp_path):
    deep = tmp_path / ("a-very-long-directory-name-without-any-break-point" * 3) / ".devscode"
    monkeypatch.setenv("DEVSCODE_GLOBAL_DIR", str(deep))
    banner = Banner(telemetry_of(make_shell()))
    banner.widget()
    banner.opt_out()
    for html_text in (banner.html(), banner._body.value):
        assert f'overflow-wrap: anywhere; white-space: normal">{deep / "config.json"}' in html_text
    assert ".devscode-nb-banner .jupyter-button { height: auto" in banner._body.value


def test_a_config_json_that_is_a_directory_the_opt_out_holds_and_says_why(make_shell, global_dir):
    (global_dir / "config.json").mkdir(parents=True)
    telemetry = telemetry_of(make_shell())
    banner = Banner(telemetry, widgets=False)
    banner.opt_out()
    assert banner.state == "off-unsaved"
    text = banner.text()
    assert "off in this kernel" in text and str(global_dir / "config.json") in text
    assert banner.problem.startswith("Why: ")
    assert telemetry.session_off and not telemetry.decision.enabled


def test_an_embedded_shell_prints_the_short_notice_once(make_shell, capsys):
    shell = make_shell()
    shell.run_cell("1 + 1")
    out = capsys.readouterr().out
    assert out.count("%devscode telemetry off") == 1
    assert "Box(" not in out


def test_headless_shows_nothing(make_shell, capsys, monkeypatch):
    monkeypatch.setenv("DEVSCODE_NB_HEADLESS", "1")
    shell = make_shell()
    shell.run_cell("1 + 1")
    assert "devscode" not in capsys.readouterr().out


PROBE = "import sys; print('ipywidgets loaded:', 'ipywidgets' in sys.modules)"


@pytest.mark.parametrize("telemetry", ["on", "off"])
def test_terminal_ipython_prints_the_notice_and_never_imports_ipywidgets(
    tmp_path: Path, isolated_home: Path, telemetry: str
) -> None:
    env = {**clean_env(), "HOME": str(isolated_home), "IPYTHONDIR": str(tmp_path / "ipython")}
    if telemetry == "off":
        env["DO_NOT_TRACK"] = "1"
    code = f"%load_ext devscode_nb\n{PROBE}"
    done = run_terminal_ipython(code, env)
    assert done.returncode == 0, done.stderr
    assert "ipywidgets loaded: False" in done.stdout
    assert done.stdout.count("%devscode telemetry off") == (telemetry == "on")


def test_allow_that_cannot_be_saved_says_telemetry_stays_off(make_shell, global_dir):
    (global_dir / "config.json").mkdir(parents=True)  # cannot be read, cannot be written
    telemetry = telemetry_of(make_shell(DevscodeTelemetry={"consent": "opt-in"}))
    banner = Banner(telemetry, opt_in=True, widgets=False)
    banner.allow()
    assert not telemetry.decision.enabled
    assert banner.state == "error" and "telemetry is on" not in banner.text()
    assert banner.text().startswith("Devscode telemetry: Telemetry stays off: the choice could")
    assert str(global_dir / "config.json") in banner.text() and banner.problem.startswith("Why: ")


def test_a_path_with_markup_characters_is_shown_as_text_once_escaped(
    make_shell, monkeypatch, tmp_path
):
    hostile = tmp_path / "R&D <img src=x onerror=alert(1)> 'q'" / ".devscode"
    monkeypatch.setenv("DEVSCODE_GLOBAL_DIR", str(hostile))
    banner = Banner(telemetry_of(make_shell()))
    banner.widget()
    banner.opt_out()
    shown = html.escape(str(hostile / "config.json"))
    for text in (banner.html(), banner._body.value):
        assert "<img" not in text and "&amp;amp;" not in text and "&amp;lt;" not in text
        assert f">{shown}</code>" in text


# Circumstances in which telemetry is on but nothing would leave this machine.
NOTHING_LEAVES = {
    "debug mode": ({"debug": True}, {}, "debug mode (DevscodeTelemetry.debug)"),
    "no project key": ({"api_key": ""}, {}, "no PostHog project key configured"),
    "headless": ({}, {"DEVSCODE_NB_HEADLESS": "1"}, "headless run: nobody could see the notice"),
}


@pytest.mark.parametrize("case", list(NOTHING_LEAVES))
def test_undo_when_nothing_would_leave_says_events_stay_on_this_machine(
    make_shell, global_dir, capture, monkeypatch, case
):
    settings, env, reason = NOTHING_LEAVES[case]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = {"api_key": "phc_test", "host": capture.url, **settings}
    telemetry = telemetry_of(make_shell(DevscodeTelemetry=config))
    banner = Banner(telemetry, widgets=False)
    banner.opt_out()
    banner.undo()
    decision = telemetry.decision
    assert decision.enabled and not decision.sending and decision.reason.startswith(reason)
    said = f"Telemetry is on again, but events stay on this machine: {decision.reason}. Saved in"
    for text in (banner.text(), html.unescape(banner.html())):
        assert said in text
        assert "Telemetry is on again. Saved" not in text
    telemetry.flush(timeout=2.0)
    assert capture.events == []  # what the banner says is what happens


def test_undo_when_events_are_sent_says_where_they_go(make_shell, global_dir, capture):
    telemetry = telemetry_of(make_shell(DevscodeTelemetry={"api_key": "k", "host": capture.url}))
    banner = Banner(telemetry, widgets=False)
    banner.opt_out()
    banner.undo()
    assert telemetry.decision.sending
    assert f"Telemetry is on again (PostHog at {capture.url}). Saved in" in banner.text()
    assert "stay on this machine" not in banner.text()


def test_telemetry_on_says_what_is_true_when_nothing_would_leave(make_shell, global_dir, capsys):
    shell = make_shell(DevscodeTelemetry={"debug": True, "api_key": "phc_test"})
    capsys.readouterr()
    shell.run_line_magic("devscode", "telemetry on")
    out = capsys.readouterr().out.strip()
    assert out == (
        "Telemetry is on, but events stay on this machine: debug mode "
        f"(DevscodeTelemetry.debug). Saved in {global_dir / 'config.json'}."
    )
