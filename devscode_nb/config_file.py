"""The Devscode global dir and its ``config.json``: JSONC reading, byte-preserving edits.

``config.json`` belongs to the user and to the Devscode IDE extension, which parses it as JSON with
comments. We read it leniently, and when we must change it we change exactly one value and leave
every other byte alone, atomically and under a lock so that two kernels never corrupt it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GLOBAL_DIR_ENV = "DEVSCODE_GLOBAL_DIR"
CONFIG_NAME = "config.json"
MAX_CONFIG_BYTES = 8 * 1024 * 1024  # far above any real config; bounds a pathological file


class ConfigError(Exception):
    """The file cannot be read or edited; ``str()`` is one line naming the path."""


def global_dir(env: Mapping[str, str] = os.environ) -> Path:
    """``$DEVSCODE_GLOBAL_DIR`` if set, else ``~/.devscode`` (as the IDE extension does)."""
    configured = env.get(GLOBAL_DIR_ENV, "").strip()
    if configured:
        return Path(os.path.expanduser(configured))
    return Path(os.path.expanduser("~")) / ".devscode"


def config_path(env: Mapping[str, str] = os.environ) -> Path:
    return global_dir(env) / CONFIG_NAME


# --- JSONC -------------------------------------------------------------------------------------


def _blank_comments(text: str) -> str:
    """Replace comments by spaces (newlines kept) so offsets and line numbers stay true."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j == -1 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j == -1:
                raise ValueError(f"unterminated /* comment at offset {i}")
            out.append("".join(c if c == "\n" else " " for c in text[i : j + 2]))
            i = j + 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _blank_trailing_commas(text: str) -> str:
    """Drop commas that are followed only by white space and a closing bracket."""
    chars = list(text)
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif ch == ",":
            j = i + 1
            while j < n and text[j] in " \t\r\n":
                j += 1
            if j < n and text[j] in "}]":
                chars[i] = " "
        i += 1
    return "".join(chars)


def parse_jsonc(text: str) -> Any:
    """Parse JSON with ``//`` and ``/* */`` comments and trailing commas, like the IDE does."""
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        return json.loads(_blank_trailing_commas(_blank_comments(text)))
    except json.JSONDecodeError as err:
        raise ValueError(f"line {err.lineno}, column {err.colno}: {err.msg}") from None


# --- Reading, with a cheap change check ---------------------------------------------------------


@dataclass(frozen=True)
class ConfigRead:
    """One reading of ``config.json``: its data, or why it could not be used."""

    path: Path
    exists: bool
    data: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None  # one line for the user, naming the path

    def get(self, key: str) -> Any:
        return self.data.get(key) if self.error is None else None


