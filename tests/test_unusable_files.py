"""devscode_nb's own files that are not regular files, and temp files of killed writers.

A FIFO (or socket, device) where the state file, the payload log, an outbox batch or a lock file
should be is reported once and treated as unusable: nothing blocks. Each case runs the real
terminal IPython in a subprocess on a pseudo-terminal with a timeout, so a hang fails the test
instead of hanging the suite. Temp files of writers killed (SIGKILL) mid-write go at the next
load; a live writer's stay.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from capture_server import CaptureServer, refused_url
from conftest import clean_env, run_terminal_ipython, sending_profile

from devscode_nb.telemetry.outbox import OUTBOX_NAME
from devscode_nb.telemetry.state import LOG_NAME, STATE_NAME, LocalState, locked

BATCH = "00000000000000000001-1-aaaaaaaaaaaa.json"
HANG_S = float(os.environ.get("DEVSCODE_NB_TEST_HANG_S", "90"))  # a run takes ~2 s
LOG_TRIM_BYTES = 600 * 200 * 4  # PayloadLog trims above this (under the log's lock)

CELLS = """\
%load_ext devscode_nb
ip = get_ipython()
for i in range(3):
    ip.run_cell(f"x = {i} * 2")
ip.run_cell("%devscode telemetry log")
ip.run_cell("%devscode telemetry status")
ip.run_cell("%unload_ext devscode_nb")
print("FINISHED", "CELLS")
"""

# name -> (where the FIFO goes, relative to the global dir; whether delivery is refused)
CASES = {
    "state file": (STATE_NAME, False),
    "payload log": (LOG_NAME, False),
    "outbox batch": (f"{OUTBOX_NAME}/{BATCH}", False),
    "state lock": (STATE_NAME + ".lock", False),
    "log lock": (LOG_NAME + ".lock", False),
    "outbox lock": (OUTBOX_NAME + ".lock", True),  # refused: events go to the outbox at unload
}


def _run(tmp_path: Path, capture: CaptureServer, refused: bool) -> str:
    home = tmp_path / "home"
    env = {**clean_env(), "HOME": str(home), "IPYTHONDIR": str(tmp_path / "ipython")}
    sending_profile(env, capture, **({"host": refused_url()} if refused else {}))
    done = run_terminal_ipython(CELLS, env, timeout=HANG_S)  # a hang ends it: the test fails
    out = done.stdout + done.stderr
    assert "FINISHED CELLS" in out and done.returncode == 0, out[-3000:]
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_a_fifo_for_one_of_our_files_blocks_nothing_and_is_reported_once(
    tmp_path: Path, isolated_home: Path, case: str
) -> None:
    where, refused = CASES[case]
    directory = isolated_home / ".devscode"
    fifo = directory / where
    fifo.parent.mkdir(parents=True, mode=0o700)
    os.mkfifo(fifo, 0o600)
    log = directory / LOG_NAME
    if case == "log lock":  # big enough that the next write trims it, under the lock
        log.write_text((json.dumps({"junk": "x" * 100}) + "\n") * (LOG_TRIM_BYTES // 100))
    with CaptureServer() as capture:
        out = _run(tmp_path, capture, refused)
        events = capture.events
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # never replaced, never removed
    assert out.count(f"{fifo} is a FIFO (named pipe), not a regular file") == 1, out[-3000:]
    assert "Traceback" not in out
    if refused:
        batches = [p for p in (directory / OUTBOX_NAME).iterdir() if p.suffix == ".json"]
        assert batches, "the undelivered events were not kept in the outbox"
    else:
        assert events, "nothing was delivered"
        assert len({e["distinct_id"] for e in events}) == 1  # one id, kept in memory if need be
    if case == "payload log":  # shown from this kernel's memory instead
        assert "No telemetry payloads recorded yet." not in out
        assert '"distinct_id"' in out
    if case == "log lock":
        assert log.stat().st_size < LOG_TRIM_BYTES  # trimmed without the lock


@pytest.fixture
def short_global_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A global dir with a short path: a socket's path must fit in 108 bytes."""
    directory = Path(tempfile.mkdtemp(prefix="dnb-"))
    monkeypatch.setenv("DEVSCODE_GLOBAL_DIR", str(directory))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_a_device_or_a_socket_for_our_files_is_never_opened(make_shell, short_global_dir, capsys):
    """The state file a symlink to /dev/zero (endless if read), the log a socket: both are
    reported once, neither is replaced, and the log is shown from this kernel's memory."""
    global_dir = short_global_dir
    (global_dir / STATE_NAME).symlink_to("/dev/zero")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(global_dir / LOG_NAME))
        shell = make_shell()
        for i in range(3):
            shell.run_cell(f"x = {i}")
        shell.run_line_magic("devscode", "telemetry log")
        shell.run_cell("y = 1")
        captured = capsys.readouterr()
    said = captured.out + captured.err
    assert said.count(f"{global_dir / STATE_NAME} is a character device") == 1
    assert said.count(f"{global_dir / LOG_NAME} is a socket") == 1
    assert "No telemetry payloads recorded yet." not in said and '"distinct_id"' in said
    assert (global_dir / STATE_NAME).is_symlink()
    assert stat.S_ISSOCK(os.lstat(global_dir / LOG_NAME).st_mode)


