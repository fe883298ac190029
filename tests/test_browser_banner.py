"""The consent banner in headless Debian Chromium: JupyterLab (as it comes, 600 px wide, 200 %
zoom, large fonts) and Notebook 7, light and dark, with real mouse clicks.

One notebook per frontend: cell 0 loads the extension (the notice), "Opt out" is clicked (the
confirmation); cell 1 reloads it in opt-in mode (the opt-in notice), "Allow" is clicked (the
confirmation); then "Undo" on the first banner, left from the closed session, only says so.
Every state is checked for clipping (content wider or taller than its box, or reaching past the
output area or the window) and saved as test-artifacts/banner-<frontend>-<state>-<theme>.png.
The notebook is saved after each choice and its file read back, then opened as someone else
would (untrusted: the HTML fallback is shown): it tells the choice, not the notice.

Never skips: a missing part (Chromium, JupyterLab, Notebook 7, Playwright) fails and says how to
fix it (scripts/install-browser.sh).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from capture_server import CaptureServer
from harness import wait_until
from harness.browser import LabSession, lab_session, write_notebook
from harness.kernel import isolated_env
from test_banner_kernel import CONFIG, CONFIG_NO_KEY, CONFIG_OFF, settle, urls

pytestmark = pytest.mark.browser

THEME_SETTINGS = "/lab/api/settings/@jupyterlab/apputils-extension:themes"
BIG_FONTS = {"ui-font-size1": "24px", "content-font-size1": "24px", "code-font-size": "20px"}
FRONTENDS: dict[str, dict[str, Any]] = {
    "lab": {},
    "lab-600px": {"viewport": (600, 800)},
    # A 1280 px wide window zoomed to 200 %: half the CSS pixels, each drawn twice as large.
    "lab-zoom200": {"viewport": (640, 800), "device_scale_factor": 2},
    "lab-bigfont": {},  # the person's UI font at 24 px (the theme's CSS overrides, below)
    "notebook7": {"app": "notebook"},
}
# A global dir as deep as a real one can be, with a long name that has no break point.
DEEP = "Projects/Quarterly-Forecasting-And-Capacity-Planning-Workspace-2026/.devscode"
OPT_IN_CELL = '%config DevscodeTelemetry.consent = "opt-in"\n%reload_ext devscode_nb'

# Each button's height over its font size: the label keeps room around it at any font size.
BUTTON_ROOM = """() => Array.from(document.querySelectorAll('.devscode-nb-banner button'),
    (b) => b.getBoundingClientRect().height / parseFloat(getComputedStyle(b).fontSize))"""

RUN_CELL = """(i) => { const nb = window.jupyterapp.shell.currentWidget.content;
    nb.activeCellIndex = i; nb.deselectAll(); }"""


def saved_fallbacks(path: Path) -> list[str]:
    """The text/html of every output of the notebook as saved on disk, per code cell."""
    nb = json.loads(path.read_text())
    return [
        "\n".join(str(o.get("data", {}).get("text/html", "")) for o in cell.get("outputs", []))
        for cell in nb["cells"]
        if cell["cell_type"] == "code"
    ]


class Shots:
    """Checks a banner for clipping and screenshots it, in light and dark."""

    def __init__(self, lab: LabSession, frontend: str) -> None:
        self.lab, self.frontend = lab, frontend
        self.paths: list[Path] = []

    def take(self, state: str, banner: Any, themes: tuple[str, ...]) -> None:
        for theme in themes:
            self.lab.set_theme(theme)
            banner.scroll_into_view_if_needed()
            assert self.lab.clipped(".devscode-nb-banner") == [], (self.frontend, state, theme)
            room = self.lab.page.evaluate(BUTTON_ROOM)
            assert all(r >= 1.5 for r in room), (self.frontend, state, room)
            name = f"banner-{self.frontend}-{state}-{theme}.png"
            self.paths.append(self.lab.screenshot(name, locator=banner))


@pytest.mark.parametrize("frontend", list(FRONTENDS))
def test_the_banner_in_a_browser(tmp_path: Path, frontend: str) -> None:
    t0 = time.monotonic()
    options = FRONTENDS[frontend]
    with CaptureServer() as capture:
        env = isolated_env(tmp_path / "env")
        env["DEVSCODE_GLOBAL_DIR"] = str(Path(env["HOME"]) / DEEP)
        profile = Path(env["IPYTHONDIR"]) / "profile_default"
        profile.mkdir(parents=True)
        (profile / "ipython_config.py").write_text(
            "c.DevscodeTelemetry.api_key = 'phc_browser_test'\n"
            f"c.DevscodeTelemetry.host = {capture.url!r}\n"
            "c.DevscodeTelemetry.flush_interval = 0.05\n"
        )
        config = Path(env["DEVSCODE_GLOBAL_DIR"]) / "config.json"
        config.parent.mkdir(parents=True)
        config.write_text(CONFIG)

        with lab_session(tmp_path / "lab", env=env, failure_screenshot=frontend, **options) as lab:
            notebook = write_notebook(
                lab.root_dir / "banner.ipynb", ["%load_ext devscode_nb", OPT_IN_CELL]
            )
            if frontend == "lab-bigfont":  # as Settings → Theme → CSS overrides saves it
                lab.server.api("PUT", THEME_SETTINGS, {"raw": json.dumps({"overrides": BIG_FONTS})})
            lab.open_notebook("banner.ipynb")
            ui_font = lab.page.evaluate(
                "() => getComputedStyle(document.body).getPropertyValue('--jp-ui-font-size1')"
            )
            assert ui_font.strip() == BIG_FONTS["ui-font-size1"] or frontend != "lab-bigfont"
            shots = Shots(lab, frontend)
            banners = lab.page.locator(".devscode-nb-banner")

            def run_cell(index: int) -> None:
                lab.page.evaluate(RUN_CELL, index)
                lab.command("notebook:run-cell")

            # The notice; showing it counts (the banner pageview).
            lab.set_theme("light")
            run_cell(0)
            lab.wait_for_output("What is collected")
            lab.button("Got it").wait_for(state="visible")
            assert "HBox(" not in lab.page.locator(".jp-OutputArea").first.inner_text()
            (event,) = capture.wait_for(1)
            assert urls([event]) == ["devscode-nb://banner"]
            if frontend.startswith("lab"):
                assert event["properties"]["ideName"] == "jupyterlab"
            sent = settle(capture, 0.5)
            shots.take("notice", banners.first, ("light", "dark"))
            shots.paths.append(lab.screenshot(f"banner-{frontend}-page-dark.png"))

            lab.click_button("Opt out")  # a real mouse click, in the dark theme
            lab.wait_for_output("Telemetry is off. Saved in")
            lab.button("Undo").wait_for(state="visible")
            wait_until(lambda: config.read_bytes() == CONFIG_OFF.encode(), timeout=10)
            shots.take("opted-out", banners.first, ("dark", "light"))
            lab.save_notebook()
            (saved, _) = saved_fallbacks(notebook)
            assert "Telemetry is off. Saved in" in saved and "To opt out" not in saved

            # Opt-in mode after %reload_ext: nothing is sent before "Allow".
            config.write_text(CONFIG_NO_KEY)
            (config.parent / "devscode_nb.json").unlink(missing_ok=True)
            run_cell(1)
            lab.wait_for_output("What would be collected")
            lab.button("No thanks").wait_for(state="visible")
            shots.take("opt-in-notice", banners.last, ("light", "dark"))
            lab.click_button("Allow")
            lab.wait_for_output("Thank you: telemetry is on")
            wait_until(lambda: b'"allowAnonymousTelemetry": true' in config.read_bytes())
            assert settle(capture, 1.0) == sent  # nothing recorded before the click arrives
            shots.take("allowed", banners.last, ("dark", "light"))

            # The first banner belongs to the closed session: "Undo" writes nothing.
            written = config.read_bytes()
            lab.click_button("Undo")
            lab.wait_for_output("devscode_nb was reloaded after this banner was shown")
            shots.take("stale", banners.first, ("light",))
            assert config.read_bytes() == written
            lab.wait_for_kernel_idle()
            lab.save_notebook()
            first, second = saved_fallbacks(notebook)
            assert "was reloaded after this banner" in first and "Telemetry is off" not in first
            assert "Thank you: telemetry is on" in second and "To allow it" not in second

            # The notebook as someone else opens it (changed, so not signed here: untrusted,
            # the frontend shows the HTML fallback, not the widget): it tells the same.
            shared = json.loads(notebook.read_text())
            shared["metadata"]["shared_with"] = "a colleague"
            (lab.root_dir / "shared.ipynb").write_text(json.dumps(shared))
            for kernel in lab.server.api("GET", "/api/kernels"):
                lab.server.api("DELETE", f"/api/kernels/{kernel['id']}")
            lab.open_notebook("shared.ipynb")
            panel = lab.page.locator(".jp-NotebookPanel:visible")
            outputs = panel.locator(".jp-OutputArea-output")
            outputs.nth(1).wait_for(state="visible")
            first, second = outputs.all_inner_texts()
            assert "was reloaded after this banner" in first and "Opt out" not in first
            assert "Thank you: telemetry is on" in second and "Allow" not in second
            shots.paths.append(lab.screenshot(f"banner-{frontend}-reopened-light.png"))

            assert lab.external_let_through == [], lab.external_let_through
            blocked, n_requests = list(lab.blocked), len(lab.requests)

    for shot in shots.paths:
        assert shot.stat().st_size > 5_000, shot
    print(
        f"\n[browser banner, {frontend}] {time.monotonic() - t0:.1f}s end to end; "
        f"{n_requests} requests, {len(blocked)} non-loopback blocked; "
        f"{len(shots.paths)} screenshots in test-artifacts/"
    )


FOCUSED_BANNER_BUTTON = """() => { const e = document.activeElement;
    return e && e.closest('.devscode-nb-banner') ? e.textContent.trim() : null; }"""


def test_the_banner_from_the_keyboard(tmp_path: Path) -> None:
    """Shown, the banner takes no focus (typing goes on where it was). Focused and pressed,
    "Opt out" gives way to "Undo", which has the focus: pressing again undoes, and the focus is
    on "Opt out" again. Enter and Space press a button as a mouse click does (JupyterLab does
    not take them for its own shortcuts there)."""
    with CaptureServer() as capture:
        env = isolated_env(tmp_path / "env")
        profile = Path(env["IPYTHONDIR"]) / "profile_default"
        profile.mkdir(parents=True)
        (profile / "ipython_config.py").write_text(
            "c.DevscodeTelemetry.api_key = 'phc_browser_test'\n"
            f"c.DevscodeTelemetry.host = {capture.url!r}\n"
        )
        config = Path(env["HOME"]) / ".devscode" / "config.json"
        config.parent.mkdir(parents=True)
        config.write_text(CONFIG)
        with lab_session(tmp_path / "lab", env=env, failure_screenshot="keyboard") as lab:
            write_notebook(lab.root_dir / "keys.ipynb", ["%load_ext devscode_nb"])
            lab.open_notebook("keys.ipynb")
            lab.run_all_cells()
            lab.button("Got it").wait_for(state="visible")
            assert lab.page.evaluate(FOCUSED_BANNER_BUTTON) is None  # shown, not focused

            lab.button("Opt out").focus()
            lab.page.keyboard.press("Enter")
            lab.wait_for_output("Telemetry is off. Saved in")
            wait_until(lambda: lab.page.evaluate(FOCUSED_BANNER_BUTTON) == "Undo", timeout=10)
            wait_until(lambda: config.read_bytes() == CONFIG_OFF.encode(), timeout=10)

            lab.page.keyboard.press("Space")
            lab.wait_for_output("Telemetry is on again")
            wait_until(lambda: lab.page.evaluate(FOCUSED_BANNER_BUTTON) == "Opt out", timeout=10)
            wait_until(lambda: config.read_bytes() == CONFIG.encode(), timeout=10)
            lab.screenshot("banner-keyboard-undone.png")
            assert lab.external_let_through == [], lab.external_let_through
