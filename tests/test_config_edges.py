"""config.json at the edges (SPEC §2): the shapes real files have, and files that are not ours
to read or to replace. Real files, a real FIFO, socket and device, real processes killed
mid-write, real shells; as root (CI), so read-only is decided by the mode bits."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import clean_env, run_terminal_ipython, write_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devscode_nb.config_file import (
    MAX_CONFIG_BYTES,
    ConfigError,
    parse_jsonc,
    read_config,
    set_config_value,
    set_top_level_value,
    tidy_global_dir,
)

KEY = "allowAnonymousTelemetry"
LINES = [
    "// Devscode settings",
    "{",
    '  "models": [',
    '    {"title": "GPT", "provider": "openai", "model": "gpt-4o", "apiKey": "sk-xyz"}, // work',
    "  ],",
    '  "tabAutocompleteModel": {"title": "x"} /* tab */',
    "}",
    "",
]


def _line_breaks(text: str) -> set[str]:
    found = set()
    i = 0
    while i < len(text):
        if text.startswith("\r\n", i):
            found.add("\r\n")
            i += 2
            continue
        if text[i] in "\r\n":
            found.add(text[i])
        i += 1
    return found


# --- line endings and the shapes comment-json reads ---------------------------------------------


@pytest.mark.parametrize("nl", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
@pytest.mark.parametrize("shape", ["plain", "trailing-comma", "same-line-comment", "only-comments"])
def test_inserting_the_key_keeps_the_files_line_endings(nl, shape):
    lines = list(LINES)
    if shape == "trailing-comma":
        lines[5] = '  "tabAutocompleteModel": {"title": "x"}, // tab'
    elif shape == "same-line-comment":
        lines[5] = '  "tabAutocompleteModel": {"title": "x"} // tab'
    elif shape == "only-comments":
        lines = ["{", "  // nothing yet", "}", ""]
    text = nl.join(lines)
    edited = set_top_level_value(text, KEY, False)
    assert _line_breaks(edited) == {nl}
    assert parse_jsonc(edited) == {**parse_jsonc(text), KEY: False}
    assert len(edited.split(nl)) == len(text.split(nl)) + 1  # one line added, none merged


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=st.dictionaries(
        st.text(max_size=6).filter(lambda k: k != KEY and not set(k) & set("\r\n\u2028\u2029")),
        st.none() | st.booleans() | st.integers() | st.text(max_size=6),
        max_size=5,
    ),
    nl=st.sampled_from(["\n", "\r\n", "\r"]),
    comment=st.sampled_from(["", " // c", " /* c */"]),
    indent=st.sampled_from(["  ", "\t", "\u00a0\u00a0", "    "]),
)
def test_any_object_in_any_line_ending_gets_the_key_in_that_line_ending(
    config, nl, comment, indent
):
    items = [f"{indent}{json.dumps(k)}: {json.dumps(v)}" for k, v in config.items()]
    text = "{" + nl + ("," + comment + nl).join(items) + comment + nl + "}" + nl
    assert parse_jsonc(text) == config
    edited = set_top_level_value(text, KEY, True)
    assert parse_jsonc(edited) == {**config, KEY: True}
    assert _line_breaks(edited) == {nl}


@pytest.mark.parametrize(
    "text, expected",
    [
        ('\ufeff{\r\n  "a": 1\r\n}\r\n', {"a": 1}),  # BOM and CRLF (Windows editors)
        ('{\n\u00a0\u00a0"a": 1,\n\u00a0\u00a0"b": 2\n}\n', {"a": 1, "b": 2}),  # NBSP indent
        ('{\r  // a comment ends at a CR\r  "a": 1\r}\r', {"a": 1}),  # CR-only
        ('{\u2028  // ends at U+2028\u2028  "a": 1\u2029}', {"a": 1}),  # Unicode line breaks
        ('/*h*/{/*a*/"a"/*b*/:/*c*/1/*d*/,/*e*/}/*f*/', {"a": 1}),  # comments anywhere
        ('{"a": "// and /* stay text */"}', {"a": "// and /* stay text */"}),
    ],
)
def test_real_world_shapes_read_as_comment_json_reads_them(tmp_path, text, expected):
    path = tmp_path / "config.json"
    path.write_bytes(text.encode())
    assert read_config(path).data == expected
    set_config_value(path, KEY, False)
    edited = path.read_bytes().decode()
    assert parse_jsonc(edited) == {**expected, KEY: False}
    assert edited.startswith("\ufeff") == text.startswith("\ufeff")


def test_nbsp_indentation_is_kept_for_the_new_entry():
    text = '{\n\u00a0\u00a0"a": 1\n}\n'
    assert set_top_level_value(text, KEY, False) == (
        '{\n\u00a0\u00a0"a": 1,\n\u00a0\u00a0"allowAnonymousTelemetry": false\n}\n'
    )


# --- files that are not config files ------------------------------------------------------------


def _status_after_opt_out(path: Path) -> subprocess.CompletedProcess[str]:
    env = {**clean_env(), "HOME": str(path.parent.parent)}
    return run_terminal_ipython(
        "%load_ext devscode_nb\n%devscode telemetry off\n%devscode telemetry status\n"
        "%devscode models",
        env,
    )


def test_a_fifo_as_config_json_is_reported_never_read_or_written(isolated_home):
    path = isolated_home / ".devscode" / "config.json"
    path.parent.mkdir()
    os.mkfifo(path)
    started = time.monotonic()
    done = _status_after_opt_out(path)  # a hang would hit run_terminal_ipython's timeout
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert f"{path} is a FIFO (named pipe), not a regular file" in out
    assert "Devscode telemetry: OFF" in out
    assert out.count("is a FIFO (named pipe)") >= 2  # the assistant's models too, one line
    assert stat.S_ISFIFO(os.stat(path).st_mode)  # still the FIFO: never replaced
    assert time.monotonic() - started < 100


def test_a_socket_or_a_device_is_reported_never_opened(tmp_path):
    sock_path = tmp_path / "sock" / "config.json"
    sock_path.parent.mkdir()
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(sock_path))
        assert "is a socket, not a regular file" in (read_config(sock_path).error or "")
        with pytest.raises(
            ConfigError, match="is a socket, not a regular file; it is never read or written"
        ):
            set_config_value(sock_path, KEY, False)
    device = tmp_path / "dev" / "config.json"
    device.parent.mkdir()
    device.symlink_to("/dev/zero")  # endless if it were read
    assert "is a character device" in (read_config(device).error or "")
    with pytest.raises(ConfigError, match="character device"):
        set_config_value(device, KEY, False)
    assert device.is_symlink()


def test_a_2_mb_file_is_not_a_config_file(isolated_home):
    models = [{"title": f"m{i}", "provider": "ollama", "model": "llama3.1"} for i in range(40000)]
    text = json.dumps({"models": models}, indent=2)
    assert len(text) > 2 * MAX_CONFIG_BYTES
    path = write_config(isolated_home / ".devscode", text)
    before = path.read_bytes()
    done = _status_after_opt_out(path)
    out = done.stdout + done.stderr
    assert "too large to be a config file" in out and str(path) in out
    assert "Devscode telemetry: OFF" in out
    assert path.read_bytes() == before  # reported, never rewritten


# --- rewriting keeps what is the user's --------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root (CI is root)")
def test_a_rewrite_as_root_keeps_the_users_owner_group_and_mode(make_shell, global_dir):
    path = write_config(global_dir, "\n".join(LINES))
    os.chown(path, 1234, 1234)
    path.chmod(0o640)
    shell = make_shell()
    shell.run_line_magic("devscode", "telemetry off")
    st = os.stat(path)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 1234, 0o640)
    assert parse_jsonc(path.read_text())[KEY] is False


def test_a_read_only_file_is_not_replaced_and_the_opt_out_holds_here(
    make_shell, global_dir, capsys
):
    path = write_config(global_dir, "\n".join(LINES))
    path.chmod(0o444)
    before, inode = path.read_bytes(), os.stat(path).st_ino
    shell = make_shell()
    capsys.readouterr()
    shell.run_line_magic("devscode", "telemetry off")
    said = capsys.readouterr().out
    assert "Telemetry is off in this kernel" in said
    assert f"{path} is read-only (mode 0444), so it was not changed" in said
    assert path.read_bytes() == before and os.stat(path).st_ino == inode
    shell.run_line_magic("devscode", "telemetry status")
    assert "Devscode telemetry: OFF — turned off in this session" in capsys.readouterr().out


def test_a_read_only_global_dir_is_not_written(tmp_path):
    directory = tmp_path / "g"
    directory.mkdir()
    directory.chmod(0o555)
    try:
        with pytest.raises(ConfigError, match="is read-only"):
            set_config_value(directory / "config.json", KEY, True)
        assert list(directory.iterdir()) == []
    finally:
        directory.chmod(0o755)


def test_a_new_config_json_is_0600(tmp_path):
    old = os.umask(0o022)
    try:
        set_config_value(tmp_path / "new" / "config.json", KEY, False)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new" / "config.json").st_mode) == 0o600


# --- writers killed mid-write -------------------------------------------------------------------

WRITER = """\
import sys
from pathlib import Path
from devscode_nb.config_file import set_config_value
path = Path(sys.argv[1])
i = 0
while True:
    set_config_value(path, "allowAnonymousTelemetry", i % 2 == 0)
    i += 1
