"""notebooks/quickstart.ipynb runs offline through nbclient in a real kernel (scripts/quickstart.py)
and telemetry records the whole flow — and nothing of the prompt, answer, code or paths."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import clean_env

pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "quickstart.py"


def load_script() -> Any:
    spec = importlib.util.spec_from_file_location("quickstart_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_quickstart_notebook_runs_and_records_the_flow(tmp_path):
    quickstart = load_script()
    home = tmp_path / "home-canarydir"
    home.mkdir()
    result = quickstart.run(tmp_path / "out.ipynb", home=home)

    errors = [o for c in result.notebook.cells if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error" or o.get("name") == "stderr"]
    assert errors == []
    assert result.requests == 1
    answer_cell = next(c for c in result.notebook.cells if c.source.startswith("%%devscode"))
    rendered = [o.data for o in answer_cell.outputs if "data" in o and "text/html" in o.data]
    assert len(rendered) == 1 and "print(math.sqrt(2))" in rendered[0]["text/html"]
    assert "print(math.sqrt(2))" in rendered[0]["text/plain"]
    assert [o.output_type for o in answer_cell.outputs].count("stream") == 0  # replaced

    events = [e["payload"] for e in result.log]
    assert all(e["disposition"].startswith("not sent") for e in result.log)
    names = [e["event"] for e in events]
    for expected in ("useSlashCommand", "tokens_generated", "$ai_generation",
                     "suggestion_outcome"):
        assert expected in names
    urls = [e["properties"].get("$current_url") for e in events if e["event"] == "$pageview"]
    assert {"devscode-nb://models", "devscode-nb://suggestion", "devscode-nb://status",
            "devscode-nb://log"} <= set(urls)
    (outcome,) = [e["properties"] for e in events if e["event"] == "suggestion_outcome"]
    assert (outcome["outcome"], outcome["via"]) == ("accepted", "execution")
    (tokens,) = [e["properties"] for e in events if e["event"] == "tokens_generated"]
    assert (tokens["promptTokens"], tokens["tokensSource"]) == (17, "provider")

    log_text = json.dumps(result.log)
    for secret in ("square root", "math.sqrt", "Here is one way", "canarydir", str(tmp_path),
                   "127.0.0.1"):
        assert secret not in log_text


def test_the_script_prints_what_telemetry_recorded(tmp_path):
    out = tmp_path / "executed.ipynb"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--output", str(out)],
        capture_output=True, text=True, timeout=180, env=clean_env(), cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.exists()
    assert "What telemetry recorded" in proc.stdout
    assert "suggestion_outcome" in proc.stdout and '"outcome": "accepted"' in proc.stdout
    assert "math.sqrt" not in proc.stdout
