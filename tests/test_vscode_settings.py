"""SPEC §2, issue 11: "Devscode: Telemetry Enabled" and VS Code's telemetry level, wherever the
settings are (user data folders of VS Code and its forks on Linux, macOS and Windows, profiles,
remote servers, a workspace above the working directory, the admin policy). Read, never written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import clean_env, run_terminal_ipython, telemetry_of, write_config

from devscode_nb.ipython.banner import notice_text
from devscode_nb.telemetry.vscode_settings import (
    DEFAULT_POLICY,
    VSCodeSettings,
    VSCodeSettingsWatcher,
    places,
)

OFF = '{"devscode.telemetryEnabled": false}'
PLACES_NOTE = "(none found)"

# --- where: the pure path logic ------------------------------------------------------------------


def user_files(platform: str, env: dict[str, str], home: str = "/h") -> list[str]:
    found = places(platform, env, Path(home), None, Path("/p/policy.json"))
    return [str(p) for p, kind in found.files if kind == "user"]


def test_linux_defaults_cover_every_product_and_code_server():
    files = user_files("linux", {})
    for product in ("Code", "Code - Insiders", "VSCodium", "Cursor", "Windsurf"):
        assert f"/h/.config/{product}/User/settings.json" in files
    assert "/h/.local/share/code-server/User/settings.json" in files


def test_linux_honours_xdg_appdata_and_portable_and_keeps_the_default_too():
    env = {"XDG_CONFIG_HOME": "/x", "VSCODE_APPDATA": "/a", "VSCODE_PORTABLE": "/port"}
    files = user_files("linux", {**env, "XDG_DATA_HOME": "/d"})
    assert files[0] == "/port/user-data/User/settings.json"
    for root in ("/a", "/x", "/h/.config"):
        assert f"{root}/Code/User/settings.json" in files
    assert "/d/code-server/User/settings.json" in files


def test_macos_and_windows_layouts():
    mac = user_files("darwin", {})
    assert "/h/Library/Application Support/Code/User/settings.json" in mac
    assert "/h/Library/Application Support/Cursor/User/settings.json" in mac
    assert "/h/.config/Code/User/settings.json" not in mac
    win = user_files("win32", {"APPDATA": "/w/Roaming", "LOCALAPPDATA": "/w/Local"})
    assert "/w/Roaming/Code/User/settings.json" in win
    assert "/w/Roaming/Code - Insiders/User/settings.json" in win
    assert "/w/Local/code-server/Data/User/settings.json" in win
    no_appdata = user_files("win32", {"USERPROFILE": "/u"})
    assert "/u/AppData/Roaming/Windsurf/User/settings.json" in no_appdata


def test_remote_servers_workspace_chain_and_policy():
    found = places("linux", {"VSCODE_AGENT_FOLDER": "/agent"}, Path("/h"), Path("/a/b"), Path("/p"))
    by_kind: dict[str, list[str]] = {}
    for path, kind in found.files:
        by_kind.setdefault(kind, []).append(str(path))
    assert by_kind["machine"][0] == "/agent/data/Machine/settings.json"
    for server in (".vscode-server", ".vscode-server-insiders", ".cursor-server"):
        assert f"/h/{server}/data/Machine/settings.json" in by_kind["machine"]
    assert by_kind["workspace"] == [
        "/a/b/.vscode/settings.json",
        "/a/.vscode/settings.json",
        "/.vscode/settings.json",
    ]
    assert by_kind["policy"] == ["/p"]
    assert Path("/h/.config/Code/User/profiles") in found.profile_dirs
    assert places("linux", {}, Path("/h"), None).files[-1] == (DEFAULT_POLICY, "policy")


# --- fake homes: each place, for real on disk -----------------------------------------------------

# (platform, environment relative to the fake root, the settings file relative to the fake root)
LAYOUTS = [
    ("linux", {}, "home/.config/Code/User/settings.json"),
    ("linux", {}, "home/.config/Code - Insiders/User/settings.json"),
    ("linux", {}, "home/.config/VSCodium/User/settings.json"),
    ("linux", {}, "home/.config/Cursor/User/settings.json"),
    ("linux", {}, "home/.config/Windsurf/User/settings.json"),
    ("linux", {}, "home/.local/share/code-server/User/settings.json"),
    ("linux", {"XDG_CONFIG_HOME": "xdg"}, "xdg/Code/User/settings.json"),
    ("linux", {"VSCODE_APPDATA": "appdata"}, "appdata/Code/User/settings.json"),
    ("linux", {"VSCODE_PORTABLE": "portable"}, "portable/user-data/User/settings.json"),
    ("linux", {}, "home/.config/Code/User/profiles/-5c3d1a2b/settings.json"),
    ("linux", {}, "home/.vscode-server/data/Machine/settings.json"),
    ("linux", {}, "home/.vscode-server-insiders/data/Machine/settings.json"),
    ("linux", {}, "home/.cursor-server/data/Machine/settings.json"),
    ("linux", {"VSCODE_AGENT_FOLDER": "agent"}, "agent/data/Machine/settings.json"),
    ("linux", {}, "home/.local/share/code-server/Machine/settings.json"),
    ("darwin", {}, "home/Library/Application Support/Code/User/settings.json"),
    ("darwin", {}, "home/Library/Application Support/VSCodium/User/profiles/p1/settings.json"),
    ("darwin", {}, "home/.vscode-server/data/Machine/settings.json"),
    ("win32", {"APPDATA": "AppData/Roaming"}, "AppData/Roaming/Code/User/settings.json"),
    ("win32", {"APPDATA": "AppData/Roaming"}, "AppData/Roaming/Cursor/User/settings.json"),
    ("win32", {"USERPROFILE": "home"}, "home/AppData/Roaming/Windsurf/User/settings.json"),
    ("win32", {"LOCALAPPDATA": "local"}, "local/code-server/Data/User/settings.json"),
    ("win32", {}, "home/.vscode-server/data/Machine/settings.json"),
    ("linux", {}, "work/project/.vscode/settings.json"),  # the working directory itself
    ("linux", {}, "work/.vscode/settings.json"),  # a parent of it
]


def watcher_for(
    root: Path, platform: str = "linux", env: dict[str, str] | None = None, **kwargs
) -> VSCodeSettingsWatcher:
    """A watcher over a fake machine under ``root`` (home, cwd and policy inside it)."""
    cwd = root / "work" / "project"
    cwd.mkdir(parents=True, exist_ok=True)
    full_env = {k: str(root / v) for k, v in (env or {}).items()}
    kwargs.setdefault("interval", 0.0)
    return VSCodeSettingsWatcher(
        full_env,
        platform=platform,
        home=root / "home",
        cwd=lambda: cwd,
        policy=root / "etc" / "vscode" / "policy.json",
        **kwargs,
    )


def put(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(("platform", "env", "relative"), LAYOUTS)
def test_an_opt_out_in_each_place_is_found(tmp_path, platform, env, relative):
    watcher = watcher_for(tmp_path, platform, env)
    assert watcher.current().off is None
    path = put(tmp_path, relative, OFF)
    found = watcher.current().off
    assert found is not None and found.path == path
    assert found.reason == f"VS Code setting devscode.telemetryEnabled = false in {path}"


@pytest.mark.parametrize(
    "text",
    [
        '{"devscode.telemetryEnabled": false}',
        '{"devscode": {"telemetryEnabled": false}}',
        '// mine\n{\n  "editor.fontSize": 14, /* big */\n  "devscode.telemetryEnabled": false,\n}',
        '{"devscode": {"telemetryEnabled": true}, "devscode.telemetryEnabled": false}',
    ],
    ids=["flat", "nested", "jsonc", "flat-beats-nested-true"],
)
def test_flat_nested_and_jsonc_keys(tmp_path, text):
    put(tmp_path, "home/.config/Code/User/settings.json", text)
    assert watcher_for(tmp_path).current().off is not None


@pytest.mark.parametrize(
    ("settings", "off"),
    [
        ('{"telemetry.telemetryLevel": "all"}', None),
        ('{"telemetry.telemetryLevel": "error"}', 'telemetry.telemetryLevel = "error"'),
        ('{"telemetry.telemetryLevel": "crash"}', 'telemetry.telemetryLevel = "crash"'),
        ('{"telemetry.telemetryLevel": "off"}', 'telemetry.telemetryLevel = "off"'),
        ('{"telemetry": {"telemetryLevel": "off"}}', 'telemetry.telemetryLevel = "off"'),
        ('{"telemetry.enableTelemetry": false}', "telemetry.enableTelemetry = false"),
        ('{"telemetry.enableCrashReporter": false}', "telemetry.enableCrashReporter = false"),
        ('{"telemetry.enableTelemetry": true, "telemetry.enableCrashReporter": true}', None),
        ('{"devscode.telemetryEnabled": true}', None),
        ('{"devscode.telemetryEnabled": "false"}', None),  # not a boolean: VS Code ignores it
        ("{}", None),
    ],
)
def test_each_telemetry_level_in_the_user_settings(tmp_path, settings, off):
    put(tmp_path, "home/.config/Code/User/settings.json", settings)
    found = watcher_for(tmp_path).current()
    assert len(found.files) == 1
    if off is None:
        assert found.off is None
    else:
        assert found.off is not None
        assert found.off.reason.startswith(f"VS Code setting {off} in ")


@pytest.mark.parametrize(
    "relative", ["work/.vscode/settings.json", "home/.vscode-server/data/Machine/settings.json"]
)
def test_the_telemetry_level_counts_only_where_vscode_reads_it(tmp_path, relative):
    """telemetry.* are application settings: VS Code ignores them in workspace and machine
    settings, so do we; "Devscode: Telemetry Enabled" counts there."""
    put(tmp_path, relative, '{"telemetry.telemetryLevel": "off"}')
    watcher = watcher_for(tmp_path)
    assert watcher.current().off is None
    put(
        tmp_path,
        relative,
        '{"telemetry.telemetryLevel": "off", "devscode.telemetryEnabled": false}',
    )
    assert watcher.current().off is not None


@pytest.mark.parametrize(
    ("policy", "reason"),
    [
        ('{"TelemetryLevel": "off"}', 'VS Code policy TelemetryLevel = "off"'),
        ('{"TelemetryLevel": "crash"}', 'VS Code policy TelemetryLevel = "crash"'),
        ('{"TelemetryLevel": "all"}', None),
        (
            '{"telemetry.telemetryLevel": "error"}',
            'VS Code setting telemetry.telemetryLevel = "error"',
        ),
        (
            '{"devscode.telemetryEnabled": false}',
            "VS Code setting devscode.telemetryEnabled = false",
        ),
    ],
)
def test_the_policy_file(tmp_path, policy, reason):
    path = put(tmp_path, "etc/vscode/policy.json", policy)
    found = watcher_for(tmp_path).current()
    assert [f.kind for f in found.files] == ["policy"]
    if reason is None:
        assert found.off is None
    else:
        assert found.off is not None and found.off.reason == f"{reason} in {path}"


def test_a_profile_created_while_running_is_found(tmp_path):
    put(tmp_path, "home/.config/Code/User/settings.json", "{}")
    watcher = watcher_for(tmp_path)
    assert watcher.current().off is None
    path = put(tmp_path, "home/.config/Code/User/profiles/7a1b/settings.json", OFF)
    assert watcher.current().off.path == path  # the profiles folder changed: listed again


# --- files that cannot be used ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ('{"devscode.telemetryEnabled": false', "is not valid JSON"),
        ("[1, 2]", "does not hold a JSON object"),
        (b"\xff\xfe{}", "is not UTF-8"),
        ("x" * (1024 * 1024 + 1), "too large"),
    ],
    ids=["truncated", "array", "binary", "huge"],
)
def test_an_unreadable_file_is_reported_and_is_not_an_opt_out(tmp_path, content, why):
    path = tmp_path / "home/.config/Code/User/settings.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    found = watcher_for(tmp_path).current()
    assert found.off is None
    (finding,) = found.files
    assert finding.error is not None and str(path) in finding.error and why in finding.error


def test_an_unreadable_file_does_not_hide_an_opt_out_elsewhere(tmp_path):
    put(tmp_path, "home/.config/Code/User/settings.json", "{ oops")
    off = put(tmp_path, "home/.config/Cursor/User/settings.json", OFF)
    assert watcher_for(tmp_path).current().off.path == off


def test_a_fifo_or_a_folder_in_place_of_settings_never_blocks(tmp_path):
    fifo = tmp_path / "home/.config/Code/User/settings.json"
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    (tmp_path / "work/.vscode/settings.json").mkdir(parents=True)
    found = watcher_for(tmp_path).current()
    assert found.off is None
    assert sorted(f.error for f in found.files) == sorted(
        [
            f"{fifo} is not a regular file",
            f"{tmp_path}/work/.vscode/settings.json is not a regular file",
        ]
    )


def test_threads_checking_while_a_file_is_rewritten_never_fail(tmp_path):
    """The transport thread and the cell thread both ask; a check in progress is not waited
    for, and whatever is half-written in between is at worst "could not be read"."""
    import threading

    path = put(tmp_path, "home/.config/Code/User/settings.json", "{}")
    watcher = watcher_for(tmp_path)
    seen: list[VSCodeSettings] = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            for _ in range(100):
                seen.append(watcher.current())
        except BaseException as err:  # pragma: no cover - the assertion below reports it
            errors.append(err)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for i in range(200):
        path.write_text(OFF if i % 2 else '{"devscode.telemetryEnabled": true}')
    for thread in threads:
        thread.join(60)
    assert errors == [] and len(seen) == 600
    path.write_text('{"telemetry.telemetryLevel": "off"}')
    assert watcher.current().off.reason.startswith("VS Code setting telemetry.telemetryLevel")


# --- cost: a few stats, at most once per interval -----------------------------------------------

_AUDIT: list[tuple[str, str]] = []
_AUDITING = False


def _audit(event: str, args: tuple) -> None:
    if _AUDITING and event in ("open", "os.scandir", "os.listdir"):
        _AUDIT.append((event, str(args[0]) if args else ""))


sys.addaudithook(_audit)


@contextlib.contextmanager
def audited() -> Iterator[list[tuple[str, str]]]:
    global _AUDITING
    _AUDIT.clear()
    _AUDITING = True
    try:
        yield _AUDIT
    finally:
        _AUDITING = False


def twenty_settings_files(root: Path) -> list[Path]:
    files = [put(root, f"home/.config/{p}/User/settings.json", "{}") for p in ("Code", "Cursor")]
    files += [
        put(root, f"home/.config/Code/User/profiles/p{i}/settings.json", "{}") for i in range(16)
    ]
    files += [put(root, "work/.vscode/settings.json", '{"editor.tabSize": 2}')]
    files += [put(root, "home/.vscode-server/data/Machine/settings.json", "{}")]
    return files


def test_unchanged_files_are_only_stat_ed_and_folders_are_not_listed_per_check(tmp_path):
    files = twenty_settings_files(tmp_path)
    clock = [0.0]
    watcher = watcher_for(tmp_path, interval=1.0, clock=lambda: clock[0])
    with audited() as first:
        assert len(watcher.current().files) == 20
    assert len([e for e in first if e[0] == "open"]) == 20  # each read once
    with audited() as later:
        for _ in range(59):
            clock[0] += 1.0
            watcher.current()
    assert later == []  # no file opened, no folder listed: stats only
    assert watcher.checks == 60
    with audited() as minute:
        for _ in range(59):
            clock[0] += 1.0
            watcher.current()
    profiles = str(tmp_path / "home/.config/Code/User/profiles")
    assert minute == [("os.scandir", profiles)]  # re-listed once a minute, as a safety net
    files[5].write_text(OFF)
    clock[0] += 1.0
    with audited() as changed:
        assert watcher.current().off.path == files[5]
    assert changed == [("open", str(files[5]))]  # only the changed file is read again


def test_at_most_one_check_per_interval(tmp_path):
    clock = [100.0]
    watcher = watcher_for(tmp_path, interval=1.0, clock=lambda: clock[0])
    for _ in range(1000):
        watcher.current()
        clock[0] += 0.0009
    assert watcher.checks == 1  # 0.9 s of calls
    clock[0] += 0.2
    watcher.current()
    assert watcher.checks == 2


def test_a_check_stats_each_place_once(tmp_path):
    """Measured with strace in a fresh process: one stat per place, nothing else per check."""
    strace = shutil.which("strace")
    assert strace, "strace is needed (apt-get install strace)"
    twenty_settings_files(tmp_path)
    script = tmp_path / "checks.py"
    script.write_text(
        "import sys, os\n"
        "from pathlib import Path\n"
        "from devscode_nb.telemetry.vscode_settings import VSCodeSettingsWatcher, places\n"
        f"root = Path({str(tmp_path)!r})\n"
        "cwd = root / 'work' / 'project'\n"
        "w = VSCodeSettingsWatcher({}, platform='linux', home=root / 'home', cwd=lambda: cwd,\n"
        "    policy=root / 'policy.json', interval=0)\n"
        "w.current()\n"
        "p = places('linux', {}, root / 'home', cwd, root / 'policy.json')\n"
        "print(len(p.files) + len(p.profile_dirs), flush=True)\n"
        "os.path.exists('/MARK-START')\n"
        "for _ in range(10):\n"
        "    w.current()\n"
        "os.path.exists('/MARK-END')\n"
    )
    trace = tmp_path / "trace"
    done = subprocess.run(
        [
            strace,
            "-f",
            "-qq",
            "-e",
            "trace=%stat,%file,getdents64",
            "-o",
            str(trace),
            sys.executable,
            str(script),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**clean_env(), "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert done.returncode == 0, done.stderr
    places_count = int(done.stdout.split()[0])
    lines = trace.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "/MARK-START" in line)
    end = next(i for i, line in enumerate(lines) if "/MARK-END" in line)
    calls = [line for line in lines[start + 1 : end] if "getcwd" not in line]
    profile_files = 16
    assert len(calls) == 10 * (places_count + profile_files), calls[:40]
    assert not [c for c in calls if "getdents" in c or "openat" in c]


# --- in a real shell: the decision, the status, the notice ----------------------------------------


def user_settings(home: Path, product: str = "Code") -> Path:
    """This machine's real Linux layout under the isolated HOME."""
    return home / ".config" / product / "User" / "settings.json"


