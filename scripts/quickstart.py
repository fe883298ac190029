"""Run notebooks/quickstart.ipynb offline and show exactly what telemetry recorded.

1. starts a loopback model server (``tests/model_servers.py``) speaking the OpenAI protocol;
2. writes a temporary HOME whose ``~/.devscode/config.json`` points a model at it;
3. executes the notebook with ``nbclient`` in a real kernel with ``DEVSCODE_TELEMETRY_DEBUG=1``
   (nothing is sent; a kernel run by nbclient is headless anyway);
4. saves the executed copy (default ``notebooks/quickstart.out.ipynb``) and prints the payload
   log: every event as it would have been sent.

    .venv/bin/python scripts/quickstart.py [--output PATH] [--keep-home]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"
DEFAULT_OUTPUT = REPO / "notebooks" / "quickstart.out.ipynb"
LOG_NAME = "devscode_nb-telemetry-log.jsonl"

sys.path.insert(0, str(REPO / "tests"))
from model_servers import ModelServer  # noqa: E402

#: Variables that would change what the kernel decides or which frontend it thinks it is in.
_STEERING = (
    "CI", "GITHUB_ACTIONS", "DO_NOT_TRACK", "DEVSCODE_TELEMETRY", "DEVSCODE_GLOBAL_DIR",
    "DEVSCODE_NB_HEADLESS", "PAPERMILL_EXECUTION", "VSCODE_PID", "VSCODE_CWD", "TERM_PROGRAM",
    "PYCHARM_HOSTED", "COLAB_RELEASE_TAG", "JPY_SESSION_NAME", "JPY_PARENT_PID",
    "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "IPYTHONDIR", "PYTHONSTARTUP",
)


@dataclass
class QuickstartRun:
    notebook: Any  # the executed nbformat.NotebookNode
    output: Path
    log: list[dict[str, Any]]  # the payload log entries: {"disposition", "payload"}
    requests: int  # requests the model server answered


def kernel_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _STEERING}
    env["HOME"] = str(home)
    env["IPYTHONDIR"] = str(home / ".ipython")
    env["DEVSCODE_TELEMETRY_DEBUG"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def write_config(home: Path, base_url: str) -> Path:
    config = home / ".devscode" / "config.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        "// written by scripts/quickstart.py\n"
        + json.dumps(
            {"models": [{"title": "Demo", "provider": "openai", "model": "demo",
                         "apiBase": base_url}]},
            indent=2,
        )
    )
    return config


def run(
    output: Path = DEFAULT_OUTPUT, home: Path | None = None, timeout: int = 120
) -> QuickstartRun:
    """Execute the quickstart; raises ``nbclient.exceptions.CellExecutionError`` on a failing
    cell."""
    import nbformat
    from nbclient import NotebookClient

    own_home = home is None
    home = Path(tempfile.mkdtemp(prefix="devscode-quickstart-")) if home is None else home
    try:
        with ModelServer(delay=0.01) as server:
            write_config(home, server.base_url)
            nb = nbformat.read(NOTEBOOK, as_version=4)
            client = NotebookClient(
                nb, timeout=timeout, kernel_name="python3",
                resources={"metadata": {"path": str(home)}},
                extra_arguments=["--IPKernelApp.log_level=ERROR"],  # no transport warning
            )
            client.execute(env=kernel_env(home))
            requests = len(server.requests)
        output.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, output)
        log_path = home / ".devscode" / LOG_NAME
        lines = log_path.read_text("utf-8").splitlines() if log_path.exists() else []
        log = [json.loads(line) for line in lines if line.strip()]
        return QuickstartRun(nb, output, log, requests)
    finally:
        if own_home:
            shutil.rmtree(home, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    result = run(args.output)
    print(f"Executed {NOTEBOOK.relative_to(REPO)} → {result.output}")
    print(f"Model server answered {result.requests} request(s) on 127.0.0.1.\n")
    print(f"What telemetry recorded ({len(result.log)} payloads, as they would be sent):")
    for entry in result.log:
        payload = entry["payload"]
        props = payload.get("properties", {})
        own = {k: v for k, v in props.items() if k not in _COMMON}
        print(f"  {payload.get('event'):20} {json.dumps(own, sort_keys=True)}")
    print("\nEvery payload in full (one per line, with its disposition):")
    for entry in result.log:
        print(json.dumps(entry, sort_keys=True))
    return 0


_COMMON = frozenset({
    "os", "ideName", "ideType", "extensionVersion", "pythonVersion", "ipythonVersion",
    "$session_id", "$process_person_profile", "$geoip_disable",
})


if __name__ == "__main__":
    sys.exit(main())
