"""config.json is the user's file: read as JSONC, edited one value at a time, never corrupted."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from devscode_nb.config_file import (
    ConfigError,
    ConfigWatcher,
    global_dir,
    parse_jsonc,
    read_config,
    set_config_value,
    set_top_level_value,
)

KEY = "allowAnonymousTelemetry"

COMMENTED = """\
// Devscode settings — edited by hand
{
  /* the models I use */
  "models": [
    {"title": "GPT", "provider": "openai", "model": "gpt-4o", "apiKey": "sk-xyz"}, // work
  ],
  "allowAnonymousTelemetry": true, // I'm fine with this
  "tabAutocompleteModel": {"title": "x", "url": "http://a//b"},
}
"""


def test_reading_accepts_comments_and_trailing_commas():
    data = parse_jsonc(COMMENTED)
    assert data[KEY] is True
    assert data["models"][0]["title"] == "GPT"
    assert data["tabAutocompleteModel"]["url"] == "http://a//b"  # `//` inside a string stays


def test_comment_markers_inside_strings_are_text():
    assert parse_jsonc('{"a": "/* not a comment */", "b": "x // y"}') == {
        "a": "/* not a comment */",
        "b": "x // y",
    }


def test_global_dir_follows_the_environment(tmp_path, isolated_home):
    assert global_dir({}) == isolated_home / ".devscode"
    assert global_dir({"DEVSCODE_GLOBAL_DIR": str(tmp_path / "g")}) == tmp_path / "g"


@pytest.mark.parametrize("value", [False, True])
def test_changing_the_value_keeps_every_other_byte(value):
    edited = set_top_level_value(COMMENTED, KEY, value)
    literal = "true" if value else "false"
    assert edited == COMMENTED.replace('"allowAnonymousTelemetry": true', f'"{KEY}": {literal}')
    assert parse_jsonc(edited)[KEY] is value


def test_a_missing_key_is_inserted_and_nothing_else_moves():
    text = '{\n    "models": [],  // none yet\n    "theme": "dark"\n}\n'
    edited = set_top_level_value(text, KEY, False)
    assert (
        edited
        == '{\n    "models": [],  // none yet\n    "theme": "dark",\n'
        '    "allowAnonymousTelemetry": false\n}\n'
    )


def test_insertion_after_a_trailing_comma_and_a_same_line_comment():
    text = '{\n  "a": 1, // one\n}\n'
    assert (
        set_top_level_value(text, KEY, False)
        == '{\n  "a": 1, // one\n  "allowAnonymousTelemetry": false,\n}\n'
    )
    text = '{\n  "a": 1 // one\n}\n'
    assert (
        set_top_level_value(text, KEY, False)
        == '{\n  "a": 1, // one\n  "allowAnonymousTelemetry": false\n}\n'
    )


def test_nested_keys_of_the_same_name_are_not_touched():
    text = '{"inner": {"allowAnonymousTelemetry": true}, "allowAnonymousTelemetry": true}'
    edited = set_top_level_value(text, KEY, False)
    assert (
        edited == '{"inner": {"allowAnonymousTelemetry": true}, "allowAnonymousTelemetry": false}'
    )


@pytest.mark.parametrize("text", ["", "   \n", "{}", "{ /* only a comment */ }"])
def test_empty_files_and_objects_get_the_key(text):
    assert parse_jsonc(set_top_level_value(text, KEY, False)) == {KEY: False}


def test_the_file_and_folder_are_created_when_missing(tmp_path):
    path = tmp_path / "new" / ".devscode" / "config.json"
    set_config_value(path, KEY, False)
    assert json.loads(path.read_text()) == {KEY: False}


def test_a_corrupt_file_is_never_rewritten(tmp_path):
    path = tmp_path / "config.json"
    corrupt = b'{"models": [ {"title": "x", }, \n  oops'
    path.write_bytes(corrupt)
    with pytest.raises(ConfigError, match="could not be parsed") as err:
        set_config_value(path, KEY, False)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert path.read_bytes() == corrupt
    assert read_config(path).error is not None


@pytest.mark.parametrize(
    "content, why",
    [(b"\xff\xfe\x00garbage", "UTF-8"), (b"[1, 2]", "object"), (b"{", "not valid JSON")],
)
def test_unusable_files_are_explained_with_the_path(tmp_path, content, why):
    path = tmp_path / "config.json"
    path.write_bytes(content)
    reading = read_config(path)
    assert why in reading.error and str(path) in reading.error


def test_a_directory_in_place_of_the_file_is_an_error_not_a_crash(tmp_path):
    (tmp_path / "config.json").mkdir()
    assert "directory" in read_config(tmp_path / "config.json").error
    with pytest.raises(ConfigError):
        set_config_value(tmp_path / "config.json", KEY, False)


def test_an_unwritable_global_dir_gives_one_clear_error(tmp_path):
    # A regular file where the folder should be: unwritable for root too.
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="could not be written") as err:
        set_config_value(blocker / "config.json", KEY, False)
    assert "\n" not in str(err.value)


def test_a_symlinked_config_stays_a_symlink(tmp_path):
    real = tmp_path / "dotfiles" / "devscode.json"
    real.parent.mkdir()
    real.write_text('{"a": 1}')
    link = tmp_path / "config.json"
    link.symlink_to(real)
    set_config_value(link, KEY, False)
    assert link.is_symlink()
    assert json.loads(real.read_text()) == {"a": 1, KEY: False}


def test_the_mode_of_the_file_is_kept(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{}")
    path.chmod(0o600)
    set_config_value(path, KEY, False)
    assert path.stat().st_mode & 0o777 == 0o600


def test_two_processes_toggling_at_once_never_corrupt_the_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(COMMENTED)
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from devscode_nb.config_file import set_config_value\n"
        "for i in range(150):\n"
        f"    set_config_value(Path({str(path)!r}), {KEY!r}, (i + int(sys.argv[1])) % 2 == 0)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(n)]) for n in (0, 1)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    final = path.read_text()
    value = parse_jsonc(final)[KEY]
    literal = "true" if value else "false"
    assert final == COMMENTED.replace('"allowAnonymousTelemetry": true', f'"{KEY}": {literal}')
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_the_watcher_parses_only_when_the_file_changed(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"allowAnonymousTelemetry": true}')
    watcher = ConfigWatcher(path)
    first = watcher.current()
    assert all(watcher.current() is first for _ in range(50))  # stat only: the same reading
    path.write_text('{"allowAnonymousTelemetry": false}  ')
    assert watcher.current() is not first
    assert watcher.current().get(KEY) is False


def test_the_watcher_sees_the_file_appear_and_disappear(tmp_path):
    path = tmp_path / "config.json"
    watcher = ConfigWatcher(path)
    assert not watcher.current().exists
    path.write_text('{"allowAnonymousTelemetry": false}')
    assert watcher.current().get(KEY) is False
    path.unlink()
    assert not watcher.current().exists


def test_a_huge_file_is_refused_not_parsed(tmp_path):
    path = tmp_path / "config.json"
    with open(path, "wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    assert "too large" in read_config(path).error
    with pytest.raises(ConfigError, match="too large"):
        set_config_value(path, KEY, False)
    assert os.path.getsize(path) == 50 * 1024 * 1024