def status_lines(shell, source: str = "VS Code settings") -> list[str]:
    return [line for line in telemetry_of(shell).status_text().splitlines() if source in line]


def test_the_status_says_none_found(make_shell):
    shell = make_shell(DevscodeTelemetry={"api_key": "phc_x"})
    (line,) = status_lines(shell)
    assert PLACES_NOTE in line and "VS Code and its forks" in line and "← off" not in line


def test_the_real_linux_layout_turns_a_shell_off_and_the_status_names_the_file(
    make_shell, isolated_home, capsys
):
    path = put(
        isolated_home,
        ".config/Code/User/settings.json",
        '{\n  // no\n  "devscode.telemetryEnabled": false,\n}',
    )
    shell = make_shell(DevscodeTelemetry={"api_key": "phc_x"})
    shell.run_cell("x = 1")
    assert capsys.readouterr().out == ""  # no notice: nothing would be sent
    decision = telemetry_of(shell).decision
    assert not decision.enabled
    assert decision.reason == f"VS Code setting devscode.telemetryEnabled = false in {path}"
    shell.run_line_magic("devscode", "telemetry status")
    out = capsys.readouterr().out
    assert (
        f"Devscode telemetry: OFF — VS Code setting devscode.telemetryEnabled = false in {path}"
        in out
    )
    (line,) = [x for x in out.splitlines() if "VS Code settings" in x]
    assert "devscode.telemetryEnabled = false" in line and str(path) in line and "← off" in line


