"""Terminal IPython on a real pty: the model's answer reaches the terminal without its escape
sequences (OSC 52 clipboard write, OSC 0 window title, CSI 2J clear screen, SGR 8 conceal),
while its newlines, tabs and text do."""

from __future__ import annotations

import json
import sys
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


def test_escape_sequences_from_the_model_never_reach_the_terminal(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".devscode").mkdir(parents=True)
    # delivered in small pieces, so sequences are split across reads as on a real network
    pieces = [ANSWER[i : i + 5] for i in range(0, len(ANSWER), 5)]
    with ModelServer(answer=ANSWER, pieces=pieces, delay=0.002) as server:
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
            proc.write(b"%devscode ask hi\r")
            out = read_until(proc, b"In [3]")
            proc.write(b"exit\r")
            out += read_until(proc, b"\x00", timeout=20)  # to the end of the process
        finally:
            proc.terminate(force=True)
    assert server.requests and MARK.encode() in out
    for bad in FORBIDDEN:
        assert bad not in out, bad
    assert b"\tindented" in out and b"hiddenCONCEALED" in out  # the text itself is kept
