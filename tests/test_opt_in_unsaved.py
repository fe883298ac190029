"""Opt-in that cannot be saved stays off (SPEC §2): the decision is what the person is told.

A real kernel in opt-in mode whose global dir is read-only (mode 0555: what tells root, as CI
runs, that it is not to be written), a real capture server: "Allow" and ``%devscode telemetry
on`` say it stays off, and nothing is sent.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from capture_server import CaptureServer
from conftest import sending_profile
from harness.kernel import KernelHarness, isolated_env

pytestmark = pytest.mark.kernel


def _env(tmp_path: Path, capture: CaptureServer) -> dict[str, str]:
    directory = tmp_path / "read-only-dir"
    directory.mkdir()
    directory.chmod(0o555)
    env = isolated_env(
        tmp_path / "env", {"JPY_SESSION_NAME": "nb.ipynb", "DEVSCODE_GLOBAL_DIR": str(directory)}
    )
    sending_profile(env, capture, consent="opt-in")
    return env


def _run(k: KernelHarness, code: str) -> str:
    return k.execute(code, allow_stdin=True).raise_for_error().stdout


def test_allow_that_cannot_be_saved_sends_nothing(tmp_path):
    with CaptureServer() as capture, KernelHarness(_env(tmp_path, capture), cwd=tmp_path) as k:
        _run(k, "%load_ext devscode_nb")
        (allow,) = k.find_widgets("ButtonModel", description="Allow")
        k.click(allow.model_id)
        words = "\n".join(str(w.state.get("value", "")) for w in k.find_widgets("HTMLModel"))
        assert "stays off" in words and "Thank you" not in words
        _run(k, "%devscode help\n%devscode version")
        assert "opt-in is required" in _run(k, "%devscode telemetry status")
        time.sleep(0.5)
        assert capture.requests == []


def test_telemetry_on_that_cannot_be_saved_sends_nothing(tmp_path):
    with CaptureServer() as capture, KernelHarness(_env(tmp_path, capture), cwd=tmp_path) as k:
        _run(k, "%load_ext devscode_nb")
        said = _run(k, "%devscode telemetry on")
        assert "Telemetry stays off in this kernel, nothing is sent" in said
        assert "because the opt-in could not be saved" in said
        assert "read-only-dir is read-only" in said
        _run(k, "%devscode help")
        status = _run(k, "%devscode telemetry status")
        assert "Devscode telemetry: LOCAL ONLY — opt-in is required" in status
        time.sleep(0.5)
        assert capture.requests == []