def test_the_status_says_which_file_could_not_be_read(make_shell, isolated_home):
    bad = put(isolated_home, ".config/Cursor/User/settings.json", "{ half")
    good = put(
        isolated_home, ".config/Code/User/settings.json", '{"telemetry.telemetryLevel": "all"}'
    )
    shell = make_shell(DevscodeTelemetry={"api_key": "phc_x"})
    assert telemetry_of(shell).decision.enabled
    lines = status_lines(shell)
    assert any("could not be read" in x and str(bad) in x and "not valid JSON" in x for x in lines)
    assert any('telemetry.telemetryLevel = "all"' in x and str(good) in x for x in lines)


def test_a_workspace_above_the_working_directory_counts(make_shell, tmp_path, monkeypatch):
    put(tmp_path, "repo/.vscode/settings.json", '{"devscode": {"telemetryEnabled": false}}')
    deep = tmp_path / "repo" / "notebooks" / "2024"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    shell = make_shell(DevscodeTelemetry={"api_key": "phc_x"})
    assert "repo/.vscode/settings.json" in telemetry_of(shell).decision.reason


def test_no_notice_in_an_embedded_shell_when_vscode_says_off(make_shell, isolated_home, capsys):
    put(isolated_home, ".config/Code/User/settings.json", '{"telemetry.telemetryLevel": "off"}')
    shell = make_shell()
    shell.run_cell("1 + 1")
    assert "devscode" not in capsys.readouterr().out


