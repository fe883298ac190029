"""Subprocess side of the benchmarks: ``python benchmarks/worker.py MODE ARGS_JSON OUT_JSON``.

Every measurement that needs the extension runs here, in a fresh interpreter with a temporary
HOME, while the loopback capture server lives in the parent (``run.py``). So the server's
request handling never competes with the code being timed for this process's GIL, and each
figure comes from an interpreter that nothing else has touched.

Only the standard library is imported at module level; each mode imports what it measures.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXIT_MARKER = "BENCH-EXIT-MARKER"
PROPS = {
    "model": "gpt-4o-mini",
    "provider": "openai",
    "promptTokens": 120,
    "generatedTokens": 450,
    "tokensSource": "provider",
}
EVENT = "tokens_generated"


# --- helpers --------------------------------------------------------------------------------------


def make_shell(host: str | None) -> Any:
    """A plain InteractiveShell, configured to send to ``host`` once the extension is loaded."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    if host:
        config.DevscodeTelemetry.api_key = "phc_bench"
        config.DevscodeTelemetry.host = host
    return InteractiveShell.instance(config=config)


def load(shell: Any) -> Any:
    """``%load_ext devscode_nb`` (its notice goes to a throw-away buffer); returns the session."""
    from devscode_nb.ipython.extension import session_for

    with contextlib.redirect_stdout(io.StringIO()):
        shell.run_line_magic("load_ext", "devscode_nb")
    return session_for(shell)


def settle(session: Any) -> None:
    """Deliver what is queued (at load: the ``$pageview``) before timing: the figures are the
    steady per-cell cost.

    A load's first send is a one-off on the transport's thread (the first in a process imports
    posthog's request layer, ~0.15 s of CPU) that would otherwise land in a timed block at
    random. ``Transport.flush`` returns once the transport has posted what was queued.
    """
    telemetry = session.telemetry
    if telemetry.decision.sending:
        deadline = time.monotonic() + 10
        while not telemetry.transport.sent and time.monotonic() < deadline:
            telemetry.flush(1)


def unload(shell: Any) -> None:
    shell.run_line_magic("unload_ext", "devscode_nb")


def per_call_ns(fn: Callable[[], None], n: int) -> float:
    """Mean wall time of one call of ``fn`` over ``n`` calls (loop overhead included)."""
    gc.collect()
    start = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - start) / n


def maxrss_mb() -> float:
    """This process's peak RSS so far, in MiB.

    Linux's VmHWM belongs to this image; ``ru_maxrss`` would start at the parent's RSS, since
    it survives fork and exec.
    """
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --- 1. cell execution ----------------------------------------------------------------------------


def mode_cells(args: dict[str, Any]) -> dict[str, Any]:
    """Blocks of ``run_cell("x = 1")``, alternately with the extension loaded and not.

    One process, one shell: the extension is loaded before each "on" block and unloaded before
    each "off" block (never inside the timing). Pairs run ABBA (off,on / on,off …) so a drift
    in machine speed lands on both sides equally; the ratio is taken per pair. Each cell is
    timed on its own, so a block reports both its median cell (robust to another process
    taking the CPU for a moment) and its mean cell (includes rare periodic work).
    """
    vscode = vscode_settings(args.get("vscode_files", 0))
    shell = make_shell(args["host"])
    n, warmup = args["n"], args["warmup"]
    loaded, sending = False, []
    pairs = []
    for i in range(args["rounds"]):
        pair: dict[str, dict[str, float]] = {}
        for side in ("off", "on") if i % 2 == 0 else ("on", "off"):
            if side == "on" and not loaded:
                session = load(shell)
                sending.append(session.telemetry.decision.sending)
                settle(session)
                loaded = True
            elif side == "off" and loaded:
                unload(shell)
                loaded = False
            for _ in range(warmup):
                shell.run_cell("x = 1")
            pair[side] = time_cells(shell, n)
        pairs.append(pair)
    return {"pairs": pairs, "sending": all(sending) and bool(sending), **vscode}


