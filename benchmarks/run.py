"""SPEC §6 budgets, measured as ratios against a baseline taken in the same run.

    .venv/bin/python benchmarks/run.py            # ~4–5 minutes
    .venv/bin/python benchmarks/run.py --quick    # ~1.5 minutes, fewer repeats, 10 000 events
    .venv/bin/python benchmarks/run.py --check    # exit 1 if any budget is missed

How to read the numbers (docs/benchmarks.md has a full run and more)
--------------------------------------------------------------------
* Every figure is the MEDIAN over repeats; the spread next to it is the interquartile range
  (q1–q3) or, for few repeats, min–max. A budget is judged on the median.
* Measurement and baseline are interleaved (A,B,A,B… or a rotating order), and a ratio or a
  difference is taken per round, so drift in machine speed cancels out; the median of the
  per-round ratios is reported.
* "cell ×" is (time of ``run_cell("x = 1")`` with the extension loaded, telemetry on and sending
  to a loopback server) / (the same, not loaded), in one process that loads and unloads the
  extension between blocks (ABBA order). The budget uses each block's median cell; the
  mean-cell ratio, which also carries rare periodic work, is shown below it.
* "200-cell notebook" is the same comparison on 200 realistic cells (imports, loops, string
  formatting, comprehensions, a function, a class, caught errors, printing to a captured
  stdout); the budget uses the sum of each cell's fastest run in a block.
* "per cell: N lines, K open suggestions" (informational): the per-cell median with K
  suggestions opened through ``Assistant.ask`` against a loopback model server, vs not loaded
  (mean of the blocks before and after); "the hook alone" times the extension's post-run-cell
  hook directly, which is precise where the cell itself is slow and noisy.
* "record ×" is the wall time of one ``telemetry.record(...)`` on the calling thread divided by
  one ``posthog.Posthog(...).capture(...)`` on the same properties; the bare-call floor is shown.
* "import" is extra wall milliseconds of a fresh ``python -c "import devscode_nb"`` over
  ``python -c pass``; "%load_ext" is timed inside fresh interpreters, telemetry off
  (DO_NOT_TRACK=1) and on (a project key and a loopback host), with the modules each adds.
* "exit" is extra seconds from a marker printed just before interpreter exit to process end,
  over the same script without the extension, for three unreachable hosts.
* "peers": ``%load_ext devscode_nb`` vs ``%load_ext jupyter_ai_magics`` (jupyter-ai-magics 2.x in
  benchmarks/.venv-peer, made on first use), and the first answer of a fresh kernel,
  ``%%devscode`` vs ``%%ai openai-chat:…``, both against one loopback OpenAI-compatible server,
  in a runner's kernel and in a person's with telemetry on and off, each also running the code
  from before the HTTP library (``git archive``) in the same rounds; "HTTP library" is import +
  first streamed POST of http.client, urllib3, requests and httpx in fresh interpreters
  (informational: the choice).
* "delivery" counts the distinct events (by uuid) that reached a loopback capture server; the
  memory row is the growth of peak RSS over the 2nd half of recording 100 000 events, after
  the one-off step of the first send (``import posthog``; see ``memory_row``).
* "config.json" (informational) times ``read_config`` per file shape: typical, the largest
  accepted (1 MB), one refused by size (7.5 MB) and a FIFO; and one opt-out write.

The capture server (tests/capture_server.py) runs in this process; everything measured runs in
fresh subprocesses (benchmarks/worker.py) with a temporary HOME and no CI/DO_NOT_TRACK, so the
server never competes with the measured code for a GIL. Results: a machine header, a table on
stdout, a Markdown table to paste into docs, and benchmarks/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(HERE))

from capture_server import CaptureServer, refused_url  # noqa: E402
from model_servers import ModelServer, streaming_answer  # noqa: E402
from worker import EVENT, EXIT_MARKER  # noqa: E402

PYTHON = sys.executable
#: jupyter-ai's own environment: its dependencies (langchain …) stay out of the test venv.
PEER_VENV = HERE / ".venv-peer"
PEER_PYTHON = PEER_VENV / "bin" / "python"
PEER_REQUIREMENTS = ("jupyter-ai-magics>=2.31,<3", "langchain-openai>=0.3,<0.4")
RESULTS = HERE / "results" / "latest.json"
SCRUB_PREFIXES = ("DEVSCODE", "VSCODE", "JPY_", "PYCHARM", "COLAB", "POSTHOG")
PYCACHE = ""  # set by main(): one bytecode cache for every subprocess of this run
SCRUB = {"CI", "DO_NOT_TRACK", "PAPERMILL_EXECUTION", "NBCLIENT_HEADLESS", "TERM_PROGRAM"}


@dataclass(frozen=True)
class Sizes:
    cell_rounds: int = 30
    cell_n: int = 400
    notebook_rounds: int = 30
    notebook_per_block: int = 2
    scaling_rounds: int = 10
    scaling_n: int = 30
    record_rounds: int = 15
    record_n: int = 2_000
    capture_n: int = 300
    import_reps: int = 20
    load_reps: int = 6
    exit_reps: int = 6
    deliver_total: int = 100_000
    short_sessions: int = 50
    config_reps: int = 9
    flood_reps: int = 3


QUICK = Sizes(
    cell_rounds=10,
    cell_n=250,
    notebook_rounds=10,
    notebook_per_block=2,
    scaling_rounds=2,
    scaling_n=20,
    record_rounds=6,
    import_reps=8,
    load_reps=2,
    exit_reps=2,
    deliver_total=10_000,
    short_sessions=10,
)


@dataclass
class Row:
    """One line of the report."""

    what: str
    figure: str
    spread: str
    detail: str
    budget: str
    ok: bool | None  # None: informational, not a budget
    numbers: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return "" if self.ok is None else ("ok" if self.ok else "MISS")


# --- small helpers --------------------------------------------------------------------------------


def summary(values: list[float]) -> dict[str, float]:
    """Median, quartiles, min and max (quartiles fall back to min/max below 4 values)."""
    ordered = sorted(values)
    if len(ordered) >= 4:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1, q3 = ordered[0], ordered[-1]
    return {
        "median": statistics.median(ordered),
        "q1": q1,
        "q3": q3,
        "min": ordered[0],
        "max": ordered[-1],
        "n": len(ordered),
    }


def spread(s: dict[str, float], fmt: str) -> str:
    label = "IQR" if s["n"] >= 4 else "min–max"
    return f"{label} {s['q1']:{fmt}}–{s['q3']:{fmt}} (n={s['n']})"


def clean_env(home: str, **extra: str) -> dict[str, str]:
    """This environment without anything that would switch telemetry off or change frontend."""
    env = {
        k: v for k, v in os.environ.items() if k not in SCRUB and not k.startswith(SCRUB_PREFIXES)
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if PYCACHE:
        env["PYTHONPYCACHEPREFIX"] = PYCACHE  # bytecode cached, as after pip install
    env.update(HOME=home, **extra)
    return env


def run_worker(
    mode: str, args: dict[str, Any], timeout: float = 300, home: str | None = None, **env: str
) -> dict[str, Any]:
    """Run one worker mode in a fresh interpreter with a fresh HOME (or ``home``)."""
    with tempfile.TemporaryDirectory() as fresh:
        home = home or fresh
        out = Path(fresh) / "result.json"
        proc = subprocess.run(
            [PYTHON, str(HERE / "worker.py"), mode, json.dumps(args), str(out)],
            env=clean_env(home, **env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"worker {mode} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        result = json.loads(out.read_text())
        result["stderr"] = proc.stderr
        return result


@contextmanager
def capture_server(**knobs: Any) -> Iterator[CaptureServer]:
    """The loopback server, with TCP_NODELAY on its replies.

    Without it every reply (headers and body are two writes) waits ~40 ms on Nagle plus the
    client's delayed ACK, which caps delivery at ~25 requests/s: a property of the test server,
    not of the package or of PostHog.
    """
    server = CaptureServer()
    server.httpd.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
    # A client that exits while the slow/hanging server still answers is the point of the exit
    # benchmark; socketserver would print each BrokenPipeError to this process's stderr.
    server.httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]
    for name, value in knobs.items():
        setattr(server, name, value)
    with server:
        yield server


def rotated(items: list[str], i: int) -> list[str]:
    k = i % len(items)
    return items[k:] + items[:k]


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


# --- 1. cell execution ----------------------------------------------------------------------------


def bench_cells(sizes: Sizes, vscode_files: int = 0) -> list[Row]:
    with_files = f", {vscode_files} VS Code settings files present" if vscode_files else ""
    progress(f"cell execution{with_files}: {sizes.cell_rounds} ABBA pairs × {sizes.cell_n} cells")
    with capture_server() as server:
        args = {"host": server.url, "rounds": sizes.cell_rounds, "n": sizes.cell_n, "warmup": 30}
        result = run_worker("cells", {**args, "vscode_files": vscode_files})
    pairs = result["pairs"]
    rows = []
    for stat, what, budget in (
        ("median", f"cell execution, loaded (sending) vs not{with_files}", "≤ 1.05×"),
        ("mean", "  same, mean cell instead of median cell", "—"),
    ):
        ratios = summary([p["on"][stat] / p["off"][stat] for p in pairs])
        on = summary([p["on"][stat] / 1000 for p in pairs])
        off = summary([p["off"][stat] / 1000 for p in pairs])
        ok = ratios["median"] <= 1.05 and result["sending"] if budget != "—" else None
        detail = f"{stat} cell {on['median']:.1f} µs loaded vs {off['median']:.1f} µs not loaded"
        if not result["sending"]:
            detail += "; telemetry was NOT sending"
        numbers = {"ratio": ratios, "on_us": on, "off_us": off, "sending": result["sending"]}
        row = Row(what, f"{ratios['median']:.3f}×", spread(ratios, ".3f"), detail, budget, ok)
        row.numbers = numbers
        rows.append(row)
    if vscode_files:
        numbers = {k: result[k] for k in ("vscode_files", "vscode_places", "vscode_check_us")}
        detail = (
            f"{numbers['vscode_files']} files found, {numbers['vscode_places']} places stat-ed "
            "(plus each profile's file); at most one check a second, whichever thread comes first"
        )
        figure = f"{numbers['vscode_check_us']:.1f} µs"
        rows.append(Row("  one VS Code settings check", figure, "", detail, "—", None, numbers))
    return rows


def bench_cells_vscode(sizes: Sizes) -> list[Row]:
    """Issue 11: the cell budget still holds with 20 VS Code settings files to watch."""
    return bench_cells(sizes, vscode_files=20)


# --- 1b. a realistic notebook ---------------------------------------------------------------------


def bench_notebook(sizes: Sizes) -> list[Row]:
    progress(
        f"200-cell notebook: {sizes.notebook_rounds} ABBA pairs × {sizes.notebook_per_block} runs"
    )
    with capture_server() as server:
        args = {
            "host": server.url,
            "rounds": sizes.notebook_rounds,
            "per_block": sizes.notebook_per_block,
            "cells": 200,
        }
        result = run_worker("notebook", args)
    pairs, cells = result["pairs"], result["cells"]
    rows = []
    for stat, what, budget in (
        ("min", "200-cell notebook, loaded (sending) vs not", "≤ 1.05×"),
        ("total", "  same, fastest whole run instead of per-cell fastest", "—"),
    ):
        ratios = summary([p["on"][stat] / p["off"][stat] for p in pairs])
        on = summary([p["on"][stat] / 1e6 for p in pairs])
        off = summary([p["off"][stat] / 1e6 for p in pairs])
        extra = summary([(p["on"][stat] - p["off"][stat]) / cells / 1000 for p in pairs])
        fine = result["sending"] and result["failed_cells"] == 0
        ok = ratios["median"] <= 1.05 and fine if budget != "—" else None
        detail = (
            f"{on['median']:.1f} ms loaded vs {off['median']:.1f} ms not loaded for {cells} cells "
            f"({result['lines']} lines, {result['failed_cells']} failed), "
            f"{extra['median']:+.1f} µs per cell"
        )
        if stat == "min":
            detail += " (each cell's fastest of the block's runs, summed)"
        if not result["sending"]:
            detail += "; telemetry was NOT sending"
        numbers = {
            "ratio": ratios,
            "on_ms": on,
            "off_ms": off,
            "extra_us_per_cell": extra,
            **{k: result[k] for k in ("sending", "cells", "failed_cells", "lines")},
        }
        figure = f"{ratios['median']:.3f}×"
        rows.append(Row(what, figure, spread(ratios, ".3f"), detail, budget, ok, numbers))
    return rows


# --- 1c. per-cell cost vs open suggestions and cell size ------------------------------------------

OPEN_SUGGESTIONS = (0, 1, 5, 20)
CELL_LINES = (10, 100, 1000)


def bench_scaling(sizes: Sizes) -> list[Row]:
    configs = len(OPEN_SUGGESTIONS) * len(CELL_LINES)
    progress(f"per-cell cost vs open suggestions and cell size: {sizes.scaling_rounds} × {configs}")
    with capture_server() as server:
        args = {
            "host": server.url,
            "rounds": sizes.scaling_rounds,
            "n": sizes.scaling_n,
            "open": list(OPEN_SUGGESTIONS),
            "lines": list(CELL_LINES),
        }
        result = run_worker("scaling", args, timeout=600)
    rows = []
    for k in OPEN_SUGGESTIONS:
        for lines in CELL_LINES:
            key = f"{k}/{lines}"
            pairs = result["results"][key]
            ratio = summary([p["on"] / p["off"] for p in pairs])
            on = summary([p["on"] / 1000 for p in pairs])
            off = summary([p["off"] / 1000 for p in pairs])
            extra = summary([(p["on"] - p["off"]) / 1000 for p in pairs])
            hook = summary([p["hook"] / 1000 for p in pairs])
            kept = all(n == k for n in result["still_open"][key])
            detail = (
                f"{on['median']:,.0f} µs loaded vs {off['median']:,.0f} µs not loaded, "
                f"{extra['median']:+,.0f} µs per cell (IQR {extra['q1']:+,.0f}–"
                f"{extra['q3']:+,.0f}); the hook alone {hook['median']:,.1f} µs"
            )
            if not kept:
                detail += f"; suggestions did NOT stay open: {result['still_open'][key]}"
            numbers = {
                "open": k,
                "lines": lines,
                "ratio": ratio,
                "on_us": on,
                "off_us": off,
                "extra_us": extra,
                "hook_us": hook,
                "kept_open": kept,
            }
            what = f"per cell: {lines} lines, {k} open suggestion{'s' if k != 1 else ''}"
            figure = f"{ratio['median']:.2f}×"
            rows.append(Row(what, figure, spread(ratio, ".2f"), detail, "—", None, numbers))
    return rows


def scaling_matrix(rows: list[Row]) -> str:
    """Markdown: per-cell µs loaded / not loaded = ratio; the hook's own µs."""
    cells = {(r.numbers["open"], r.numbers["lines"]): r for r in rows if "kept_open" in r.numbers}
    if not cells:
        return ""
    head = "| open suggestions | " + " | ".join(f"cell of {n} lines" for n in CELL_LINES) + " |"
    lines = [head, "|---|" + "---|" * len(CELL_LINES)]
    for k in OPEN_SUGGESTIONS:
        parts = []
        for n in CELL_LINES:
            r = cells[(k, n)].numbers
            parts.append(
                f"{r['on_us']['median']:,.0f} / {r['off_us']['median']:,.0f} µs = "
                f"{r['ratio']['median']:.2f}×; hook {r['hook_us']['median']:,.1f} µs"
            )
        lines.append(f"| {k} | " + " | ".join(parts) + " |")
    return "\n".join(lines)


