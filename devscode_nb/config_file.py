"""The Devscode global dir and its ``config.json``: JSONC reading, byte-preserving edits.

``config.json`` belongs to the user and to the Devscode IDE extension, which parses it with
comment-json (esprima's tokenizer): comments anywhere, trailing commas, a BOM, any Unicode white
space (no-break spaces as indentation) and any line terminator (CR-only files, U+2028). We read it
the same way, and when we must change it we change exactly one value and leave every other byte
alone — line endings included — atomically, under a lock, keeping owner, group and mode.

We only ever open regular files (a FIFO from a secret manager, a socket or a device is reported,
never read or written), never replace a read-only file, and a file over 1 MB is not a config file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GLOBAL_DIR_ENV = "DEVSCODE_GLOBAL_DIR"
CONFIG_NAME = "config.json"
MAX_CONFIG_BYTES = 1024 * 1024  # real configs are a few KB; above this it is not a config file
STALE_TEMP_S = 60.0  # a temp file of ours this old belongs to a writer that died


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


# White space and line terminators as esprima (hence comment-json, hence the IDE) reads them.
_LINE_BREAKS = "\n\r\u2028\u2029"
_EXTRA_SPACE = frozenset("\v\f\u00a0\ufeff\u1680\u202f\u205f\u3000\u2028\u2029") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)
_LINE_END = re.compile("[" + _LINE_BREAKS + "]")


_SPACE_CLASS = "".join(sorted(_EXTRA_SPACE))
_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"?'  # a string (to the end of the text if unterminated)
# Runs of text to keep are matched whole, so the callback runs per comment, not per string.
_TOKENS = re.compile(
    r"(?P<keep>(?:[^\"/" + _SPACE_CLASS + r"]+|" + _STRING + r"|/(?![/*]))+)"
    r"|//[^" + _LINE_BREAKS + r"]*"  # a line comment, up to any line terminator
    r"|/\*.*?\*/|/\*"  # a block comment, or an unterminated one
    r"|[" + _SPACE_CLASS + r"]",  # white space JSON does not know
    re.DOTALL,
)
_NOT_A_BREAK = re.compile(r"[^\r\n]")
_COMMAS = re.compile(r"(?P<keep>(?:[^\",]+|" + _STRING + r"|,(?![ \t\r\n]*[}\]]))+)|,", re.DOTALL)


def _blank(match: re.Match[str]) -> str:
    token = match.group()
    if match.group("keep") is not None:
        return token
    if token.startswith("/*"):
        if len(token) < 4 or not token.endswith("*/"):
            raise ValueError(f"unterminated /* comment at offset {match.start()}")
        return _NOT_A_BREAK.sub(" ", token)
    return " " * len(token)


def _blank_comments(text: str) -> str:
    """Comments, and white space JSON does not know, become spaces (line breaks kept), so
    offsets stay true and ``json`` can parse the rest."""
    return _TOKENS.sub(_blank, text)


def _blank_trailing_commas(text: str) -> str:
    """Drop commas that are followed only by white space and a closing bracket."""
    return _COMMAS.sub(lambda m: m.group() if m.group("keep") is not None else " ", text)


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


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def not_regular(path: Path, mode: int) -> str | None:
    """Why a file of this mode is not used, or ``None`` for a regular file."""
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    return f"{path} is {kind}, not a regular file; it is never read or written"


def _too_large(path: Path, size: int, limit: int = MAX_CONFIG_BYTES) -> str | None:
    if size <= limit:
        return None
    what = "to be a config file " if limit == MAX_CONFIG_BYTES else ""
    mb = f"{size / 1e6:.1f} MB; the limit is {limit / 2**20:g} MB"
    return f"{path} is too large {what}({mb}); it is never parsed or rewritten"


def open_regular(path: Path, flags: int = os.O_RDONLY, mode: int = 0o600) -> int:
    """A descriptor of the regular file at ``path``; never blocks, never opens a device.

    A FIFO, socket or device (or a symlink to one) raises ``ConfigError`` (one line, with the
    path) before it is opened, and again if the path was swapped for one meanwhile: the open is
    non-blocking, so a FIFO never holds the thread. ``flags`` may hold ``O_CREAT``. Raises
    ``FileNotFoundError`` or ``OSError`` too.
    """
    try:
        problem = not_regular(path, os.stat(path).st_mode)  # a device is never opened
    except FileNotFoundError:
        if not flags & os.O_CREAT:
            raise
        problem = None
    if problem:
        raise ConfigError(problem)
    extra = getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags | extra, mode)
    try:
        problem = not_regular(path, os.fstat(fd).st_mode)  # what was opened
        if problem:
            raise ConfigError(problem)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bytes_safely(path: Path, limit: int = MAX_CONFIG_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; never blocks on a FIFO.

    Raises ``FileNotFoundError``, ``ConfigError`` (one line, with the path) or ``OSError``.
    """
    fd = open_regular(path)
    try:
        problem = _too_large(path, os.fstat(fd).st_size, limit)
        if problem:
            raise ConfigError(problem)
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise ConfigError(_too_large(path, size, limit) or "")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_config(path: Path) -> ConfigRead:
    """Read and parse; never raises. A file that cannot be used carries ``error``."""
    try:
        raw = read_bytes_safely(path)
    except FileNotFoundError:
        return ConfigRead(path, False)
    except ConfigError as err:
        return ConfigRead(path, True, error=str(err))
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