def vscode_settings(count: int) -> dict[str, Any]:
    """Put ``count`` VS Code settings files (none saying off) where the extension looks: user
    settings of two products, profiles, a remote server's machine settings, and a workspace
    above the working directory (which this process moves into). Returns what one check of
    them costs, measured here with a watcher that checks on every call."""
    if not count:
        return {}
    import os

    from devscode_nb.telemetry.vscode_settings import VSCodeSettingsWatcher, places

    home = Path(os.environ["HOME"])
    config = home / ".config"
    files = [config / p / "User/settings.json" for p in ("Code", "Cursor")]
    files += [home / ".vscode-server/data/Machine/settings.json"]
    files += [home / "work/.vscode/settings.json"]
    files += [config / f"Code/User/profiles/p{i}/settings.json" for i in range(count - len(files))]
    body = '{\n  // settings\n  "editor.fontSize": 13,\n  "telemetry.telemetryLevel": "all",\n}\n'
    for path in files[:count]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    cwd = home / "work" / "notebooks"
    cwd.mkdir(parents=True)
    os.chdir(cwd)
    watcher = VSCodeSettingsWatcher(interval=0.0)
    found = len(watcher.current().files)
    check_ns = per_call_ns(watcher.current, 2_000)
    spots = places(sys.platform, os.environ, home, cwd)
    return {
        "vscode_files": found,
        "vscode_places": len(spots.files) + len(spots.profile_dirs),
        "vscode_check_us": check_ns / 1000,
    }


def time_cells(shell: Any, n: int) -> dict[str, float]:
    gc.collect()
    clock, times = time.perf_counter_ns, []
    for _ in range(n):
        start = clock()
        shell.run_cell("x = 1")
        times.append(clock() - start)
    return {"median": statistics.median(times), "mean": statistics.fmean(times)}


# --- 1b. a realistic notebook ---------------------------------------------------------------------


def notebook_cells(count: int = 200) -> list[str]:
    """``count`` realistic, assistant-free cells: no network, nothing slow, some output."""
    templates = [
        "import math\nimport collections\nfrom itertools import islice\nseen_{k} = set()",
        "total_{k} = 0\nfor i in range(40):\n    total_{k} += i * i % {m}\ntotal_{k}",
        "name = 'cell {k}'\nmsg = f'{{name}}: {{{k} * 3.5:>8.2f}} | {{math.pi:.3f}}'\nprint(msg)",
        "squares_{k} = [i * i for i in range({m})]\n"
        "evens_{k} = {{i: s for i, s in enumerate(squares_{k}) if s % 2 == 0}}\nlen(evens_{k})",
        "def describe_{k}(values, scale=2):\n    '''Mean and spread of scaled values.'''\n"
        "    xs = [v * scale for v in values]\n    mean = sum(xs) / len(xs)\n"
        "    return mean, max(xs) - min(xs)\n\ndescribe_{k}(range(1, {m}))",
        "class Point{k}:\n    def __init__(self, x, y):\n        self.x, self.y = x, y\n\n"
        "    def __repr__(self):\n        return f'Point{k}({{self.x}}, {{self.y}})'\n\n"
        "points_{k} = [Point{k}(i, i + 1) for i in range(5)]",
        "try:\n    value_{k} = int('not a number {k}')\nexcept ValueError as err:\n"
        "    value_{k} = -1\n    print('caught:', type(err).__name__)",
        "counts_{k} = collections.Counter('the quick brown fox {k}'.split())\n"
        "top_{k} = counts_{k}.most_common(3)\nprint(top_{k})",
        "try:\n    {{}}['missing_{k}']\nexcept KeyError:\n    missing_{k} = True\n"
        "words_{k} = ', '.join(str(w).upper() for w in islice(range({m}), 5))",
        "rows_{k} = [(i, i ** 0.5) for i in range(10)]\n"
        "for i, r in rows_{k}[:3]:\n    print(f'{{i:3d}} {{r:6.3f}}')",
    ]
    return [templates[i % len(templates)].format(k=i, m=10 + i % 17) for i in range(count)]


def run_notebook(shell: Any, cells: list[str]) -> list[int]:
    """Wall nanoseconds of each cell, run once in order, output to a throw-away buffer."""
    gc.collect()
    clock, times = time.perf_counter_ns, []
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in cells:
            start = clock()
            shell.run_cell(cell)
            times.append(clock() - start)
    return times