# --- 2. one recorded event ------------------------------------------------------------------------


def bench_record(sizes: Sizes) -> list[Row]:
    progress(f"record vs posthog capture: {sizes.record_rounds} rounds (rotating order)")
    with capture_server() as server:
        args = {
            "host": server.url,
            "rounds": sizes.record_rounds,
            "n_record": sizes.record_n,
            "n_capture": sizes.capture_n,
            "n_bare": sizes.record_n,
        }
        result = run_worker("record", args)
        ours = [
            e
            for e in server.wait_for(result["recorded"] + result["captured"])
            if e.get("event") == EVENT and e.get("distinct_id") != "bench-posthog"
        ]
    rounds = result["rounds"]
    vs_capture = summary([r["record"] / r["capture"] for r in rounds])
    vs_bare = summary([r["record"] / r["bare"] for r in rounds])
    ns = {k: summary([r[k] for r in rounds]) for k in ("record", "capture", "bare")}
    delivered = len({e.get("uuid") for e in ours})
    lost = result["recorded"] - delivered
    ok = vs_capture["median"] <= 0.05 and result["sending"] and lost == 0
    detail = (
        f"record {ns['record']['median']:.0f} ns, posthog capture "
        f"{ns['capture']['median'] / 1000:.1f} µs, bare call {ns['bare']['median']:.0f} ns; "
        f"{delivered}/{result['recorded']} recorded events delivered, "
        f"{result['dropped']} dropped"
    )
    numbers = {
        "vs_capture": vs_capture,
        "vs_bare": vs_bare,
        "ns": ns,
        "recorded": result["recorded"],
        "delivered": delivered,
        "dropped": result["dropped"],
        "queue_peak": result["queue_peak"],
        "sending": result["sending"],
    }
    return [
        Row(
            "one record() vs posthog capture()",
            f"{vs_capture['median']:.4f}×",
            spread(vs_capture, ".4f"),
            detail,
            "≤ 0.05×",
            ok,
            numbers,
        ),
        Row(
            "one record() vs a bare call (floor)",
            f"{vs_bare['median']:.2f}×",
            spread(vs_bare, ".2f"),
            "a no-op function called with the same two arguments, same loop",
            "—",
            None,
            {"vs_bare": vs_bare},
        ),
    ]