_DECODER = json.JSONDecoder()


def _end_of_value(strict: str, i: int) -> int:
    """Offset just past the JSON value starting at ``i`` (in text with comments and trailing
    commas blanked, so plain JSON at the same offsets)."""
    return _DECODER.raw_decode(strict, i)[1]


@dataclass(frozen=True)
class _Member:
    key: str
    key_start: int
    value_start: int
    value_end: int


def _top_level_members(strict: str) -> tuple[int, int, list[_Member]]:
    """The top-level object's ``{`` and ``}`` offsets and its members (the text is valid)."""
    start = _skip_ws(strict, 0)
    members: list[_Member] = []
    i = _skip_ws(strict, start + 1)
    while strict[i] != "}":
        key_end = _end_of_value(strict, i)
        key = json.loads(strict[i:key_end])
        colon = _skip_ws(strict, key_end)
        value_start = _skip_ws(strict, colon + 1)
        value_end = _end_of_value(strict, value_start)
        members.append(_Member(key, i, value_start, value_end))
        i = _skip_ws(strict, value_end)
        if strict[i] == ",":
            i = _skip_ws(strict, i + 1)
    return start, i, members


def _newline(text: str) -> str:
    """The file's line ending, from its first line break (``\\n`` when it has none)."""
    found = _LINE_END.search(text)
    if found is None:
        return "\n"
    at = found.start()
    return "\r\n" if text.startswith("\r\n", at) else text[at]


def _line_start(text: str, i: int) -> int:
    return max(text.rfind(c, 0, i) for c in _LINE_BREAKS) + 1


def _line_end(text: str, i: int) -> int:
    """Offset of the line break ending the line at ``i`` (the CR of a CRLF), or -1."""
    found = _LINE_END.search(text, i)
    return -1 if found is None else found.start()


def set_top_level_value(text: str, key: str, value: Any) -> str:
    """Return ``text`` with ``key`` set to ``value``; every other byte stays as it was.

    An inserted entry uses the file's own line ending (LF, CRLF or CR) and indentation.
    Raises ``ValueError`` when the text is not a JSONC object (it is then never rewritten).
    """
    literal = json.dumps(value)
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom) :]
    nl = _newline(body)
    if not body.strip():
        return f"{bom}{{{nl}  {json.dumps(key)}: {literal}{nl}}}{nl}"
    if not isinstance(parse_jsonc(body), dict):
        raise ValueError("the file does not hold a JSON object")
    clean = _blank_comments(body)
    open_brace, close_brace, members = _top_level_members(_blank_trailing_commas(clean))
    matching = [m for m in members if m.key == key]
    if matching:
        for m in reversed(matching):
            body = body[: m.value_start] + literal + body[m.value_end :]
        return bom + body
    entry = f"{json.dumps(key)}: {literal}"
    multiline = _LINE_END.search(body, open_brace, close_brace) is not None
    if not members:
        inner = body[open_brace + 1 : close_brace]
        newline = nl if _LINE_END.search(body) else ""
        if inner.strip():  # only comments inside: keep them, add the entry after them
            return bom + body[:close_brace].rstrip(" \t") + f"  {entry}{nl}" + body[close_brace:]
        return bom + body[: open_brace + 1] + f"{newline}  {entry}{newline}" + body[close_brace:]
    last = members[-1]
    line_start = _line_start(body, last.key_start)
    indent = body[line_start : last.key_start]
    indent = indent if not indent.strip() else "  "
    after = _skip_ws(clean, last.value_end)
    if clean[after] == ",":  # a trailing comma already separates: add after it (and its comment)
        eol = _line_end(body, after)
        at = eol if eol != -1 and not clean[after + 1 : eol].strip() else after + 1
        return bom + body[:at] + f"{nl}{indent}{entry}," + body[at:]
    if not multiline:
        return bom + body[: last.value_end] + ", " + entry + body[last.value_end :]
    eol = _line_end(body, last.value_end)
    if eol != -1 and not clean[last.value_end : eol].strip():  # keep a same-line comment in place
        return (
            bom
            + body[: last.value_end]
            + ","
            + body[last.value_end : eol]
            + (f"{nl}{indent}{entry}" + body[eol:])
        )
    return bom + body[: last.value_end] + f",{nl}{indent}" + entry + body[last.value_end :]


