"""The assistant in a REAL Jupyter kernel: the answer streamed, then rendered, the next cell, the
Accept/Reject buttons clicked as a browser clicks them, interrupts — with the events read back
at a real capture server."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.kernel import KernelHarness, isolated_env
from model_servers import ModelServer

pytestmark = pytest.mark.kernel

VIEW = "application/vnd.jupyter.widget-view+json"
CODE = "import math\n\nprint(math.sqrt(2))"


@pytest.fixture
def server() -> Iterator[ModelServer]:
    with ModelServer(delay=0.02) as s:
        yield s


@contextlib.contextmanager
def start_kernel(tmp_path: Path, server: ModelServer, capture: Any,
                 extra: dict[str, str | None] | None = None) -> Iterator[KernelHarness]:
    env = isolated_env(tmp_path, extra)
    devscode = Path(env["HOME"]) / ".devscode"
    devscode.mkdir(parents=True)
    (devscode / "config.json").write_text(json.dumps({"models": [
        {"title": "Demo", "provider": "openai", "model": "demo", "apiBase": server.base_url}]}))
    profile = Path(env["IPYTHONDIR"]) / "profile_default"
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "ipython_config.py").write_text(
        f"c.DevscodeTelemetry.api_key = 'phc_test'\n"
        f"c.DevscodeTelemetry.host = {capture.url!r}\n"
        f"c.DevscodeTelemetry.flush_interval = 0.05\n"
    )
    with KernelHarness(env, cwd=tmp_path) as kernel:
        kernel.execute("%load_ext devscode_nb", allow_stdin=True).raise_for_error()
        yield kernel


def flush(kernel: KernelHarness) -> None:
    kernel.execute(
        "from devscode_nb.ipython.extension import session_for\n"
        "assert session_for(get_ipython()).telemetry.flush()", allow_stdin=True,
    ).raise_for_error()


def outcomes(capture: Any) -> list[dict[str, Any]]:
    return [e["properties"] for e in capture.events if e["event"] == "suggestion_outcome"]


def test_streams_in_place_fills_the_next_cell_and_the_buttons_decide(tmp_path, server, capture):
    with start_kernel(tmp_path, server, capture) as k:
        r = k.execute("%%devscode\nroot two", allow_stdin=True).raise_for_error()
        kinds = [o["output_type"] for o in r.outputs]
        # streamed as text, then replaced by one rendering (tests/test_streaming_kernel.py)
        cleared = kinds.index("clear_output")
        assert set(kinds[:cleared]) == {"stream"} and kinds[cleared + 1] == "display_data"
        assert r.outputs[cleared + 1]["data"]["text/plain"] == server.answer  # the whole answer
        assert "<pre><code" in r.outputs[cleared + 1]["data"]["text/html"]
        payloads = r.reply.get("payload", [])
        assert [p["text"] for p in payloads if p["source"] == "set_next_input"] == [CODE]
        (plain,) = [d["text/plain"] for d in r.displays if VIEW in d]
        assert "%devscode accept" in plain and "It is in the next cell" in plain

        k.click(k.button("Accept").model_id)
        flush(k)
        (o,) = outcomes(capture)
        assert (o["outcome"], o["accepted"], o["via"]) == ("accepted", True, "button")
        assert k.button("Accept").state.get("disabled") is True or any(
            u.get("disabled") is True for u in k.button("Accept").updates)

        k.execute("%%devscode\nroot two", allow_stdin=True).raise_for_error()
        rejects = k.find_widgets("ButtonModel", description="Reject", disabled=False)
        assert len(rejects) == 1
        k.click(rejects[0].model_id)
        flush(k)
        assert [o["outcome"] for o in outcomes(capture)] == ["accepted", "rejected"]
        assert all(o["via"] == "button" for o in outcomes(capture))
    urls = [e["properties"]["$current_url"] for e in capture.events if e["event"] == "$pageview"]
    assert urls.count("devscode-nb://suggestion") == 2


def test_vscode_gets_no_next_cell_but_the_text_fallback(tmp_path, server, capture):
    with start_kernel(tmp_path, server, capture, {"VSCODE_PID": "1"}) as k:
        r = k.execute("%%devscode\nroot two", allow_stdin=True).raise_for_error()
        assert not [p for p in r.reply.get("payload", []) if p["source"] == "set_next_input"]
        assert "Run a cell with it" in r.text and "%devscode reject" in r.text
        k.execute(CODE, allow_stdin=True).raise_for_error()  # typed or pasted as is
        flush(k)
    (o,) = outcomes(capture)
    assert (o["outcome"], o["via"]) == ("accepted", "execution")
    assert {e["properties"]["ideName"] for e in capture.events} == {"vscode"}


def test_the_next_cell_gets_the_code_without_the_models_control_sequences(tmp_path, capture):
    """OSC 52, CSI 2J and BEL inside the code block: neither the next cell nor anything shown
    carries them, and running the next cell as given is "accepted" at the capture server."""
    code = "import math\x1b]52;c;cm0gLXJmIH4=\x07\n\nprint(math.sqrt(2))\x1b[2J\x07"
    answer = f"Copy this\x07:\n\n```python\n{code}\n```\n"
    with ModelServer(answer=answer) as hostile, start_kernel(tmp_path, hostile, capture) as k:
        r = k.execute("%%devscode\nroot two", allow_stdin=True).raise_for_error()
        (next_cell,) = [p["text"] for p in r.reply["payload"] if p["source"] == "set_next_input"]
        assert next_cell == CODE
        shown = json.dumps([r.stdout, r.stderr, r.displays])  # escapes every control character
        assert "\\u001b" not in shown and "\\u0007" not in shown and "52;c" not in shown
        assert "math.sqrt(2)" in shown and "%devscode accept" in shown
        k.execute(next_cell, allow_stdin=True).raise_for_error()
        flush(k)
    (o,) = outcomes(capture)
    assert (o["outcome"], o["accepted"], o["via"], o["numLines"]) == (
        "accepted", True, "execution", 3
    )


def test_a_kernel_interrupt_stops_the_answer_cleanly(tmp_path, server, capture):
    server.fault = "hang_after_first"
    with start_kernel(tmp_path, server, capture) as k:

        def interrupt() -> None:
            server.wait_for_requests(1)
            time.sleep(0.3)
            k.km.interrupt_kernel()

        thread = threading.Thread(target=interrupt)
        thread.start()
        r = k.execute("%%devscode\nroot two", allow_stdin=True, timeout=30)
        thread.join()
        assert r.status == "ok", r.error
        assert "Interrupted" in r.stderr and "Traceback" not in r.stderr + r.text
        assert r.stderr.strip().count("\n") == 0  # one line
        assert server.last.client_gone.wait(5)
        assert k.execute("6 * 7").execute_result == {"text/plain": "42"}
