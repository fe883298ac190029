"""Real kernels: a headless run (nbclient) sends nothing; ipython_config.py reaches the kernel."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from conftest import clean_env
from nbclient import NotebookClient

pytestmark = pytest.mark.kernel


def _run(cells: list[str], env: dict[str, str]) -> list[str]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute(env=env)
    outputs = []
    for cell in nb.cells:
        text = ""
        for output in cell.outputs:
            if output.output_type == "stream":
                text += output.text
            elif output.output_type in ("execute_result", "display_data"):
                text += output.data.get("text/plain", "")
            elif output.output_type == "error":
                text += "\n".join(output.traceback)
        outputs.append(text)
    return outputs


def _kernel_env(home: Path, ipython_dir: Path, config: str) -> dict[str, str]:
    profile = ipython_dir / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_config.py").write_text(config)
    return {**clean_env(), "HOME": str(home), "IPYTHONDIR": str(ipython_dir)}


def test_a_notebook_run_by_nbclient_is_headless_and_sends_nothing(capture, isolated_home, tmp_path):
    env = _kernel_env(
        isolated_home,
        tmp_path / "ipython",
        f"c.DevscodeTelemetry.api_key = 'phc_x'\nc.DevscodeTelemetry.host = {capture.url!r}\n",
    )
    outputs = _run(
        [
            "%load_ext devscode_nb",
            "%devscode help",
            "for i in range(5): pass",
            "%devscode telemetry status",
            "%devscode telemetry log",
        ],
        env,
    )
    assert outputs[0] == ""  # no notice, no banner: nobody is there to see it
    assert "headless run" in outputs[3]
    assert "not sent: headless run" in outputs[4]
    assert "devscode-nb://help" in outputs[4]
    assert capture.requests == []


def test_the_extension_loads_from_ipython_config_in_a_kernel(capture, isolated_home, tmp_path):
    env = _kernel_env(
        isolated_home,
        tmp_path / "ipython",
        'c.InteractiveShellApp.extensions = ["devscode_nb"]\nc.DevscodeTelemetry.enabled = False\n',
    )
    outputs = _run(["%devscode telemetry status"], env)
    assert "OFF — DevscodeTelemetry.enabled is False" in outputs[0]
    assert capture.requests == []