# --- 3. import and load cost ----------------------------------------------------------------------

#: name: (statement, telemetry). The project key and host are IPython config, read only by
#: %load_ext; for a bare import "on" is an environment without DO_NOT_TRACK.
IMPORTS = {
    "python -c pass": ("pass", "off"),
    "import devscode_nb (off)": ("import devscode_nb", "off"),
    "import devscode_nb (on)": ("import devscode_nb", "on"),
    "import IPython": ("import IPython", "off"),
}

MODULES_SNIPPET = (
    "import sys; before = set(sys.modules); {stmt}; added = set(sys.modules) - before; "
    "import json; print(json.dumps(sorted(added)))"
)
NOTABLE = ("posthog", "ipywidgets", "IPython", "traitlets", "requests", "urllib3", "json", "uuid")


def time_fresh(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter_ns()
    subprocess.run([PYTHON, "-c", code], env=env, check=True)
    return (time.perf_counter_ns() - start) / 1e6


def modules_added(stmt: str, env: dict[str, str]) -> list[str]:
    code = MODULES_SNIPPET.format(stmt=stmt)
    out = subprocess.run([PYTHON, "-c", code], env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def top_level(names: list[str]) -> list[str]:
    return sorted({n.split(".")[0] for n in names if not n.split(".")[0].startswith("_")})


def describe_modules(names: list[str]) -> str:
    tops = top_level(names)
    notable = [n for n in NOTABLE if n in tops]
    return f"{len(names)} modules, {len(tops)} top-level ({', '.join(notable) or 'none notable'})"


def bench_import(sizes: Sizes) -> list[Row]:
    progress(f"import cost: {sizes.import_reps} interleaved rounds of fresh interpreters")
    with tempfile.TemporaryDirectory() as home:
        envs = {"off": clean_env(home, DO_NOT_TRACK="1"), "on": clean_env(home)}
        names = list(IMPORTS)
        times: dict[str, list[float]] = {name: [] for name in names}
        for stmt, kind in IMPORTS.values():  # warm the OS file cache once, untimed
            time_fresh(stmt, envs[kind])
        for i in range(sizes.import_reps):
            for name in rotated(names, i):
                stmt, kind = IMPORTS[name]
                times[name].append(time_fresh(stmt, envs[kind]))
        added = {name: modules_added(stmt, envs[kind]) for name, (stmt, kind) in IMPORTS.items()}
    base = times["python -c pass"]

    def extra(name: str) -> dict[str, float]:
        return summary([a - b for a, b in zip(times[name], base, strict=True)])

    rows = []
    for kind in ("off", "on"):
        name = f"import devscode_nb ({kind})"
        e = extra(name)
        clean = not ({"posthog", "ipywidgets"} & set(top_level(added[name])))
        detail = (
            f"{summary(base)['median']:.0f} ms for `python -c pass`; adds "
            f"{describe_modules(added[name])}: {', '.join(top_level(added[name]))}; "
            f"posthog/ipywidgets imported: {'no' if clean else 'YES'}"
        )
        if kind == "off":
            budget, ok = "≤ 60 ms; no posthog/ipywidgets", e["median"] <= 60 and clean
        else:
            budget, ok = "no posthog/ipywidgets (SPEC §4: only once sending)", clean
        rows.append(
            Row(
                f"import devscode_nb (telemetry {kind}), extra",
                f"{e['median']:+.1f} ms",
                spread(e, ".1f"),
                detail,
                budget,
                ok,
                {"extra_ms": e, "modules_added": top_level(added[name])},
            )
        )
    e = extra("import IPython")
    rows.append(
        Row(
            "import IPython, for scale",
            f"{e['median']:+.0f} ms",
            spread(e, ".0f"),
            f"adds {describe_modules(added['import IPython'])}",
            "—",
            None,
            {
                "extra_ms": e,
                "wall_ms": {name: summary(t) for name, t in times.items()},
                "module_counts": {name: len(mods) for name, mods in added.items()},
            },
        )
    )
    return rows


def bench_load(sizes: Sizes) -> list[Row]:
    progress(f"%load_ext, telemetry off and on: {sizes.load_reps} interleaved fresh interpreters")
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    with capture_server() as server:
        for i in range(sizes.load_reps):
            settle = 0.7 if i == 0 else 0.0  # the first run lets the transport take turns
            for kind in rotated(["off", "on"], i):
                if kind == "off":
                    args = {"host": None, "settle": settle}
                    runs[kind].append(run_worker("loadext", args, DO_NOT_TRACK="1"))
                else:
                    args = {"host": server.url, "settle": settle}
                    runs[kind].append(run_worker("loadext", args))
    rows = []
    for kind, results in runs.items():
        ms = summary([r["load_ext_ms"] for r in results])
        first = results[0]
        added = sorted({m for r in results for m in r["added_top_level"]})
        at_load = any(any(r["after_load"].values()) for r in results)
        if kind == "off":
            ok = not any(
                any(r["after_load"].values()) or any(r["after_cell"].values()) or r["new_threads"]
                for r in results
            ) and not any(r["telemetry_enabled"] for r in results)
            detail = (
                f"adds {first['added_count']} modules, {len(added)} top-level "
                f"({', '.join(added)}); posthog/ipywidgets after load and after a cell: "
                f"{'no' if ok else 'YES'}; threads started: "
                f"{', '.join(first['threads_after_cell']) or 'none'}"
            )
            budget = "no posthog/ipywidgets, no thread (SPEC §4)"
        else:
            # posthog may arrive with the first batch the transport sends, never before
            early = any(r["after_cell"]["posthog"] and not r["events_before"] for r in results)
            sent = all(r["posthog_after_event"] and r["sent"] for r in results)
            ok = not at_load and not early and sent and all(r["sending"] for r in results)
            widgets = any(r["after_cell"]["ipywidgets"] for r in results)
            detail = (
                f"adds {first['added_count']} modules, {len(added)} top-level "
                f"({', '.join(added)}); posthog after load: {'YES' if at_load else 'no'}; "
                f"after a cell + 0.7 s: {'yes' if first['after_cell']['posthog'] else 'no'} "
                f"(events sent by then: {', '.join(first['events_before']) or 'none'}); "
                f"after an event is sent: {'yes' if sent else 'NO'}; ipywidgets: "
                f"{'YES' if widgets else 'no'}; threads at load: "
                f"{', '.join(first['new_threads']) or 'none'}, after sending: "
                f"{', '.join(first['threads_after_cell']) or 'none'}"
            )
            budget = "posthog only once an event is sent (SPEC §4)"
        rows.append(
            Row(
                f"%load_ext devscode_nb (telemetry {kind})",
                f"{ms['median']:.1f} ms",
                spread(ms, ".1f"),
                detail,
                budget,
                ok,
                {
                    "load_ext_ms": ms,
                    "import_ms": summary([r["import_ms"] for r in results]),
                    "runs": results,
                },
            )
        )
    return rows


# --- 3b. peers: jupyter-ai, and the HTTP library --------------------------------------------


def ensure_peer_venv() -> str | None:
    """Make benchmarks/.venv-peer with jupyter-ai-magics once; the reason if that fails."""
    if PEER_PYTHON.exists():
        return None
    progress("making benchmarks/.venv-peer with jupyter-ai-magics (once; a few minutes)")
    try:
        subprocess.run([PYTHON, "-m", "venv", str(PEER_VENV)], check=True, timeout=300)
        subprocess.run(
            [str(PEER_PYTHON), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS],
            check=True, timeout=1800, capture_output=True,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        return f"could not install jupyter-ai-magics: {exc}"
    return None


def run_peer(
    python: str, mode: str, args: dict[str, Any], config: str | None = None, **env: str
) -> dict[str, Any]:
    """One benchmarks/peer_worker.py run in a fresh interpreter and HOME (``config`` as its
    ~/.devscode/config.json)."""
    with tempfile.TemporaryDirectory() as home:
        if config is not None:
            (Path(home) / ".devscode").mkdir()
            (Path(home) / ".devscode" / "config.json").write_text(config)
        out = Path(home) / "result.json"
        proc = subprocess.run(
            [python, str(HERE / "peer_worker.py"), mode, json.dumps(args), str(out)],
            env=clean_env(home, **env), capture_output=True, text=True, timeout=300,
        )
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"peer {mode} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return dict(json.loads(out.read_text()))


#: The last commit whose requests went through ``http.client``: issue 13 asked that the HTTP
#: library not make the first answer slower, so that code is measured again in the same run.
BEFORE_HTTP_LIBRARY = "8900537"

#: Whose kernel the first answer is asked in. A notebook runner's (nbclient, papermill: input
#: forbidden, so headless: no banner, nothing sent, posthog never imported); a person's
#: (``allow_stdin``, the banner acknowledged in an earlier kernel) with telemetry on, where
#: posthog, and urllib3 with it, is imported in the background after ``%load_ext``; and a
#: person's who switched telemetry off in config.json, where nothing is imported before asking.
FIRST_ANSWER_KERNELS = ("runner", "person, telemetry on", "person, telemetry off")


def first_answer_in_kernel(
    python: str,
    name: str,
    cell: str,
    config: dict[str, Any] | None,
    env: dict[str, str],
    expect: str,
    kernel: str = "runner",
    capture_url: str = "",
    pythonpath: str | None = None,
) -> dict[str, Any]:
    """A fresh real kernel of the ``kernel`` kind: ``%load_ext`` (not timed), for a person a
    second's pause (reading, typing), then the first assistant cell, timed from the client's
    execute_request to the kernel going idle."""
    from harness.kernel import KernelHarness, isolated_env

    person = kernel != "runner"
    config = dict(config or {})
    if kernel == "person, telemetry off":
        config["allowAnonymousTelemetry"] = False
    with tempfile.TemporaryDirectory() as base:
        extra = {**env, "JPY_SESSION_NAME": "bench.ipynb"} if person else dict(env)
        if pythonpath:
            extra["PYTHONPATH"] = pythonpath
        kernel_env = isolated_env(base, extra, python=python)
        if name == "devscode_nb":  # telemetry that would deliver, to a local capture server
            profile = Path(kernel_env["IPYTHONDIR"]) / "profile_default"
            profile.mkdir(parents=True, exist_ok=True)
            (profile / "ipython_config.py").write_text(
                "c.DevscodeTelemetry.api_key = 'phc_bench'\n"
                f"c.DevscodeTelemetry.host = {capture_url or refused_url()!r}\n"
            )
        if config:
            (Path(kernel_env["HOME"]) / ".devscode").mkdir()
            (Path(kernel_env["HOME"]) / ".devscode" / "config.json").write_text(json.dumps(config))
        if kernel == "person, telemetry on":  # a returning person: the banner was seen before
            with KernelHarness(kernel_env, cwd=base, python=python) as first:
                first.execute(f"%load_ext {name}", allow_stdin=True).raise_for_error()
                first.click(first.button("Got it").model_id)
        with KernelHarness(kernel_env, cwd=base, python=python) as k:
            k.execute(f"%load_ext {name}", allow_stdin=person).raise_for_error()
            if person:
                time.sleep(1.0)
            start = time.perf_counter()
            result = k.execute(cell, timeout=120, allow_stdin=person)
            ms = (time.perf_counter() - start) * 1e3
    shown = result.text + json.dumps(result.displays)
    return {"ms": ms, "ok": result.status == "ok", "answered": expect in shown}


@contextmanager
def code_before_http_library() -> Iterator[str | None]:
    """``devscode_nb`` as it was at BEFORE_HTTP_LIBRARY, in a temporary folder (``None`` where
    this checkout has no git history)."""
    with tempfile.TemporaryDirectory(prefix="bench-before-") as folder:
        try:
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", BEFORE_HTTP_LIBRARY, "devscode_nb"],
                capture_output=True, check=True, timeout=60,
            ).stdout
            subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            yield None
        else:
            yield folder


#: What the first ``%%devscode`` answer in a kernel imports once, and what for.
FIRST_ANSWER_IMPORTS = {
    "urllib3": "the request",
    "markdown_it": "rendering the answer",
    "ipywidgets": "the Accept/Reject buttons",
}
_TIME_IMPORTS = """
import json, time
def _took(name):
    start = time.perf_counter()
    __import__(name)
    return (time.perf_counter() - start) * 1e3
print(json.dumps({name: _took(name) for name in %s}))
"""


def first_answer_imports(reps: int, env: dict[str, str]) -> dict[str, dict[str, float]]:
    """Fresh kernels after ``%load_ext devscode_nb``: a trivial cell (the kernel's own cost per
    cell, timed by the client as the first answer is) and each of FIRST_ANSWER_IMPORTS, timed
    inside the kernel, in a rotating order; medians over ``reps`` kernels."""
    from harness.kernel import KernelHarness, isolated_env

    got: dict[str, list[float]] = {name: [] for name in ["cell", *FIRST_ANSWER_IMPORTS]}
    for i in range(reps):
        with tempfile.TemporaryDirectory() as base, KernelHarness(
            isolated_env(base, env), cwd=base
        ) as kernel:
            kernel.execute("%load_ext devscode_nb").raise_for_error()
            start = time.perf_counter()
            kernel.execute("1").raise_for_error()
            got["cell"].append((time.perf_counter() - start) * 1e3)
            order = rotated(list(FIRST_ANSWER_IMPORTS), i)
            result = kernel.execute(_TIME_IMPORTS % order).raise_for_error()
            for name, ms in json.loads(result.stdout).items():
                got[name].append(ms)
    return {name: summary(values) for name, values in got.items()}


def first_answer_rows(
    server: ModelServer,
    capture_url: str,
    config: dict[str, Any],
    openai_env: dict[str, str],
    reps: int,
) -> list[Row]:
    """The first answer of a fresh kernel, ``%%devscode`` vs ``%%ai``, in each kind of kernel
    (FIRST_ANSWER_KERNELS), and the same kernels running the code before the HTTP library, all
    interleaved in one run; ratios are taken per round against that round's ``%%ai``."""
    ask, expect = "Print the square root of two.", "math.sqrt(2)"
    with code_before_http_library() as before:
        sides = ["jupyter-ai", *FIRST_ANSWER_KERNELS]
        sides += [f"before: {kind}" for kind in FIRST_ANSWER_KERNELS] if before else []
        progress(f"first answer: {len(sides)} kinds of fresh kernel, {reps} interleaved rounds")
        got: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
        for i in range(reps):
            for side in rotated(sides, i):
                asked = len(server.requests)
                if side == "jupyter-ai":
                    result = first_answer_in_kernel(
                        str(PEER_PYTHON), "jupyter_ai_magics",
                        f"%%ai openai-chat:gpt-4o-mini\n{ask}", None, openai_env, expect,
                    )
                else:
                    kind = side.removeprefix("before: ")
                    result = first_answer_in_kernel(
                        PYTHON, "devscode_nb", f"%%devscode\n{ask}", config, openai_env, expect,
                        kind, capture_url, before if side != kind else None,
                    )
                result["requests"] = len(server.requests) - asked
                got[side].append(result)
    peer = summary([r["ms"] for r in got["jupyter-ai"]])
    rows = []
    for kind in FIRST_ANSWER_KERNELS:
        ours = got[kind]
        ratios = summary([d["ms"] / p["ms"] for d, p in zip(ours, got["jupyter-ai"], strict=True)])
        ms = summary([r["ms"] for r in ours])
        answered = all(r["ok"] and r["answered"] and r["requests"] == 1
                       for r in ours + got["jupyter-ai"])
        detail = f"{ms['median']:.0f} ms vs {peer['median']:.0f} ms"
        numbers: dict[str, Any] = {"ratio": ratios, "devscode_ms": ms, "peer_ms": peer,
                                   "runs": ours, "peer_runs": got["jupyter-ai"]}
        if before:
            then = got[f"before: {kind}"]
            was = summary([r["ms"] for r in then])
            diffs = summary([a["ms"] - b["ms"] for a, b in zip(ours, then, strict=True)])
            answered = answered and all(r["ok"] and r["answered"] for r in then)
            detail += (f"; the code before the HTTP library (http.client, "
                       f"{BEFORE_HTTP_LIBRARY}): {was['median']:.0f} ms = "
                       f"{was['median'] / peer['median']:.3f}×, now {diffs['median']:+.0f} ms")
            numbers.update(before_ms=was, added_ms=diffs, before_runs=then)
        detail += ("; every run answered with one request" if answered
                   else "; NOT every run answered with exactly one request")
        rows.append(Row(
            f"first answer, fresh kernel ({kind}): %%devscode vs %%ai",
            f"{ratios['median']:.3f}×", spread(ratios, ".3f"), detail,
            "≤ 0.1×", ratios["median"] <= 0.1 and answered, numbers,
        ))
    return rows


def bench_peers(sizes: Sizes) -> list[Row]:
    reason = ensure_peer_venv()
    if reason:
        return [Row("%load_ext devscode_nb vs jupyter_ai_magics", "—", "", reason, "≤ 0.1×", None)]
    reps = sizes.load_reps
    progress(f"peers: %load_ext and first answer vs jupyter-ai, {reps} interleaved rounds")
    rows: list[Row] = []
    with ModelServer() as server, CaptureServer() as capture:
        config = {"models": [{"title": "Bench", "provider": "openai", "model": "gpt-4o-mini",
                              "apiBase": server.base_url}]}
        openai_env = {"OPENAI_API_KEY": "sk-bench-not-a-key", "OPENAI_API_BASE": server.base_url,
                      "OPENAI_BASE_URL": server.base_url}
        got: dict[str, list[dict[str, Any]]] = {"devscode": [], "jupyter-ai": []}
        for i in range(reps):
            for side in rotated(list(got), i):
                python, name = (PYTHON, "devscode_nb") if side == "devscode" else (
                    str(PEER_PYTHON), "jupyter_ai_magics")
                cfg = json.dumps(config) if side == "devscode" else None
                got[side].append(run_peer(python, "load", {"name": name}, cfg, **openai_env))
        ratios = summary([d["ms"] / p["ms"] for d, p in zip(*got.values(), strict=True)])
        dev, peer = (summary([r["ms"] for r in runs]) for runs in got.values())
        rows.append(Row(
            "%load_ext devscode_nb vs %load_ext jupyter_ai_magics",
            f"{ratios['median']:.3f}×", spread(ratios, ".3f"),
            f"{dev['median']:.0f} ms vs {peer['median']:.0f} ms; modules added "
            f"{got['devscode'][0]['modules']} vs {got['jupyter-ai'][0]['modules']}",
            "≤ 0.1×", ratios["median"] <= 0.1, {"ratio": ratios, "devscode_ms": dev,
                                               "peer_ms": peer, "runs": got},
        ))
        rows += first_answer_rows(server, capture.url, config, openai_env, reps)
        progress("first answer: its one-off imports in fresh kernels")
        parts = first_answer_imports(max(reps // 2, 2), openai_env)
        floor = sum(parts[name]["median"] for name in parts)
        peer_ms = rows[1].numbers["peer_ms"]["median"]
        rows.append(Row(
            "first answer: a cell + its one-off imports, fresh kernel",
            f"{floor:.0f} ms", f"= {floor / peer_ms:.3f}× of %%ai's {peer_ms:.0f} ms",
            f"a trivial cell {parts['cell']['median']:.1f} ms; "
            + "; ".join(f"import {name} {parts[name]['median']:.1f} ms ({why})"
                        for name, why in FIRST_ANSWER_IMPORTS.items()),
            "—", None, {"ms": parts},
        ))
        progress("HTTP library: import + first streamed POST, fresh interpreters")
        libs = ("http.client", "urllib3", "requests", "httpx")
        times: dict[str, list[float]] = {lib: [] for lib in libs}
        url = f"{server.base_url}/chat/completions"
        for i in range(max(reps, 4)):
            for lib in rotated(list(libs), i):
                times[lib].append(run_peer(PYTHON, "library", {"lib": lib, "url": url})["ms"])
        stats = {lib: summary(v) for lib, v in times.items()}
        rows.append(Row(
            "HTTP library: import + first streamed POST (urllib3, used)",
            f"{stats['urllib3']['median']:.0f} ms", spread(stats["urllib3"], ".0f"),
            "; ".join(f"{lib} {stats[lib]['median']:.0f} ms" for lib in libs)
            + " (httpx builds a certifi TLS context for every client, even for http://)",
            "—", None, {"ms": stats},
        ))
    return rows


# --- 4. process exit ------------------------------------------------------------------------------


def outbox_count(home: str) -> int:
    """Events waiting in a global dir's outbox (its file names carry the counts)."""
    folder = Path(home) / ".devscode" / "devscode_nb-outbox"
    names = [p.name for p in folder.iterdir()] if folder.exists() else []
    return sum(int(n.split("-")[1]) for n in names if n[:1].isdigit())


def time_exit(host: str | None, load: bool) -> tuple[float, str, int]:
    """Seconds from the worker's exit marker to its end, its stderr, events left in the outbox."""
    with tempfile.TemporaryDirectory() as home:
        args = json.dumps({"host": host, "load": load, "settle": 0.7})
        proc = subprocess.Popen(
            [PYTHON, str(HERE / "worker.py"), "exit", args, "-"],
            env=clean_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stderr is not None
        marked = None
        for line in proc.stdout:
            if line.strip() == EXIT_MARKER:
                marked = time.perf_counter_ns()
                break
        proc.wait(timeout=120)
        ended = time.perf_counter_ns()
        stderr = proc.stderr.read()
        if marked is None:
            raise RuntimeError(f"exit worker printed no marker:\n{stderr[-3000:]}")
        return (ended - marked) / 1e9, stderr, outbox_count(home)


EXIT_EVENTS = 11  # the worker's 10 events and the banner's pageview


def bench_exit(sizes: Sizes) -> Row:
    progress(f"exit with the host unreachable: {sizes.exit_reps} rounds × 4 scripts")
    with capture_server(hang=True) as hanging, capture_server(delay=2.0) as slow:
        hosts = {"refused": refused_url(), "hanging": hanging.url, "slow (2 s)": slow.url}
        kinds = ["baseline", *hosts]
        seconds: dict[str, list[float]] = {k: [] for k in kinds}
        stderr: dict[str, list[str]] = {k: [] for k in kinds}
        kept: dict[str, list[int]] = {k: [] for k in hosts}
        for i in range(sizes.exit_reps):
            for kind in rotated(kinds, i):
                took, err, left = time_exit(hosts.get(kind), load=kind != "baseline")
                seconds[kind].append(took)
                stderr[kind].append(err)
                if kind in kept:
                    kept[kind].append(left)
    extra = {
        k: summary([a - b for a, b in zip(seconds[k], seconds["baseline"], strict=True)])
        for k in hosts
    }
    noisy = {k: [e for e in errs if e.strip()] for k, errs in stderr.items()}
    quiet = not any(noisy.values())
    lost = sum(EXIT_EVENTS - n for counts in kept.values() for n in counts)
    worst = max(extra, key=lambda k: extra[k]["median"])
    ok = all(s["median"] <= 0.1 for s in extra.values()) and quiet and lost == 0
    parts = [f"{k} {s['median']:+.3f} s (max {s['max']:+.3f})" for k, s in extra.items()]
    runs = sum(map(len, kept.values()))
    detail = (
        f"{'; '.join(parts)}; baseline exit {summary(seconds['baseline'])['median']:.3f} s; "
        f"stderr {'empty' if quiet else 'NOT EMPTY'}; undelivered events in the outbox after "
        f"exit: {runs * EXIT_EVENTS - lost}/{runs * EXIT_EVENTS} ({lost} lost)"
    )
    first_noise = next((errs[0] for errs in noisy.values() if errs), "")
    return Row(
        "process exit, host unreachable, extra (worst)",
        f"{extra[worst]['median']:+.3f} s",
        f"{worst}: {spread(extra[worst], '.3f')}",
        detail,
        "≤ 0.1 s; stderr empty; nothing lost",
        ok,
        {
            "extra_s": extra,
            "seconds": {k: summary(v) for k, v in seconds.items()},
            "stderr_empty": quiet,
            "stderr_sample": first_noise[-2000:],
            "kept_in_outbox": kept,
        },
    )


def bench_short_sessions(sizes: Sizes) -> Row:
    """Sessions that end right after recording (exit or %unload_ext); then one more session."""
    n = sizes.short_sessions
    progress(f"{n} short sessions, then one that delivers the outbox")
    with capture_server() as server, tempfile.TemporaryDirectory() as home:
        sessions = [
            run_worker("short", {"host": server.url, "events": 3, "unload": i % 2}, home=home)
            for i in range(n)
        ]
        during = len(server.events)
        drained = run_worker("drain", {"host": server.url}, home=home)
        events = server.events
    expected = {s["session_id"]: 4 for s in sessions}  # the banner's pageview and 3 events
    got: dict[str, int] = {}
    for event in events:
        sid = event["properties"].get("$session_id")
        got[sid] = got.get(sid, 0) + 1
    arrived = sum(min(got.get(sid, 0), k) for sid, k in expected.items())
    total = sum(expected.values())
    uuids = [e["uuid"] for e in events]
    dup = len(uuids) - len(set(uuids))
    took = summary([s["took_s"] for s in sessions])
    quiet = not any(s["stderr"].strip() for s in sessions)
    detail = (
        f"{arrived}/{total} events of {n} sessions arrived ({during} while they ran, the rest "
        f"from the outbox in the next session); {dup} duplicate uuids; last event to end of "
        f"session median {took['median'] * 1000:.1f} ms (max {took['max'] * 1000:.1f}); "
        f"outbox left {drained['outbox_left']}; stderr {'empty' if quiet else 'NOT EMPTY'}"
    )
    return Row(
        "short sessions (end ≤ 0.3 s after their last event): delivered",
        f"{arrived / total:.2%}",
        f"{arrived}/{total}",
        detail,
        f"100 % of the events of {n} sessions",
        arrived == total and dup == 0 and took["max"] <= 0.3 and quiet,
        {"arrived": arrived, "total": total, "duplicates": dup, "took_s": took},
    )


def bench_optout(sizes: Sizes) -> Row:
    progress("requests after an opt-out: 1 s per request, a flood queued")
    with capture_server(delay=1.0) as server:
        result = run_worker("optout", {"host": server.url, "events": sizes.deliver_total})
        arrivals = sorted(r["at"] for r in server.requests)
    after = [a for a in arrivals if a > result["moment"]]
    started = result["requests_started_after"]
    detail = (
        f"{result['recorded']} events recorded ({result['queued']} queued at the opt-out, the "
        f"recorder's bound), {result['requests_before']} requests before it; requests started "
        f"after it: {started}; arriving after it: {len(after)}; watched 3 s of cells after it"
    )
    return Row(
        "requests started after an opt-out (host 1 s per request)",
        str(started),
        f"{len(after)} arrived after",
        detail,
        "0",
        started == 0 and len(after) == 0,
        {**{k: v for k, v in result.items() if k != "stderr"}, "arrived_after": len(after)},
    )


# --- 5. delivery ----------------------------------------------------------------------------------


MEMORY_SLACK_MB = 10


def bench_deliver(sizes: Sizes) -> list[Row]:
    total = sizes.deliver_total
    progress(f"delivery of {total} events to a loopback capture server")
    with capture_server() as server:
        result = run_worker("deliver", {"host": server.url, "total": total, "chunk": 1_000})
        events = [e for e in server.wait_for(total + 1, timeout=30) if e.get("event") == EVENT]
        requests = list(server.requests)
    distinct = {e.get("uuid") for e in events}
    per_request = [
        len(r["json"]["batch"])
        for r in requests
        if isinstance(r["json"], dict) and isinstance(r["json"].get("batch"), list)
    ]
    wire = sum(int(r["headers"].get("Content-Length") or 0) for r in requests)
    lost = total - len(distinct)
    batched = bool(per_request) and max(per_request) > 1
    ok = lost == 0 and batched and result["sending"]
    rate = total / result["flushed_s"]
    growth = result["rss_peak_mb"] - result["rss_start_mb"]
    detail = (
        f"{len(distinct)}/{total} delivered ({lost} lost, {len(events) - len(distinct)} dup, "
        f"{result['dropped']} dropped at the queue) in {len(requests)} requests "
        f"(median {statistics.median(per_request or [0]):.0f}, max {max(per_request or [0])} "
        f"events each), {wire / 1e6:.2f} MB on the wire (gzip); {result['flushed_s']:.1f} s "
        f"({rate:,.0f} events/s); peak RSS {result['rss_peak_mb']:.0f} MB "
        f"(+{growth:.0f} MB over the loaded extension, {1000 * growth / total:.2f} KB/event)"
    )
    numbers = {
        **{k: v for k, v in result.items() if k != "stderr"},
        "delivered": len(distinct),
        "lost": lost,
        "requests": len(requests),
        "events_per_request": summary(per_request) if per_request else {},
        "wire_bytes": wire,
        "json_bytes": sum(len(b) for b in server.raw),
        "events_per_s": rate,
    }
    return [
        Row(
            "events delivered to a loopback capture server",
            f"{len(distinct) / total:.2%}",
            f"{len(distinct)}/{total}",
            detail,
            "100 % of 100 000, in batches" + ("" if total >= 100_000 else f" (--quick: {total})"),
            ok,
            numbers,
        ),
        memory_row(result["rss_curve"], result["first_send_at"]),
    ]


#: (answer bytes, seconds between 100-byte deltas): a paced answer and a fast, long one.
STREAMS = ((60_000, 0.004), (600_000, 0.0))

#: 60 KB answers whose Markdown grows as HTML (a 6-byte table row becomes 30 bytes, 30 ``>`` 30
#: nested blockquotes, a quote 6 bytes), and HTML code as models write it: each must stay ≤ 4×.
GROWING_ANSWERS = {
    "table rows": "|a|b|\n|-|-|\n" + "|a|b|\n" * 10_000,
    "nested quotes": (">" * 30 + " a\n\n") * 1_800,
    "quotes": '"' * 60_000,
    "links": "[a](https://example.com/) " * 2_200,
    "HTML code in a fence": "```html\n"
    + '<div class="row"><a href="#x">a</a></div>\n' * 1_400
    + "```\n",
}


def bench_streaming(sizes: Sizes) -> Row:
    ratios, details, numbers = [], [], {}
    answers = {f"{size // 1000} KB": (streaming_answer(size), delay) for size, delay in STREAMS}
    answers.update({name: (text, 0.0) for name, text in GROWING_ANSWERS.items()})
    for name, (answer, delay) in answers.items():
        pieces = [answer[i : i + 100] for i in range(0, len(answer), 100)]
        progress(f"streaming an answer ({name}) into a real kernel")
        with ModelServer(answer=answer, pieces=pieces, delay=delay) as server:
            result = run_worker("streaming", {"base": server.base_url}, DO_NOT_TRACK="1")
        ratio = result["bytes"] / len(answer.encode())
        ratios.append(ratio)
        kinds = result["kinds"]
        rendered = "rendered" if "display_data" in kinds else "kept as streamed text"
        details.append(
            f"{name}: {result['bytes'] / 1e3:,.0f} KB sent ({ratio:.2f}×, {rendered}) in "
            f"{kinds.count('stream')} stream + {kinds.count('display_data')} display messages, "
            f"{result['wall_s']:.1f} s"
        )
        numbers[name] = {
            "ratio": ratio,
            "answer_bytes": len(answer.encode()),
            **{k: v for k, v in result.items() if k != "stderr"},
        }
    worst = max(ratios)
    return Row(
        "bytes to the frontend while streaming / answer bytes (worst)",
        f"{worst:.2f}×",
        " · ".join(f"{r:.2f}×" for r in ratios),
        "; ".join(details),
        "≤ 4× (stream once, render once)",
        worst <= 4,
        numbers,
    )


#: What a hostile server streams after one good event: 50 MB that never end a line or an event.
FLOODS = {"one line": b"x" * 65_536, "one event": (b"data: " + b"x" * 57 + b"\n") * 1024}
FLOOD_HEAD = (
    b'data: {"choices": [{"index": 0, "delta": {"content": "Hello "}}]}\n\ndata: '
)


def bench_flood(sizes: Sizes) -> list[Row]:
    """Informational: a server that never ends its line or event costs bounded time and memory
    (before, the whole buffer was split again on every read: ~20 MB in 20 s, then the time
    limit)."""
    rows = []
    for name, unit in FLOODS.items():
        progress(f"a model server streaming 50 MB of {name} that never ends")
        walls, results = [], []
        for _ in range(sizes.flood_reps):
            with ModelServer(flood=unit, flood_head=FLOOD_HEAD) as server:
                result = run_worker(
                    "flood", {"base": server.base_url, "time_s": 900, "size_chars": 1_000_000}
                )
                for request in server.requests:
                    request.finished.wait(10)
                result["sent"] = max(r.sent for r in server.requests)
            walls.append(result["wall_s"])
            results.append(result)
        s = summary(walls)
        worst = max(results, key=lambda r: r["peak"])
        detail = (
            f"ended as {'/'.join(sorted({r['kind'] for r in results}))} past the bound of "
            f"{worst['bound'] / 2**20:.1f} MiB (default size limit), {worst['kept']} characters "
            f"kept; the server's socket took at most {max(r['sent'] for r in results) / 2**20:.1f}"
            f" of 50 MiB; Python's peak {worst['peak'] / 2**20:.1f} MiB"
        )
        what = f"a server streaming 50 MB of {name} without an end"
        numbers = {"s": s, "runs": results}
        rows.append(Row(what, f"{s['median']:.2f} s", spread(s, ".2f"), detail, "—", None, numbers))
    return rows


def memory_row(curve: list[list[float]], first_send_at: int | None) -> Row:
    """SPEC §4 "bounded memory": peak RSS must stop growing once the queues are full.

    The first batch sent imports posthog and its dependencies (~19 MB, once per process): a
    step, not growth. It comes when the recorder's queue first reaches the pacing mark, ~5 000
    events in, so it falls in the second half of a short (--quick) run. Growth is therefore
    measured from half-way or from the first sample after that step, whichever is later, to the
    end; the growth within the 2nd and the 4th quarter is shown too (equal and positive would
    mean a leak).
    """
    total = curve[-1][0]

    def at(events: float) -> float:
        return next(mb for e, mb in curve if e >= events)

    start = max(total // 2, first_send_at or 0)
    start_events = next(e for e, _ in curve if e >= start)
    growth = curve[-1][1] - at(start)
    step = None
    if first_send_at is not None:
        before = [mb for e, mb in curve if e < first_send_at]
        step = at(first_send_at) - (before[-1] if before else curve[0][1])
    q2 = at(total / 2) - at(total / 4)
    q4 = curve[-1][1] - at(total * 3 / 4)
    points = ", ".join(f"{events / 1000:g}k: {mb:.1f}" for events, mb in curve[::2])
    step_text = (
        f"one-off step {step:+.1f} MB at the first send ({first_send_at:,} events in: "
        "import posthog), excluded; "
        if step is not None and first_send_at is not None
        else ""
    )
    detail = (
        f"from {start_events:,} to {total:,} events; {step_text}growth in the 2nd quarter "
        f"{q2:+.1f} MB, in the 4th {q4:+.1f} MB; peak RSS (MB) after N events: {points}"
    )
    return Row(
        "peak RSS growth, 2nd half of delivery (after the one-off step)",
        f"{growth:+.1f} MB",
        f"{curve[0][1]:.0f}→{curve[-1][1]:.0f} MB",
        detail,
        f"≤ {MEMORY_SLACK_MB} MB (SPEC §4: bounded)",
        growth <= MEMORY_SLACK_MB,
        {
            "rss_curve": curve,
            "first_send_at": first_send_at,
            "from_events": start_events,
            "growth_mb": growth,
            "step_mb": step,
            "q2_growth_mb": q2,
            "q4_growth_mb": q4,
        },
    )


# --- report ---------------------------------------------------------------------------------------


COLUMNS = ("what", "figure", "spread", "budget", "verdict")


def plain_table(rows: list[Row]) -> str:
    cells = [COLUMNS, *[tuple(str(getattr(r, c)) for c in COLUMNS) for r in rows]]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    details = [f"  {r.what}: {r.detail}" for r in rows]
    return "\n".join([*lines, "", *details])


def markdown_table(rows: list[Row]) -> str:
    head = "| what | median | spread | detail | budget | verdict |\n|---|---|---|---|---|---|"
    body = [
        f"| {r.what} | {r.figure} | {r.spread} | {r.detail} | {r.budget} | {r.verdict or '—'} |"
        for r in rows
    ]
    return "\n".join([head, *body])


def _proc_field(path: str, key: str) -> str | None:
    try:
        with open(path) as handle:
            for line in handle:
                name, _, value = line.partition(":")
                if name.strip() == key:
                    return value.strip()
    except OSError:
        pass
    return None


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    """What the numbers were measured on (read without importing IPython or posthog here)."""
    mem_kb = _proc_field("/proc/meminfo", "MemTotal")
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "?",
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": round(int(mem_kb.split()[0]) / 2**20, 1) if mem_kb else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "ipython": _version("ipython"),
        "posthog": _version("posthog"),
        "devscode_nb": _version("devscode-nb"),
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
    }


def machine_header(m: dict[str, Any]) -> str:
    load = m.get("load_avg_end", m["load_avg_start"])
    return (
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), "
        f"{m['memory_gib']} GiB RAM, {m['platform']}; Python {m['python']}, "
        f"IPython {m['ipython']}, posthog {m['posthog']}, devscode_nb {m['devscode_nb']}; "
        f"{m['date']}; load average {' '.join(map(str, m['load_avg_start']))} at start, "
        f"{' '.join(map(str, load))} at end"
    )


# --- 8. config.json on the notebook thread ------------------------------------------------------


def bench_config(sizes: Sizes) -> list[Row]:
    """Informational: what reading config.json costs the notebook thread after it changed."""
    progress(f"config.json reads: {sizes.config_reps} per shape")
    shapes = run_worker("config", {"reps": sizes.config_reps})["shapes"]
    rows = []
    for name, got in shapes.items():
        s = summary(got["ms"])
        verdict = "refused, not parsed" if got["error"] else "parsed"
        rows.append(
            Row(
                f"config.json: {name}",
                f"{s['median']:.2f} ms",
                spread(s, ".2f"),
                f"{got['bytes']:,} bytes, {verdict}",
                "—",
                None,
                {"ms": s, "bytes": got["bytes"]},
            )
        )
    return rows


def run_all(sizes: Sizes) -> list[Row]:
    benches: list[Callable[[Sizes], Row | list[Row]]] = [
        bench_cells,
        bench_cells_vscode,
        bench_notebook,
        bench_scaling,
        bench_record,
        bench_import,
        bench_load,
        bench_peers,
        bench_exit,
        bench_short_sessions,
        bench_optout,
        bench_deliver,
        bench_streaming,
        bench_flood,
        bench_config,
    ]
    rows: list[Row] = []
    for bench in benches:
        started = time.perf_counter()
        produced = bench(sizes)
        rows.extend(produced if isinstance(produced, list) else [produced])
        progress(f"{bench.__name__}: {time.perf_counter() - started:.1f} s")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (~1.5 minutes)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a budget is missed")
    options = parser.parse_args(argv)
    sizes = QUICK if options.quick else Sizes()
    started = time.perf_counter()
    host = machine()
    global PYCACHE
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as PYCACHE:
        rows = run_all(sizes)
    elapsed = time.perf_counter() - started
    host["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]

    misses = [r for r in rows if r.ok is False]
    header = machine_header(host)
    print(header + "\n")
    print(plain_table(rows))
    print(f"\nMarkdown ({'quick' if options.quick else 'default'} run, {elapsed:.0f} s):\n")
    print(header + "\n")
    print(markdown_table(rows))
    matrix = scaling_matrix(rows)
    if matrix:
        print("\nPer-cell median, loaded / not loaded = ratio; the extension's hook alone:\n")
        print(matrix)
    print()
    for row in misses:
        print(f"MISS: {row.what}: {row.figure} (budget {row.budget}) — {row.detail}")
    if not misses:
        print("All budgets met.")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": options.quick,
        "elapsed_s": elapsed,
        "sizes": asdict(sizes),
        "machine": host,
        "rows": [{**asdict(r), "verdict": r.verdict} for r in rows],
    }
    RESULTS.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"Wrote {RESULTS.relative_to(ROOT)}")
    return 1 if options.check and misses else 0


if __name__ == "__main__":
    sys.exit(main())
