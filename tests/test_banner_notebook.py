"""notebooks/telemetry.ipynb runs cleanly through nbclient: headless, nothing sent, and the
person's own ~/.devscode is never touched (the walkthrough uses a scratch folder)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from capture_server import CaptureServer
from harness.kernel import REPO_ROOT, isolated_env
from nbclient import NotebookClient

pytestmark = pytest.mark.kernel


def test_the_telemetry_notebook_executes_cleanly(tmp_path: Path) -> None:
    nb = nbformat.read(REPO_ROOT / "notebooks" / "telemetry.ipynb", as_version=4)
    with CaptureServer() as capture:
        env = isolated_env(tmp_path / "env")
        profile = Path(env["IPYTHONDIR"]) / "profile_default"
        profile.mkdir(parents=True)
        (profile / "ipython_config.py").write_text(
            f"c.DevscodeTelemetry.api_key = 'phc_x'\nc.DevscodeTelemetry.host = {capture.url!r}\n"
        )
        NotebookClient(nb, timeout=120, kernel_name="python3").execute(env=env)
        outputs = [
            "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in c.outputs)
            for c in nb.cells
            if c.cell_type == "code"
        ]
        assert not any(o.output_type == "error" for c in nb.cells for o in c.get("outputs", []))
        text = "\n".join(outputs)
        for expected in (
            "Devscode telemetry: LOCAL ONLY — headless run",
            "devscode-nb://help",
            "Telemetry is off. Saved in",
            '"allowAnonymousTelemetry": false,',
            "OFF — allowAnonymousTelemetry is false in config.json",
            '"allowAnonymousTelemetry": true,',
            "// The same file the Devscode IDE extension reads",
        ):
            assert expected in text, expected
        assert capture.requests == []
    assert not (Path(env["HOME"]) / ".devscode").exists()