def mode_notebook(args: dict[str, Any]) -> dict[str, Any]:
    """The notebook run ``per_block`` times per block, ABBA, loaded (sending) vs not.

    As in ``mode_cells``: one shell, load/unload between blocks (untimed), a warm-up quarter of
    the notebook at the start of each block. A block's figures: "min" sums each cell's fastest
    run (robust to another process taking the CPU for a moment), "total" is the fastest whole
    run of the notebook, everything included.
    """
    shell = make_shell(args["host"])
    cells = notebook_cells(args["cells"])
    loaded, sending, errors = False, [], 0
    pairs = []
    for i in range(args["rounds"]):
        pair: dict[str, dict[str, float]] = {}
        for side in ("off", "on") if i % 2 == 0 else ("on", "off"):
            if side == "on" and not loaded:
                session = load(shell)
                sending.append(session.telemetry.decision.sending)
                settle(session)
                loaded = True
            elif side == "off" and loaded:
                unload(shell)
                loaded = False
            run_notebook(shell, cells[: len(cells) // 4])  # warm-up
            runs = [run_notebook(shell, cells) for _ in range(args["per_block"])]
            pair[side] = {
                "min": float(sum(min(times) for times in zip(*runs, strict=True))),
                "total": float(min(sum(times) for times in runs)),
            }
        pairs.append(pair)
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in cells:
            errors += not shell.run_cell(cell).success
    return {
        "pairs": pairs,
        "sending": all(sending) and bool(sending),
        "cells": len(cells),
        "failed_cells": errors,
        "lines": sum(c.count("\n") + 1 for c in cells),
    }


# --- 1c. per-cell cost vs open suggestions and cell size ------------------------------------------


def sized_cell(lines: int) -> str:
    """A plain cell of ``lines`` lines: arithmetic, a comprehension, formatting."""
    out = ["acc = 0"]
    for i in range(1, lines):
        kind = i % 4
        if kind == 0:
            out.append(f"acc = (acc * 31 + {i}) % 1_000_003")
        elif kind == 1:
            out.append(f"row_{i} = [j * {i % 7 + 1} for j in range(3)]")
        elif kind == 2:
            out.append(f"label_{i} = 'item-%d' % {i}")
        else:
            out.append(f"ratio_{i} = {i} / (1 + acc % 97)")
    return "\n".join(out)


def suggestion_answer(j: int) -> str:
    """A model answer whose code block (9 lines) differs from every timed cell."""
    return (
        f"Here is a helper:\n\n```python\nimport statistics\n\n\ndef summarise_{j}(samples):\n"
        f'    """Median and spread of the samples, version {j}."""\n'
        "    ordered = sorted(samples)\n    middle = statistics.median(ordered)\n"
        f"    return middle, ordered[-1] - ordered[0] + {j}\n\n\n"
        f"print(summarise_{j}([3, 1, 4, 1, 5]))\n```\n\nIt prints the median and the range.\n"
    )


def open_suggestions(session: Any, server: Any, k: int) -> int:
    """Open suggestions through ``Assistant.ask`` against the loopback model server until
    ``k`` are open.

    ``ask`` supersedes older suggestions (at most one stays open in normal use), so the
    session's own tracker is told not to: up to its bound, ``MAX_OPEN``.
    """
    assistant = session.assistant
    assistant.tracker._supersede_on_open = False
    for j in range(len(assistant.tracker), k):
        server.answer = suggestion_answer(j)
        reply = assistant.ask("ask", f"a helper for the samples, please ({j})", timeout=30)
        if reply.suggestion is None:
            raise RuntimeError(f"no suggestion opened: {reply.error}")
    session.shell.run_cell("pass")  # the cell that asked: its fresh suggestions stay open
    return len(assistant.tracker)


def time_sized(shell: Any, cell: str, n: int) -> float:
    """Median wall nanoseconds of ``n`` runs of ``cell`` (after one untimed)."""
    clock, times = time.perf_counter_ns, []
    shell.run_cell(cell)
    gc.collect()
    for _ in range(n):
        start = clock()
        shell.run_cell(cell)
        times.append(clock() - start)
    return statistics.median(times)


def time_hook(session: Any, result: Any, n: int = 50) -> float:
    """Median wall nanoseconds of the extension's post-run-cell hook alone on ``result``.

    What the extension adds to a cell, free of the cell's own (noisy) execution time; with
    suggestions open it is mostly ``SuggestionTracker.match``. No suggestion is decided (the
    cell matches none), so repeating it changes nothing.
    """
    clock, times = time.perf_counter_ns, []
    hook = session.post_run_cell
    for _ in range(n):
        start = clock()
        hook(result)
        times.append(clock() - start)
    return statistics.median(times)


def mode_scaling(args: dict[str, Any]) -> dict[str, Any]:
    """Per-cell median, loaded vs not, for each cell size and number of open suggestions.

    Per round and cell size (sizes in a rotating order): a block not loaded; load; a block for
    each number of open suggestions, ascending, opened through the real ``Assistant.ask`` path
    against a loopback model server (in this process, idle while timing: its 50 ms poll runs
    during both sides alike); unload; a block not loaded again. Each "on" block is compared
    with the mean of the two "off" blocks around it, so drift cancels out.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from model_servers import ModelServer

    from devscode_nb.config_file import global_dir

    server = ModelServer().start()
    config_dir = global_dir()
    config_dir.mkdir(parents=True, exist_ok=True)
    model = {"title": "Bench", "provider": "openai", "model": "demo", "apiBase": server.base_url}
    (config_dir / "config.json").write_text(json.dumps({"models": [model]}))
    shell = make_shell(args["host"])
    sizes, opens = args["lines"], args["open"]
    cells = {lines: sized_cell(lines) for lines in sizes}
    results: dict[str, list[dict[str, float]]] = {f"{k}/{n}": [] for k in opens for n in sizes}
    still_open: dict[str, list[int]] = {key: [] for key in results}
    for i in range(args["rounds"]):
        for c in range(len(sizes)):
            lines = sizes[(c + i) % len(sizes)]
            n = max(3, round(args["n"] / (lines / 10) ** 0.5))
            before = time_sized(shell, cells[lines], n)
            session = load(shell)
            settle(session)
            on: dict[int, tuple[float, float, int]] = {}
            for k in opens:
                open_suggestions(session, server, k)
                timed = time_sized(shell, cells[lines], n)
                hook = time_hook(session, shell.last_execution_result)
                on[k] = (timed, hook, len(session.assistant.tracker))
            unload(shell)
            after = time_sized(shell, cells[lines], n)
            for k, (timed, hook, still) in on.items():
                key = f"{k}/{lines}"
                results[key].append({"on": timed, "off": (before + after) / 2, "hook": hook})
                still_open[key].append(still)
    server.stop()
    return {"results": results, "still_open": still_open}


# --- 2. one recorded event ------------------------------------------------------------------------


def mode_record(args: dict[str, Any]) -> dict[str, Any]:
    """Per-call cost of ``telemetry.record``, ``posthog.Posthog.capture``, and a bare call.

    The three run in a rotating order each round. After each ``record`` block the transport
    delivers what was recorded (``telemetry.flush``), so the bounded queue never fills and no
    event is dropped; after each ``capture`` block the posthog client is flushed.
    """
    import posthog

    shell = make_shell(args["host"])
    telemetry = load(shell).telemetry
    client = posthog.Posthog("phc_bench", host=args["host"], disable_geoip=True)
    record = telemetry.record

    def do_record() -> None:
        record(EVENT, PROPS)

    def do_capture() -> None:
        client.capture(EVENT, distinct_id="bench-posthog", properties=PROPS)

    def bare(event: str, props: dict[str, Any]) -> None:
        return None

    def do_bare() -> None:
        bare(EVENT, PROPS)

    kinds = {
        "record": (do_record, args["n_record"], lambda: telemetry.flush(60)),
        "capture": (do_capture, args["n_capture"], lambda: client.flush()),
        "bare": (do_bare, args["n_bare"], lambda: None),
    }
    order = list(kinds)
    rounds: list[dict[str, float]] = []
    queue_peak = 0
    for i in range(args["rounds"]):
        result = {}
        for name in order[i % 3 :] + order[: i % 3]:
            fn, n, drain = kinds[name]
            result[name] = per_call_ns(fn, n)
            if name == "record":
                queue_peak = max(queue_peak, len(telemetry.recorder))
            drain()
        rounds.append(result)
    telemetry.flush(60)
    client.flush()
    return {
        "rounds": rounds,
        "sending": telemetry.decision.sending,
        "recorded": args["rounds"] * args["n_record"],
        "dropped": telemetry.recorder.dropped,
        "left_in_queue": len(telemetry.recorder),
        "transport_sent": telemetry.transport.sent,
        "queue_peak": queue_peak,
        "captured": args["rounds"] * args["n_capture"],
    }


# --- 3. imports -----------------------------------------------------------------------------------


def top_level(names: set[str]) -> list[str]:
    return sorted({name.split(".")[0] for name in names if not name.startswith("_")})


def mode_loadext(args: dict[str, Any]) -> dict[str, Any]:
    """``import devscode_nb`` then ``%load_ext devscode_nb`` into a real InteractiveShell.

    Telemetry off (the parent sets DO_NOT_TRACK=1) or on (a project key and a loopback host).
    Reports the time and the modules each step adds, the threads started, and whether posthog
    or ipywidgets are imported after loading, after a cell, and (on) after an event is sent.
    """
    clock = time.perf_counter_ns
    before = set(sys.modules)
    start = clock()
    import devscode_nb  # noqa: F401

    import_ms = (clock() - start) / 1e6
    by_import = set(sys.modules) - before
    shell = make_shell(args["host"])
    before = set(sys.modules)
    threads_before = {t.name for t in threading.enumerate()}
    start = clock()
    with contextlib.redirect_stdout(io.StringIO()):
        shell.run_line_magic("load_ext", "devscode_nb")
    load_ms = (clock() - start) / 1e6
    by_load = set(sys.modules) - before
    watched = ("posthog", "ipywidgets")
    after_load = {name: name in sys.modules for name in watched}
    threads_after_load = sorted({t.name for t in threading.enumerate()} - threads_before)
    shell.run_cell("x = 1")
    time.sleep(args.get("settle", 0.0))  # the transport has had a turn or two
    after_cell = {name: name in sys.modules for name in watched}
    from devscode_nb.ipython.extension import session_for

    telemetry = session_for(shell).telemetry
    if telemetry.decision.sending:
        telemetry.flush(10)  # what was recorded before now has been logged (and sent)
    result = {
        "telemetry_enabled": telemetry.decision.enabled,
        "sending": telemetry.decision.sending,
        "import_ms": import_ms,
        "load_ext_ms": load_ms,
        "import_added": top_level(by_import),
        "import_count": len(by_import),
        "added_top_level": top_level(by_load),
        "added_count": len(by_load),
        "after_load": after_load,
        "after_cell": after_cell,
        "new_threads": threads_after_load,
        "threads_after_cell": sorted({t.name for t in threading.enumerate()} - threads_before),
        # what the extension itself recorded before this benchmark did (names only)
        "events_before": [e["payload"].get("event") for e in telemetry.log.recent(50)],
        "posthog_after_event": None,
        "sent": 0,
    }
    if telemetry.decision.sending:
        telemetry.record(EVENT, PROPS)
        telemetry.flush(10)
        result["posthog_after_event"] = "posthog" in sys.modules
        result["sent"] = telemetry.transport.sent
    return result


# --- 4. process exit ------------------------------------------------------------------------------


def mode_exit(args: dict[str, Any]) -> dict[str, Any]:
    """Load (or not), record a few events, let the transport start sending, then exit.

    The marker is printed just before the interpreter's normal exit; the parent times from the
    marker to process end. The baseline is this same script with ``load`` false.
    """
    shell = make_shell(args["host"])
    telemetry = load(shell).telemetry if args["load"] else None
    for i in range(5):
        if telemetry is not None:
            telemetry.record(EVENT, {**PROPS, "promptTokens": i})
    time.sleep(args["settle"])  # the transport has taken these and is mid-send
    for i in range(5):
        if telemetry is not None:
            telemetry.record(EVENT, {**PROPS, "promptTokens": 10 + i})  # still queued at exit
    shell.run_cell("x = 1")
    print(EXIT_MARKER, flush=True)
    return {}


def mode_short(args: dict[str, Any]) -> dict[str, Any]:
    """A session that records a few events and ends at once (exit, or ``%unload_ext``)."""
    shell = make_shell(args["host"])
    telemetry = load(shell).telemetry
    for i in range(args["events"]):
        telemetry.record(EVENT, {**PROPS, "promptTokens": i})
    last = time.perf_counter()
    if args.get("unload"):
        unload(shell)
    return {"session_id": telemetry.session_id, "took_s": time.perf_counter() - last}


def mode_drain(args: dict[str, Any]) -> dict[str, Any]:
    """The next session: it delivers what earlier ones left in the outbox, then reports."""
    shell = make_shell(args["host"])
    telemetry = load(shell).telemetry
    deadline = time.monotonic() + args.get("timeout", 60)
    while time.monotonic() < deadline:
        telemetry.flush(1)
        if telemetry.transport.sent and not telemetry.outbox.pending():
            break
    return {"outbox_left": telemetry.outbox.pending(), "sent": telemetry.transport.sent}


def mode_optout(args: dict[str, Any]) -> dict[str, Any]:
    """Record a flood against a host that takes 1 s per request, then opt out mid-delivery."""
    shell = make_shell(args["host"])
    telemetry = load(shell).telemetry
    transport = telemetry.transport
    for i in range(args["events"]):
        telemetry.record(EVENT, {**PROPS, "promptTokens": i % 1000})
    deadline = time.monotonic() + 30
    while transport.requests < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # the second request has reached the host and waits on its answer
    queued = len(telemetry.recorder) + sum(len(b.messages) for b in transport._held)
    before = transport.requests
    moment = time.time()
    with contextlib.redirect_stdout(io.StringIO()):
        shell.run_line_magic("devscode", "telemetry off")
    for i in range(args.get("watch_cells", 30)):
        shell.run_cell(f"x = {i}")
        time.sleep(0.1)
    return {
        "moment": moment,
        "queued": queued,
        "recorded": args["events"],
        "requests_before": before,
        "requests_started_after": transport.requests - before,
    }


# --- 5. delivery ----------------------------------------------------------------------------------


def mode_deliver(args: dict[str, Any]) -> dict[str, Any]:
    """Record ``total`` events, paced so the bounded queue never overflows; then flush.

    Pacing: record a chunk, and while the queue holds more than half its bound, wake the
    transport and wait. Peak memory is this process's max RSS (the server is in the parent),
    sampled every 5 % of the events; ``first_send_at`` marks the one-off step of the first
    send (``import posthog`` and its dependencies, ~19 MB).
    """
    shell = make_shell(args["host"])
    telemetry = load(shell).telemetry
    recorder, transport = telemetry.recorder, telemetry.transport
    rss_start = maxrss_mb()
    total, chunk = args["total"], args["chunk"]
    high = recorder.maxlen // 2
    start = time.perf_counter_ns()
    waited_s = 0.0
    rss_curve = []  # (events recorded so far, peak RSS so far): flat once memory is bounded
    step = max(chunk, total // 20)
    first_send_at = None  # events recorded when the first batch had gone (posthog imported)
    for base in range(0, total, chunk):
        if first_send_at is None and transport.sent:
            first_send_at = base
        if base % step == 0:
            rss_curve.append((base, maxrss_mb()))
        for i in range(base, min(base + chunk, total)):
            telemetry.record(EVENT, {**PROPS, "promptTokens": i})
        while len(recorder) > high:
            transport.wake()
            time.sleep(0.002)
            waited_s += 0.002
    recorded_s = (time.perf_counter_ns() - start) / 1e9
    while len(recorder) or not telemetry.flush(60):
        pass
    flushed_s = (time.perf_counter_ns() - start) / 1e9
    rss_curve.append((total, maxrss_mb()))
    return {
        "rss_curve": rss_curve,
        "first_send_at": first_send_at,
        "sending": telemetry.decision.sending,
        "recorded": total,
        "dropped": recorder.dropped,
        "left_in_queue": len(recorder),
        "transport_sent": transport.sent,
        "last_error": transport.last_error,
        "record_phase_s": recorded_s,
        "paced_wait_s": waited_s,
        "flushed_s": flushed_s,
        "rss_start_mb": rss_start,
        "rss_peak_mb": maxrss_mb(),
    }


# --- 8. streaming an answer to the frontend -------------------------------------------------------

STREAM_MSGS = ("stream", "display_data", "update_display_data", "clear_output")


def mode_streaming(args: dict[str, Any]) -> dict[str, Any]:
    """Bytes a real kernel publishes on iopub while ``%%devscode`` streams an answer.

    A kernel (ipykernel, started by jupyter_client with this HOME, whose config.json points at
    the parent's loopback model server) runs the cell; every iopub message of that request is
    read, and the JSON content of the display, stream and clear messages is counted.
    """
    from jupyter_client.manager import start_new_kernel

    home = Path.home()
    (home / ".devscode").mkdir(exist_ok=True)
    model = {"title": "Bench", "provider": "openai", "model": "demo", "apiBase": args["base"]}
    (home / ".devscode" / "config.json").write_text(json.dumps({"models": [model]}))
    km, kc = start_new_kernel(kernel_name="python3", env=dict(os.environ), cwd=str(home))
    try:
        kc.execute_interactive("%load_ext devscode_nb", timeout=60, output_hook=lambda m: None)
        messages: list[dict[str, Any]] = []
        start = time.perf_counter()
        kc.execute_interactive("%%devscode\nthe answer", timeout=600, output_hook=messages.append)
        wall = time.perf_counter() - start
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    counted = [m for m in messages if m["msg_type"] in STREAM_MSGS]
    return {
        "bytes": sum(len(json.dumps(m["content"], ensure_ascii=False).encode()) for m in counted),
        "kinds": [m["msg_type"] for m in counted],
        "wall_s": wall,
    }


# --- 9. config.json on the notebook thread ------------------------------------------------------


def config_text(target_bytes: int) -> str:
    """A commented config.json of about ``target_bytes``: many models, as real big files have."""
    head = '// Devscode settings\n{\n  /* models */\n  "models": [\n'
    entry = '    {"title": "Model %d", "provider": "ollama", "model": "llama3.1:8b"}, // local\n'
    count = max(1, (target_bytes - len(head)) // len(entry % 10000))
    return (
        head + "".join(entry % i for i in range(count)) + '  ],\n  "tabAutocompleteModel": {}\n}\n'
    )


def mode_config(args: dict[str, Any]) -> dict[str, Any]:
    """``read_config`` (what the notebook thread does after config.json changed) per file shape,
    and one ``set_config_value`` (an opt-out click) on the largest accepted file."""
    import os
    import tempfile

    from devscode_nb.config_file import MAX_CONFIG_BYTES, read_config, set_config_value

    reps = int(args["reps"])
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as directory:
        shapes = {
            "typical (2 KB)": config_text(2_000),
            "largest accepted (1 MB)": config_text(MAX_CONFIG_BYTES - 2_000),
            "7.5 MB (refused)": config_text(7_500_000),
        }
        for name, text in shapes.items():
            path = Path(directory) / f"{len(out)}.json"
            path.write_text(text)
            times = []
            for _ in range(reps):
                start = time.perf_counter_ns()
                reading = read_config(path)
                times.append((time.perf_counter_ns() - start) / 1e6)
            out[name] = {"ms": times, "bytes": len(text), "error": reading.error is not None}
            if name.startswith("largest"):
                start = time.perf_counter_ns()
                set_config_value(path, "allowAnonymousTelemetry", False)
                out["opt-out write, 1 MB"] = {
                    "ms": [(time.perf_counter_ns() - start) / 1e6],
                    "bytes": len(text),
                    "error": False,
                }
        fifo = Path(directory) / "fifo.json"
        os.mkfifo(fifo)
        times = []
        for _ in range(reps):
            start = time.perf_counter_ns()
            reading = read_config(fifo)
            times.append((time.perf_counter_ns() - start) / 1e6)
        out["a FIFO (refused)"] = {"ms": times, "bytes": 0, "error": reading.error is not None}
    return {"shapes": out}


def mode_flood(args: dict[str, Any]) -> dict[str, Any]:
    """Two answers from a server that never ends its line or event: the first under
    ``tracemalloc`` for the peak of Python memory (it also imports urllib3), the second timed."""
    import tracemalloc

    from devscode_nb.assistant.providers import Limits, ModelConfig, ProviderError, chat
    from devscode_nb.assistant.providers.http import event_bound

    model = ModelConfig(title="Flood", provider="openai", model="demo", api_base=args["base"])
    limits = Limits(time_s=float(args["time_s"]), size_chars=int(args["size_chars"]))

    def ask() -> tuple[str, int]:
        try:
            chat(model, [{"role": "user", "content": "hi"}], limits=limits)
            return "none", -1
        except ProviderError as err:
            return err.kind, len(err.partial_text)

    tracemalloc.start()
    ask()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    start = time.perf_counter()
    kind, kept = ask()
    wall = time.perf_counter() - start
    return {"wall_s": wall, "kind": kind, "kept": kept, "peak": peak,
            "bound": event_bound(limits)}


MODES = {
    "config": mode_config,
    "flood": mode_flood,
    "cells": mode_cells,
    "record": mode_record,
    "loadext": mode_loadext,
    "notebook": mode_notebook,
    "scaling": mode_scaling,
    "exit": mode_exit,
    "deliver": mode_deliver,
    "streaming": mode_streaming,
    "short": mode_short,
    "drain": mode_drain,
    "optout": mode_optout,
}


def main() -> None:
    mode, raw_args, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
    result = MODES[mode](json.loads(raw_args))
    if out_path != "-":
        with open(out_path, "w") as handle:
            json.dump(result, handle)


if __name__ == "__main__":
    main()