@pytest.mark.parametrize("vscode", ["on", "off"])
def test_terminal_ipython_prints_no_notice_when_vscode_says_off(tmp_path, isolated_home, vscode):
    if vscode == "off":
        put(isolated_home, ".config/Code/User/settings.json", OFF)
    env = {**clean_env(), "HOME": str(isolated_home), "IPYTHONDIR": str(tmp_path / "ipython")}
    code = "%load_ext devscode_nb\n%devscode telemetry status\nimport sys\n"
    code += "print('posthog imported:', 'posthog' in sys.modules)"
    done = run_terminal_ipython(code, env)
    assert done.returncode == 0, done.stderr
    if vscode == "off":
        assert "posthog imported: False" in done.stdout
    notices = done.stdout.count(notice_text().splitlines()[0])
    assert notices == (vscode == "on")  # the control shows it; with VS Code's "off", nothing
    assert ("VS Code setting devscode.telemetryEnabled = false" in done.stdout) == (vscode == "off")


def snapshot(paths: list[Path]) -> dict[Path, tuple[bytes, int]]:
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in paths}


def test_nothing_is_ever_written_to_vscode_settings(make_shell, isolated_home, global_dir, capsys):
    texts = {
        ".config/Code/User/settings.json": '// user\n{"devscode.telemetryEnabled": true,}\n',
        ".config/Cursor/User/profiles/a/settings.json": '{"devscode": {"telemetryEnabled": true}}',
        ".vscode-server/data/Machine/settings.json": "{ not json",
        ".config/VSCodium/User/settings.json": "",
    }
    paths = [put(isolated_home, rel, text) for rel, text in texts.items()]
    before = snapshot(paths)
    time.sleep(0.01)
    shell = make_shell(DevscodeTelemetry={"api_key": "phc_x"})
    for line in ("telemetry status", "telemetry off", "telemetry on", "telemetry status"):
        shell.run_line_magic("devscode", line)
    telemetry_of(shell).opt_out()
    shell.run_cell("1 + 1")
    assert snapshot(paths) == before
    assert sorted(p.name for p in (isolated_home / ".config/Code/User").iterdir()) == [
        "settings.json"
    ]
    assert write_config  # config.json is where our own switch is saved, not here
    assert (global_dir / "config.json").exists()


