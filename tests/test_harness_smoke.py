"""Prove the test harnesses (tests/harness) with plain ipywidgets (no devscode_nb).

These tests never skip: a missing piece (Chromium, JupyterLab, Playwright) is a failure
that says how to fix it (scripts/install-browser.sh).
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest
from harness import wait_until
from harness.kernel import KernelHarness, isolated_env

BUTTON_CELL = """\
import pathlib
import ipywidgets as widgets

_target = pathlib.Path({target!r})

def _on_click(button):
    _target.write_text("clicked")
    button.description = "Pressed"

button = widgets.Button(description="Press me")
button.on_click(_on_click)
display(button)
"""


@pytest.mark.kernel
def test_kernel_harness_clicks_a_widget_button_through_the_comm(tmp_path: Path) -> None:
    target = tmp_path / "clicked.txt"
    env = isolated_env(tmp_path / "env", {"HARNESS_SMOKE": "1"})
    assert "CI" not in env
    with KernelHarness(env, cwd=tmp_path) as k:
        r = k.execute(
            "import os; print(os.environ['HOME'], os.environ.get('CI'), "
            "os.environ['HARNESS_SMOKE'])"
        ).raise_for_error()
        assert r.stdout.split() == [env["HOME"], "None", "1"]

        r = k.execute(BUTTON_CELL.format(target=str(target))).raise_for_error()
        button = k.button("Press me")
        assert button.model_name == "ButtonModel"
        assert button.model_module == "@jupyter-widgets/controls"
        assert r.widget_view_ids == [button.model_id]
        assert not target.exists()

        msgs = k.click(button.model_id)
        assert target.read_text() == "clicked"
        # The kernel published the new description back as a state update.
        assert k.widgets[button.model_id].description == "Pressed"
        assert any(
            m["msg_type"] == "comm_msg" and m["content"]["data"].get("method") == "update"
            for m in msgs
        )

        # allow_stdin is passed through: True (JupyterLab) answers input(), False (nbclient)
        # makes input() fail.
        r = k.execute("print(input('who? '))", allow_stdin=True, stdin_reply="lab")
        assert r.stdout.strip() == "lab"
        assert r.stdin_requests[0]["content"]["prompt"] == "who? "
        r = k.execute("input()", allow_stdin=False)
        assert r.status == "error" and r.error["ename"] == "StdinNotImplementedError"


@pytest.mark.browser
def test_browser_harness_clicks_a_widget_button_in_jupyterlab(tmp_path: Path) -> None:
    missing = []
    if not Path("/usr/bin/chromium").exists():
        missing.append("/usr/bin/chromium")
    for mod in ("playwright", "jupyterlab"):
        try:
            __import__(mod)
        except ImportError:
            missing.append(f"python package {mod!r} in {sys.prefix}")
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run scripts/install-browser.sh", pytrace=False)

    from harness.browser import lab_session, write_notebook

    t0 = time.monotonic()
    target = tmp_path / "clicked-in-lab.txt"
    with lab_session(tmp_path / "lab", extra_env={"HARNESS_SMOKE": "1"}) as lab:
        assert "CI" not in lab.env and lab.env["HOME"].startswith(str(tmp_path))
        write_notebook(
            lab.root_dir / "smoke.ipynb",
            [
                "import os; print('HOME=' + os.environ['HOME'], 'CI=' + str(os.environ.get('CI')))",
                BUTTON_CELL.format(target=str(target)),
            ],
        )
        lab.open_notebook("smoke.ipynb")
        lab.run_all_cells()
        lab.wait_for_output(f"HOME={lab.env['HOME']} CI=None")
        lab.button("Press me").wait_for(state="visible")
        shot = lab.screenshot("harness-smoke-before-click.png")

        lab.click_button("Press me")  # real mouse click in Chromium
        wait_until(target.exists, timeout=15, message=f"the click did not write {target}")
        assert target.read_text() == "clicked"
        lab.button("Pressed").wait_for(state="visible")  # kernel -> frontend state update
        lab.screenshot("harness-smoke-after-click.png")
        lab.set_theme("dark")
        dark = lab.screenshot("harness-smoke-dark.png")
        lab.set_theme("light")

        assert shot.stat().st_size > 10_000 and dark.stat().st_size > 10_000
        assert lab.external_let_through == [], lab.external_let_through
        assert lab.blocked_count == len(lab.blocked)
        blocked = list(lab.blocked)
        n_requests = len(lab.requests)
    print(
        f"\n[browser smoke] {time.monotonic() - t0:.1f}s end to end; "
        f"{n_requests} requests, {len(blocked)} non-loopback blocked: {blocked}"
    )
    assert shutil.which("chromium") or Path("/usr/bin/chromium").exists()
