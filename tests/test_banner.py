"""The banner's words and fallbacks, and where it is not shown (real shells, real files)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import clean_env, run_terminal_ipython, telemetry_of, write_config

from devscode_nb.ipython.banner import COLLECTED, DETAILS_URL, Banner

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_without_widgets_the_bundle_is_text_and_html_telling_how_to_opt_out(make_shell):
    banner = Banner(telemetry_of(make_shell()), widgets=False)
    bundle = banner._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    for text in bundle.values():
        assert "%devscode telemetry off" in text
        assert "never your code, prompts, outputs" in text
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


def test_opt_out_then_undo_in_process(make_shell, global_dir):
    path = write_config(global_dir, '{"models": [] /* mine */}')
    telemetry = telemetry_of(make_shell())
    banner = Banner(telemetry, widgets=False)
    banner.opt_out()
    assert path.read_text() == '{"models": [], "allowAnonymousTelemetry": false /* mine */}'
    assert banner.state == "off" and str(path) in banner.text()
    assert not telemetry.decision.enabled
    assert "%devscode telemetry off" not in banner.html()  # it is done: the html says so
    banner.undo()
    assert path.read_text() == '{"models": [], "allowAnonymousTelemetry": true /* mine */}'
    assert banner.state == "on" and telemetry.decision.enabled


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