# --- live: another process unchecks the box while a shell sends -----------------------------------


WRITER = """import os, sys
path = sys.argv[1]
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path + ".tmp", "w") as handle:  # as VS Code saves: write, then rename
    handle.write('{"editor.fontSize": 13, "devscode.telemetryEnabled": false}')
os.replace(path + ".tmp", path)
"""


@pytest.mark.parametrize("where", ["Code", "Code/User/profiles/x", "workspace"])
def test_an_opt_out_from_another_process_stops_sending_within_two_seconds(
    sending_shell, capture, isolated_home, tmp_path, where
):
    if where == "workspace":
        path = tmp_path / ".vscode" / "settings.json"
    else:
        path = isolated_home / ".config" / where / "User" / "settings.json"
        if "profiles" in where:
            path = isolated_home / ".config" / where / "settings.json"
            path.parent.mkdir(parents=True)
    telemetry = telemetry_of(sending_shell)
    telemetry.mark_notice_shown()
    telemetry.record("$pageview", {"$current_url": "devscode-nb://status"})
    assert len(capture.wait_for(1)) >= 1  # control: this shell sends
    subprocess.run([sys.executable, "-c", WRITER, str(path)], check=True, timeout=60)
    changed = time.monotonic()
    while telemetry.recorder.accepting and time.monotonic() - changed < 5:
        time.sleep(0.01)  # no cell runs: the transport's re-check notices
    assert not telemetry.recorder.accepting
    assert time.monotonic() - changed < 2.0
    before = len(capture.events)
    telemetry.record("$pageview", {"$current_url": "devscode-nb://help"})
    sending_shell.run_line_magic("devscode", "help")
    time.sleep(0.5)
    assert len(capture.events) == before


# --- the real /etc/vscode/policy.json (tests run as root) ---------------------------------------


@pytest.fixture
def real_policy() -> Iterator[Path]:
    """Make /etc/vscode/policy.json for one test and put back exactly what was there."""
    path = DEFAULT_POLICY
    folder_existed = path.parent.exists()
    old = path.read_bytes() if path.exists() else None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except PermissionError:
        pytest.fail(f"this test writes {path} and must run as root (CI does)")
    try:
        yield path
    finally:
        if old is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(old)
        if not folder_existed:
            with contextlib.suppress(OSError):
                path.parent.rmdir()


def test_the_real_policy_path_is_honoured(real_policy, make_shell):
    real_policy.write_text('{"TelemetryLevel": "off"}')
    try:
        shell = make_shell(DevscodeTelemetry={"api_key": "phc_x"})
        reason = telemetry_of(shell).decision.reason
    finally:
        real_policy.unlink()
    assert reason == 'VS Code policy TelemetryLevel = "off" in /etc/vscode/policy.json'


def test_no_settings_anywhere_is_none_found(tmp_path):
    assert watcher_for(tmp_path).current() == VSCodeSettings()