# --- temp files of writers killed mid-write -----------------------------------------------------

STATE_WRITER = """\
import sys
from pathlib import Path
from devscode_nb.telemetry.state import LocalState
state = LocalState(Path(sys.argv[1]))
i = 0
while True:
    state.set_notice(i, "acknowledged")
    i += 1
"""

OUTBOX_WRITER = """\
import sys
from pathlib import Path
from devscode_nb.telemetry.outbox import Outbox
outbox = Outbox(Path(sys.argv[1]))
batch = [{"uuid": str(i), "event": "x", "properties": {"pad": "y" * 400}} for i in range(4000)]
while True:
    outbox.add(batch)
"""


def _kill_mid_write(script: str, global_dir: Path, directory: Path, temps: str) -> list[Path]:
    """Start a writer, SIGKILL it the moment a temp file shows in ``directory``; until one is
    left behind."""
    for _attempt in range(30):
        proc = subprocess.Popen([sys.executable, "-c", script, str(global_dir)], env=clean_env())
        try:
            deadline = time.monotonic() + 10
            while not list(directory.glob(temps)) and time.monotonic() < deadline:
                pass
        finally:  # never left running, whatever happens to the test
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        left = list(directory.glob(temps))
        if left:
            return left
    raise AssertionError("no writer was killed mid-write in 30 tries")


def test_the_state_files_temp_left_by_a_killed_writer_goes_at_the_next_load(
    make_shell, global_dir
):
    global_dir.mkdir(parents=True)
    kept = LocalState(global_dir).anonymous_id()  # so the loaded session has nothing to write
    left = _kill_mid_write(STATE_WRITER, global_dir, global_dir, f".{STATE_NAME}.*.tmp")
    assert all(time.time() - p.stat().st_mtime < 60 for p in left)  # young: not by age
    make_shell()
    assert list(global_dir.glob(f".{STATE_NAME}.*.tmp")) == []
    assert json.loads((global_dir / STATE_NAME).read_text())["anonymousId"] == kept  # whole


def test_a_live_state_writers_temp_is_left_alone(make_shell, global_dir):
    """While another process holds the state file's lock, a young temp file may be its."""
    global_dir.mkdir(parents=True)
    young = global_dir / f".{STATE_NAME}.abcd1234.tmp"
    young.write_text("{}")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path\n"
            "from devscode_nb.telemetry.state import locked\n"
            "with locked(Path(sys.argv[1])):\n"
            "    print('held', flush=True); time.sleep(60)",
            str(global_dir / STATE_NAME),
        ],
        env=clean_env(),
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        make_shell()
        assert young.exists()
    finally:
        holder.kill()
        holder.wait()
    with locked(global_dir / STATE_NAME) as held:  # released with its process
        assert held


def test_the_outboxs_temp_left_by_a_killed_writer_goes_at_the_next_load(make_shell, global_dir):
    global_dir.mkdir(parents=True)
    outbox = global_dir / OUTBOX_NAME
    outbox.mkdir(mode=0o700)
    left = _kill_mid_write(OUTBOX_WRITER, global_dir, outbox, ".*.tmp")
    assert all(time.time() - p.stat().st_mtime < 60 for p in left)  # young: not by age
    live = outbox / f".{os.getpid()}-livewriter.tmp"  # this process is alive: a live writer
    live.write_text("{}")
    old = outbox / ".unnamed.tmp"  # an older version's name: only its age counts
    old.write_text("{}")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    young_unnamed = outbox / ".other.tmp"
    young_unnamed.write_text("{}")
    make_shell()
    remaining = sorted(p.name for p in outbox.glob(".*.tmp"))
    assert remaining == sorted([live.name, young_unnamed.name])
    for path in (live, young_unnamed):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