def read_config(path: Path) -> ConfigRead:
    """Read and parse; never raises. A file that cannot be used carries ``error``."""
    try:
        if path.is_dir():
            return ConfigRead(path, True, error=f"{path} is a directory, not a JSON file")
        if path.stat().st_size > MAX_CONFIG_BYTES:
            return ConfigRead(path, True, error=f"{path} is too large to be a config file")
        raw = path.read_bytes()
    except FileNotFoundError:
        return ConfigRead(path, False)
    except OSError as err:
        return ConfigRead(path, True, error=f"{path} cannot be read ({err.strerror or err})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return ConfigRead(path, True, error=f"{path} is not UTF-8 text")
    if not text.strip():
        return ConfigRead(path, True)
    try:
        data = parse_jsonc(text)
    except (ValueError, RecursionError) as err:
        return ConfigRead(path, True, error=f"{path} is not valid JSON ({err})")
    if not isinstance(data, dict):
        return ConfigRead(path, True, error=f"{path} does not hold a JSON object")
    return ConfigRead(path, True, data=data)


class ConfigWatcher:
    """Re-reads ``config.json`` only when its stat signature changes: a stat per check."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._signature: tuple[int, int, int, int] | None = None
        self._reading: ConfigRead = ConfigRead(path, False)
        self._read_once = False

    def _stat(self) -> tuple[int, int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_mode)

    def current(self) -> ConfigRead:
        signature = self._stat()
        if not self._read_once or signature != self._signature:
            self._signature = signature
            self._reading = read_config(self.path)
            self._read_once = True
        return self._reading


# --- Editing ------------------------------------------------------------------------------------


def _skip_ws(clean: str, i: int) -> int:
    while i < len(clean) and clean[i] in " \t\r\n":
        i += 1
    return i


def _end_of_value(clean: str, i: int) -> int:
    """Offset just past the JSON value starting at ``i`` (in comment-blanked text)."""
    ch = clean[i]
    if ch == '"':
        j = i + 1
        while clean[j] != '"':
            j += 2 if clean[j] == "\\" else 1
        return j + 1
    if ch in "{[":
        depth, j = 0, i
        while True:
            c = clean[j]
            if c == '"':
                j = _end_of_value(clean, j)
                continue
            if c in "{[":
                depth += 1
            elif c in "}]":
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
    j = i
    while j < len(clean) and clean[j] not in ",}] \t\r\n":
        j += 1
    return j


@dataclass(frozen=True)
class _Member:
    key: str
    key_start: int
    value_start: int
    value_end: int


def _top_level_members(clean: str) -> tuple[int, int, list[_Member]]:
    """The top-level object's ``{`` and ``}`` offsets and its members (the text is valid)."""
    start = _skip_ws(clean, 0)
    members: list[_Member] = []
    i = _skip_ws(clean, start + 1)
    while clean[i] != "}":
        key_end = _end_of_value(clean, i)
        key = json.loads(clean[i:key_end])
        colon = _skip_ws(clean, key_end)
        value_start = _skip_ws(clean, colon + 1)
        value_end = _end_of_value(clean, value_start)
        members.append(_Member(key, i, value_start, value_end))
        i = _skip_ws(clean, value_end)
        if clean[i] == ",":
            i = _skip_ws(clean, i + 1)
    return start, i, members


def set_top_level_value(text: str, key: str, value: Any) -> str:
    """Return ``text`` with ``key`` set to ``value``; every other byte stays as it was.

    Raises ``ValueError`` when the text is not a JSONC object (it is then never rewritten).
    """
    literal = json.dumps(value)
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom) :]
    if not body.strip():
        return f"{bom}{{\n  {json.dumps(key)}: {literal}\n}}\n"
    if not isinstance(parse_jsonc(body), dict):
        raise ValueError("the file does not hold a JSON object")
    clean = _blank_comments(body)
    open_brace, close_brace, members = _top_level_members(clean)
    matching = [m for m in members if m.key == key]
    if matching:
        for m in reversed(matching):
            body = body[: m.value_start] + literal + body[m.value_end :]
        return bom + body
    entry = f"{json.dumps(key)}: {literal}"
    if not members:
        inner = body[open_brace + 1 : close_brace]
        newline = "\n" if "\n" in body else ""
        if inner.strip():  # only comments inside: keep them, add the entry after them
            return bom + body[:close_brace].rstrip(" \t") + f"  {entry}\n" + body[close_brace:]
        return bom + body[: open_brace + 1] + f"{newline}  {entry}{newline}" + body[close_brace:]
    last = members[-1]
    line_start = body.rfind("\n", 0, last.key_start) + 1
    indent = body[line_start : last.key_start]
    indent = indent if not indent.strip() else "  "
    after = _skip_ws(clean, last.value_end)
    if clean[after] == ",":  # a trailing comma already separates: add after it (and its comment)
        eol = body.find("\n", after)
        at = eol if eol != -1 and not clean[after + 1 : eol].strip() else after + 1
        return bom + body[:at] + f"\n{indent}{entry}," + body[at:]
    if "\n" not in body[open_brace:close_brace]:
        return bom + body[: last.value_end] + ", " + entry + body[last.value_end :]
    eol = body.find("\n", last.value_end)
    if eol != -1 and not clean[last.value_end : eol].strip():  # keep a same-line comment in place
        return (
            bom
            + body[: last.value_end]
            + ","
            + body[last.value_end : eol]
            + (f"\n{indent}{entry}" + body[eol:])
        )
    return bom + body[: last.value_end] + f",\n{indent}" + entry + body[last.value_end :]


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An advisory lock on the global dir, so concurrent kernels edit one after the other."""
    try:
        import fcntl
    except ImportError:  # Windows: atomic replace still keeps the file whole
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory and rename, keeping the file's mode."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def set_config_value(path: Path, key: str, value: Any) -> None:
    """Set one top-level value in ``config.json``, creating file and folder when missing.

    Raises ``ConfigError`` (one line, with the path) when the file cannot be parsed or written;
    an unparseable file is left exactly as it was.
    """
    target = Path(os.path.realpath(path))  # edit through a symlink, keep the link
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _locked(target.parent):
            try:
                raw = target.read_bytes()
            except FileNotFoundError:
                raw = b""
            if len(raw) > MAX_CONFIG_BYTES:
                raise ConfigError(f"{path} is too large to be a config file; it was not changed")
            try:
                text = raw.decode("utf-8")
                new_text = set_top_level_value(text, key, value)
            except (UnicodeDecodeError, ValueError, RecursionError) as err:
                raise ConfigError(
                    f"{path} could not be parsed ({err}); it was not changed — fix it by hand"
                ) from None
            if new_text != text:
                atomic_write(target, new_text.encode("utf-8"))
    except ConfigError:
        raise
    except OSError as err:
        reason = err.strerror or str(err)
        raise ConfigError(f"{path} could not be written ({reason})") from None
