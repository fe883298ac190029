"""The consent banner in JupyterLab, in headless Debian Chromium: a real click on "Opt out".

Never skips: a missing part (Chromium, JupyterLab, Playwright) fails and says how to fix it
(scripts/install-browser.sh). Screenshots go to test-artifacts/banner-*.png.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from capture_server import CaptureServer
from harness import wait_until
from harness.browser import lab_session, write_notebook
from harness.kernel import isolated_env
from test_banner_kernel import CONFIG, CONFIG_OFF, settle, urls

pytestmark = pytest.mark.browser

RUN_CELL = """(i) => { const nb = window.jupyterapp.shell.currentWidget.content;
    nb.activeCellIndex = i; nb.deselectAll(); }"""


def test_a_real_click_on_opt_out_in_jupyterlab(tmp_path: Path) -> None:
    t0 = time.monotonic()
    with CaptureServer() as capture:
        env = isolated_env(tmp_path / "env")
        profile = Path(env["IPYTHONDIR"]) / "profile_default"
        profile.mkdir(parents=True)
        (profile / "ipython_config.py").write_text(
            "c.DevscodeTelemetry.api_key = 'phc_browser_test'\n"
            f"c.DevscodeTelemetry.host = {capture.url!r}\n"
            "c.DevscodeTelemetry.flush_interval = 0.05\n"
        )
        config = Path(env["HOME"]) / ".devscode" / "config.json"
        config.parent.mkdir()
        config.write_text(CONFIG)

        with lab_session(tmp_path / "lab", env=env, failure_screenshot="banner") as lab:
            write_notebook(
                lab.root_dir / "banner.ipynb",
                ["%load_ext devscode_nb", "%devscode help\n%devscode telemetry status"],
            )
            lab.open_notebook("banner.ipynb")

            def run_cell(index: int) -> None:
                lab.page.evaluate(RUN_CELL, index)
                lab.command("notebook:run-cell")

            run_cell(0)
            lab.wait_for_output("What is collected")
            lab.button("Opt out").wait_for(state="visible")
            lab.button("Got it").wait_for(state="visible")
            banner = lab.page.locator(".devscode-nb-banner")
            assert "HBox(" not in lab.page.locator(".jp-OutputArea").first.inner_text()
            (event,) = capture.wait_for(1)  # showing it counts: the banner pageview
            assert urls([event]) == ["devscode-nb://banner"]
            assert event["properties"]["ideName"] == "jupyterlab"
            before = settle(capture, 0.5)

            shots = [lab.screenshot("banner-light.png", locator=banner)]
            lab.set_theme("dark")
            shots.append(lab.screenshot("banner-dark.png", locator=banner))
            shots.append(lab.screenshot("banner-dark-page.png"))

            lab.click_button("Opt out")  # a real mouse click, in the dark theme

            lab.wait_for_output("Telemetry is off. Saved in")
            lab.button("Undo").wait_for(state="visible")
            assert lab.button("Opt out").count() == 0
            wait_until(lambda: config.read_bytes() == CONFIG_OFF.encode(), timeout=10)
            shots.append(lab.screenshot("banner-dark-opted-out.png", locator=banner))
            lab.set_theme("light")
            lab.page.wait_for_timeout(300)  # let the theme swap settle before the shot
            shots.append(lab.screenshot("banner-light-opted-out.png", locator=banner))

            run_cell(1)  # views after the click: nothing leaves
            lab.wait_for_output("Devscode telemetry: OFF")
            lab.wait_for_kernel_idle()
            assert settle(capture, 1.5) == before
            assert config.read_bytes() == CONFIG_OFF.encode()  # only the value changed

            assert lab.external_let_through == [], lab.external_let_through
            blocked, n_requests = list(lab.blocked), len(lab.requests)

    for shot in shots:
        assert shot.stat().st_size > 5_000, shot
    print(
        f"\n[browser banner] {time.monotonic() - t0:.1f}s end to end; {n_requests} requests, "
        f"{len(blocked)} non-loopback blocked: {blocked}; screenshots: "
        + ", ".join(str(s) for s in shots)
    )
