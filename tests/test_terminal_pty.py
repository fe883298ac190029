"""Terminal IPython on a real pty: the model's answer reaches the terminal without its escape
sequences (OSC 52 clipboard write, OSC 0 window title, CSI 2J clear screen, SGR 8 conceal),
while its newlines, tabs and text do; the code it suggests is drawn as the next input without
them too, and runs."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from conftest import clean_env, read_until
from model_servers import ModelServer
from ptyprocess import PtyProcess

MARK = "END-OF-ANSWER"
ANSWER = (
    "Sure.\n\tindented\n"
    "clip\x1b]52;c;UFdORUQ=\x07 title\x1b]0;PWNED-TITLE\x07 clear\x1b[2J"
    " hidden\x1b[8mCONCEALED\x1b[28m st\x1b]52;c;U1Q=\x1b\\ c1\x9b2J bell\x07 " + MARK + "\n"
)
FORBIDDEN = [b"\x1b]52", b"PWNED-TITLE", b"\x1b[8m", b"\x1b[2J", b"\x9b", b"\x07 "]


@contextlib.contextmanager
def ipython_on_pty(tmp_path: Path, server: ModelServer) -> Iterator[PtyProcess]:
    """Terminal IPython on a pty, devscode_nb loaded, its one model ``server``; at "In [2]"."""
    home = tmp_path / "home"
    (home / ".devscode").mkdir(parents=True)
    (home / ".devscode" / "config.json").write_text(json.dumps({"models": [
        {"title": "Demo", "provider": "openai", "model": "demo", "apiBase": server.base_url}
    ]}))
    env = {**clean_env(), "HOME": str(home), "IPYTHONDIR": str(tmp_path / "ipython"),
           "TERM": "xterm-256color", "DO_NOT_TRACK": "1"}
    proc = PtyProcess.spawn(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=nocolor",
         "--TerminalInteractiveShell.term_title=False"],
        env=env, cwd=str(tmp_path), dimensions=(40, 200),
    )
    try:
        read_until(proc, b"In [1]")
        proc.write(b"%load_ext devscode_nb\r")
        read_until(proc, b"In [2]")
        yield proc
    finally:
        proc.terminate(force=True)


def test_escape_sequences_from_the_model_never_reach_the_terminal(tmp_path: Path) -> None:
    # delivered in small pieces, so sequences are split across reads as on a real network
    pieces = [ANSWER[i : i + 5] for i in range(0, len(ANSWER), 5)]
    with ModelServer(answer=ANSWER, pieces=pieces, delay=0.002) as server, ipython_on_pty(
        tmp_path, server
    ) as proc:
        proc.write(b"%devscode ask hi\r")
        out = read_until(proc, b"In [3]")
        proc.write(b"exit\r")
        out += read_until(proc, b"\x00", timeout=20)  # to the end of the process
    assert server.requests and MARK.encode() in out
    for bad in FORBIDDEN:
        assert bad not in out, bad
    assert b"\tindented" in out and b"hiddenCONCEALED" in out  # the text itself is kept


def test_suggested_code_is_drawn_as_the_next_input_without_them_and_runs(tmp_path: Path) -> None:
    code = "import math\x1b]52;c;cm0gLXJmIH4=\x07\nprint(math.sqrt(2) * 1000)\x1b[2J\x07"
    answer = f"Run this:\n\n```python\n{code}\n```\n"
    with ModelServer(answer=answer) as server, ipython_on_pty(tmp_path, server) as proc:
        proc.write(b"%devscode ask root two\r")
        out = read_until(proc, b"In [3]")
        out += read_until(proc, b"math.sqrt(2) * 1000")  # the next input, drawn
        proc.write(b"\r")  # run it as given
        out += read_until(proc, b"1414.21356")
        proc.write(b"from devscode_nb.ipython.extension import session_for\r")
        proc.write(b"print('open:', len(session_for(get_ipython()).assistant.tracker))\r")
        out += read_until(proc, b"open: ")
        out += read_until(proc, b"In [6]")
        proc.write(b"exit\r")
        out += read_until(proc, b"\x00", timeout=20)
    for bad in (b"\x1b]52", b"cm0gLXJmIH4=", b"\x1b[2J", b"\x07"):
        assert bad not in out, bad
    assert b"open: 0" in out  # running it decided the suggestion
