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
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable
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
    from devscode_nb.extension import session_for

    with contextlib.redirect_stdout(io.StringIO()):
        shell.run_line_magic("load_ext", "devscode_nb")
    return session_for(shell)


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
    shell = make_shell(args["host"])
    n, warmup = args["n"], args["warmup"]
    loaded, sending = False, []
    pairs = []
    for i in range(args["rounds"]):
        pair: dict[str, dict[str, float]] = {}
        for side in ("off", "on") if i % 2 == 0 else ("on", "off"):
            if side == "on" and not loaded:
                sending.append(load(shell).telemetry.decision.sending)
                loaded = True
            elif side == "off" and loaded:
                unload(shell)
                loaded = False
            for _ in range(warmup):
                shell.run_cell("x = 1")
            pair[side] = time_cells(shell, n)
        pairs.append(pair)
    return {"pairs": pairs, "sending": all(sending) and bool(sending)}


def time_cells(shell: Any, n: int) -> dict[str, float]:
    gc.collect()
    clock, times = time.perf_counter_ns, []
    for _ in range(n):
        start = clock()
        shell.run_cell("x = 1")
        times.append(clock() - start)
    return {"median": statistics.median(times), "mean": statistics.fmean(times)}


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


def mode_modules(args: dict[str, Any]) -> dict[str, Any]:
    """What ``%load_ext devscode_nb`` adds to a real InteractiveShell, with telemetry off."""
    shell = make_shell(None)
    before = set(sys.modules)
    threads_before = {t.name for t in threading.enumerate()}
    start = time.perf_counter_ns()
    with contextlib.redirect_stdout(io.StringIO()):
        shell.run_line_magic("load_ext", "devscode_nb")
    load_ms = (time.perf_counter_ns() - start) / 1e6
    shell.run_cell("x = 1")
    added = set(sys.modules) - before
    from devscode_nb.extension import session_for

    return {
        "telemetry_enabled": session_for(shell).telemetry.decision.enabled,
        "load_ext_ms": load_ms,
        "added_top_level": top_level(added),
        "added_count": len(added),
        "posthog": "posthog" in sys.modules,
        "ipywidgets": "ipywidgets" in sys.modules,
        "new_threads": sorted({t.name for t in threading.enumerate()} - threads_before),
    }


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


# --- 5. delivery ----------------------------------------------------------------------------------


def mode_deliver(args: dict[str, Any]) -> dict[str, Any]:
    """Record ``total`` events, paced so the bounded queue never overflows; then flush.

    Pacing: record a chunk, and while the queue holds more than half its bound, wake the
    transport and wait. Peak memory is this process's max RSS (the server is in the parent).
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
    tenth = max(chunk, total // 10)
    for base in range(0, total, chunk):
        if base % tenth == 0:
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


MODES = {
    "cells": mode_cells,
    "record": mode_record,
    "modules": mode_modules,
    "exit": mode_exit,
    "deliver": mode_deliver,
}


def main() -> None:
    mode, raw_args, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
    result = MODES[mode](json.loads(raw_args))
    if out_path != "-":
        with open(out_path, "w") as handle:
            json.dump(result, handle)


if __name__ == "__main__":
    main()
