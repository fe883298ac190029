"""One real session in its own process, for the delivery tests: ``python delivery_worker.py JSON``.

It loads the extension into a real InteractiveShell sending to ``host`` and does what ``mode``
says; the last line on stdout is a JSON report. Timestamps are ``time.time()`` so the test can
compare them with the capture server's arrival times.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

TOKENS = {"model": "gpt-4o-mini", "provider": "openai", "promptTokens": 3, "generatedTokens": 5}


def make_shell(host: str, interval: float) -> Any:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    config.DevscodeTelemetry.api_key = "phc_delivery_test"
    config.DevscodeTelemetry.host = host
    config.DevscodeTelemetry.flush_interval = interval
    shell = InteractiveShell.instance(config=config)
    shell.run_line_magic("load_ext", "devscode_nb")
    return shell


def session_of(shell: Any) -> Any:
    from devscode_nb.ipython.extension import session_for

    return session_for(shell)


def report(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def short(args: dict[str, Any]) -> None:
    """Load, record a few events, leave at once (exit, or %unload_ext then exit)."""
    shell = make_shell(args["host"], 0.5)
    telemetry = session_of(shell).telemetry
    for _ in range(args.get("events", 3)):
        telemetry.record("tokens_generated", dict(TOKENS))
    last = time.monotonic()
    if args.get("unload"):
        shell.run_line_magic("unload_ext", "devscode_nb")
    report(session_id=telemetry.session_id, took=time.monotonic() - last)


def opt_out_by(route: str, shell: Any, telemetry: Any) -> float:
    """Turn telemetry off by ``route``; returns the moment the source said off."""
    if route == "magic":
        moment = time.time()
        shell.run_line_magic("devscode", "telemetry off")
    elif route == "banner":
        from devscode_nb.ipython.banner import Banner

        moment = time.time()
        Banner(telemetry, widgets=False).opt_out()  # what the "Opt out" button calls
    elif route == "config":
        moment = time.time()
        shell.run_line_magic("config", "DevscodeTelemetry.enabled = False")
    elif route == "env":
        moment = time.time()
        shell.run_line_magic("env", "DO_NOT_TRACK=1")
    elif route == "config.json":  # another process writes it
        path = telemetry.config_path
        code = (
            "import sys, time, pathlib\n"
            "pathlib.Path(sys.argv[1]).write_text('{\"allowAnonymousTelemetry\": false}')\n"
            "print(time.time())"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
        )
        moment = float(done.stdout)
    else:
        raise SystemExit(f"unknown route {route}")
    return moment


def optout(args: dict[str, Any]) -> None:
    """Queue a flood against a slow host, opt out mid-delivery, watch what happens next."""
    shell = make_shell(args["host"], 0.05)
    telemetry = session_of(shell).telemetry
    transport = telemetry.transport
    for _ in range(args["events"]):
        telemetry.record("tokens_generated", dict(TOKENS))
    deadline = time.monotonic() + 30
    while transport.requests < args.get("after_requests", 2) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # that request has reached the host and waits for its slow answer
    queued = len(telemetry.recorder) + sum(len(b.messages) for b in transport._held)
    requests_before = transport.requests
    moment = opt_out_by(args["route"], shell, telemetry)
    queued_after = len(telemetry.recorder) + len(transport._held)
    for i in range(20):  # cells go on; the kernel keeps noticing
        shell.run_cell(f"x = {i}")
        telemetry.record("tokens_generated", dict(TOKENS))
        time.sleep(args.get("watch", 3.0) / 20)
    dispositions: dict[str, int] = {}
    for line in telemetry.log.path.read_text().splitlines():
        key = json.loads(line)["disposition"]
        dispositions[key] = dispositions.get(key, 0) + 1
    report(
        moment=moment,
        queued=queued,
        queued_after=queued_after,
        requests_before=requests_before,
        requests=transport.requests,
        outbox_exists=telemetry.outbox.path.exists(),
        queued_end=len(telemetry.recorder) + len(transport._held),
        reason=telemetry.decision.reason,
        dispositions=dispositions,
    )


def linger(args: dict[str, Any]) -> None:
    """A session that records, stays ``seconds`` (delivering, or failing to), then exits."""
    shell = make_shell(args["host"], 0.05)
    session = session_of(shell)
    telemetry = session.telemetry
    for i in range(args.get("events", 5)):
        telemetry.record("tokens_generated", dict(TOKENS))
        shell.run_cell(f"x = {i}")
    deadline = time.monotonic() + args.get("seconds", 1.0)
    while time.monotonic() < deadline:
        shell.run_cell("y = 1")
        if (
            args.get("until_outbox_empty")
            and not telemetry.outbox.pending()
            and (
                telemetry.transport.sent
                and not telemetry.recorder
                and not telemetry.transport._held
            )
        ):
            break
        time.sleep(0.05)
    report(
        session_id=telemetry.session_id,
        sent=telemetry.transport.sent,
        outbox=telemetry.outbox.pending(),
        reason=telemetry.decision.reason,
        status=telemetry.status_text(),
        pid=os.getpid(),
    )


def noisy(args: dict[str, Any]) -> None:
    """A notebook that called ``logging.basicConfig(level=DEBUG)``, against a faulty host."""
    import logging

    logging.basicConfig(level=logging.DEBUG)
    shell = make_shell(args["host"], 0.05)
    telemetry = session_of(shell).telemetry
    for i in range(30):
        telemetry.record("tokens_generated", dict(TOKENS))
        shell.run_cell(f"x = {i}")
        time.sleep(args.get("seconds", 3.0) / 30)
    print("MARK", flush=True)
    if args.get("own_posthog_log"):  # the notebook's own posthog logging still works
        logging.getLogger("posthog").warning("the notebook's own posthog warning")


def main() -> None:
    args = json.loads(sys.argv[1])
    {"short": short, "optout": optout, "linger": linger, "noisy": noisy}[args["mode"]](args)


if __name__ == "__main__":
    main()