@contextlib.contextmanager
def _locked(directory: Path, wait: bool = True) -> Iterator[bool]:
    """An advisory lock on the global dir, so kernels edit ``config.json`` one after the other.

    Yields whether the lock is held (``wait=False`` gives up at once when another holds it).
    """
    if not hasattr(os, "O_NONBLOCK"):  # Windows: no flock, and a directory cannot be opened
        yield False
        return
    # O_NONBLOCK: a FIFO where the global dir should be never blocks the open.
    fd = os.open(directory, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with flocked(fd, wait) as held:
            yield held
    finally:
        os.close(fd)


@contextlib.contextmanager
def flocked(fd: int, wait: bool = True) -> Iterator[bool]:
    """An exclusive ``flock`` on an open descriptor; yields whether it is held.

    ``wait=False`` gives up at once when another process holds it. Windows has no ``flock``:
    nothing is held there, and atomic replaces still keep every file whole.
    """
    try:
        import fcntl
    except ImportError:
        yield False
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        yield False
        return
    try:
        yield True
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _temp_prefix(name: str) -> str:
    return f".{name}."


def _keep_owner_and_mode(fd: int, tmp: str, before: os.stat_result) -> None:
    """Give the temp file the replaced file's mode, and its owner and group where they differ
    (a kernel running as root editing a person's file)."""
    if hasattr(os, "fchmod"):
        os.fchmod(fd, stat.S_IMODE(before.st_mode))
    else:  # Windows: only the read-only bit exists
        os.chmod(tmp, stat.S_IMODE(before.st_mode))
    if hasattr(os, "fchown") and (before.st_uid, before.st_gid) != (os.geteuid(), os.getegid()):
        os.fchown(fd, before.st_uid, before.st_gid)


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory and rename, keeping owner, group and mode.

    A new file is created 0600 (``config.json`` holds API keys). Raises ``OSError`` when the
    existing owner cannot be kept (the file is then left as it was).
    """
    try:
        before: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        before = None
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path.name), suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if before is not None:
                _keep_owner_and_mode(handle.fileno(), tmp, before)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def remove_stale_temp_files(
    directory: Path,
    names: tuple[str, ...],
    *,
    locked: bool,
    prefix: str = "",
    writer_gone: Callable[[str], bool] = lambda _name: False,
) -> int:
    """Remove temp files our writers left when they were killed mid-write; returns how many.

    They can hold a whole ``config.json`` with API keys. The temp files of ``names`` (those
    ``atomic_write`` makes, or any starting with ``prefix``) are stale at once when the caller
    holds the lock their writers hold (``locked``) or when ``writer_gone(name)`` says the
    process that wrote it is gone, else after ``STALE_TEMP_S``: a live writer's temp file is
    never taken from under it. Only regular files are removed.
    """
    removed = 0
    now = time.time()
    prefixes = tuple(_temp_prefix(n) for n in names) + ((prefix,) if prefix else ())
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    for entry in entries:
        if not (entry.name.startswith(prefixes) and entry.name.endswith(".tmp")):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode):
                continue
            young = now - st.st_mtime < STALE_TEMP_S
            if young and not locked and not writer_gone(entry.name):
                continue
            os.unlink(entry.path)
            removed += 1
        except OSError:
            continue
    return removed


def tidy_global_dir(directory: Path) -> int:
    """At load: remove ``config.json``'s stale temp files; takes the lock only if it is free
    (never waits). Other files' writers hold other locks: their modules tidy their own."""
    try:
        with _locked(directory, wait=False) as held:
            return remove_stale_temp_files(directory, (CONFIG_NAME,), locked=held)
    except OSError:  # no global dir yet, or not ours to read
        return 0


def _read_only(path: Path, mode: int) -> bool:
    """Read-only by its mode bits (what root is told), or to this process (access check)."""
    return mode & 0o222 == 0 or not os.access(path, os.W_OK)


def set_config_value(path: Path, key: str, value: Any) -> None:
    """Set one top-level value in ``config.json``, creating file and folder when missing.

    Raises ``ConfigError`` (one line, with the path) when the file cannot be parsed, is not a
    regular file, is too large, is read-only, or cannot be written; it is then left exactly as
    it was. Stale temp files of ``config.json`` (writers killed mid-write) are removed.
    """
    target = Path(os.path.realpath(path))  # edit through a symlink, keep the link
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if _read_only(target.parent, os.stat(target.parent).st_mode):
            raise ConfigError(f"{target.parent} is read-only, so {path} was not changed")
        with _locked(target.parent):
            remove_stale_temp_files(target.parent, (CONFIG_NAME,), locked=True)
            try:
                raw = read_bytes_safely(target)
            except FileNotFoundError:
                raw = None
            if raw is not None:
                mode = os.stat(target).st_mode
                if _read_only(target, mode):
                    octal = f"{stat.S_IMODE(mode):04o}"
                    raise ConfigError(f"{path} is read-only (mode {octal}), so it was not changed")
            try:
                text = (raw or b"").decode("utf-8")
                new_text = set_top_level_value(text, key, value)
            except (UnicodeDecodeError, ValueError, RecursionError) as err:
                raise ConfigError(
                    f"{path} could not be parsed ({err}); it was not changed — fix it by hand"
                ) from None
            if raw is None or new_text != text:
                atomic_write(target, new_text.encode("utf-8"))
    except ConfigError:
        raise
    except OSError as err:
        reason = err.strerror or str(err)
        raise ConfigError(f"{path} could not be written ({reason})") from None