"""


def _temps(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.name.startswith(".config.json.")]


def test_temp_files_of_killed_writers_are_removed(make_shell, global_dir):
    """Writers (with a 900 KB config holding a key) killed the moment their temp file shows,
    until one left it behind; then loading the extension removes it, and the config is whole."""
    models = [{"title": f"m{i}", "model": "x", "apiKey": "sk-SECRET"} for i in range(12000)]
    text = json.dumps({"models": models})
    assert len(text) < MAX_CONFIG_BYTES
    path = write_config(global_dir, text)
    for _attempt in range(20):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], env=clean_env())
        deadline = time.monotonic() + 30
        while not _temps(global_dir) and time.monotonic() < deadline:
            pass
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if _temps(global_dir):
            break
    left = _temps(global_dir)
    assert left, "no writer was killed mid-write in 20 tries"
    make_shell()
    assert _temps(global_dir) == []
    assert parse_jsonc(path.read_text())["models"] == models  # the file itself is whole


def test_a_write_removes_temp_files_it_finds_under_the_lock(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{}")
    stale = tmp_path / ".config.json.abcd1234.tmp"
    stale.write_text('{"apiKey": "sk-SECRET"}')
    other = tmp_path / ".unrelated.tmp"
    other.write_text("not ours")
    set_config_value(path, KEY, False)
    assert not stale.exists() and other.exists()


def test_temp_files_of_a_live_writer_elsewhere_are_left_alone(make_shell, global_dir):
    """Our state file's temp, a second old, could belong to a kernel writing right now."""
    global_dir.mkdir(parents=True)
    young = global_dir / ".devscode_nb.json.abcd1234.tmp"
    young.write_text("{}")
    old = global_dir / ".devscode_nb.json.efgh5678.tmp"
    old.write_text("{}")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    make_shell()
    assert young.exists() and not old.exists()
    with contextlib.suppress(FileNotFoundError):
        young.unlink()


def test_a_fifo_where_the_global_dir_should_be_blocks_nothing(tmp_path):
    directory = tmp_path / "devscode"
    os.mkfifo(directory)
    assert tidy_global_dir(directory) == 0
    assert "cannot be read" in (read_config(directory / "config.json").error or "")
    with pytest.raises(ConfigError, match="could not be written"):
        set_config_value(directory / "config.json", KEY, False)
    assert stat.S_ISFIFO(os.stat(directory).st_mode)
