"""Subprocess side of the peer rows: ``python benchmarks/peer_worker.py MODE ARGS_JSON OUT_JSON``.

Runs under the test venv's Python (devscode_nb) or under benchmarks/.venv-peer's (jupyter-ai),
so it imports nothing of this project at module level and only the standard library.

- ``load``: ``%load_ext NAME`` in a fresh ``InteractiveShell``, timed (the import is part of it).
(The first answer is timed by run.py in a real fresh kernel.)

- ``library``: import of an HTTP library and its first streamed POST to the model server.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from typing import Any


def shell() -> Any:
    from IPython.core.interactiveshell import InteractiveShell

    return InteractiveShell.instance()


def mode_load(args: dict[str, Any]) -> dict[str, Any]:
    sh = shell()
    before = len(sys.modules)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        sh.run_line_magic("load_ext", args["name"])
    return {"ms": (time.perf_counter() - start) * 1e3, "modules": len(sys.modules) - before}


def mode_library(args: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps({"model": "demo", "stream": True,
                       "messages": [{"role": "user", "content": "hi"}]}).encode()
    headers = {"Content-Type": "application/json"}
    lib, url = args["lib"], args["url"]
    start = time.perf_counter()
    if lib == "requests":
        import requests

        with requests.Session() as s, s.post(url, data=body, headers=headers, stream=True,
                                              timeout=10) as r:
            size = sum(len(c) for c in r.iter_content(None))
    elif lib == "urllib3":
        import urllib3

        with urllib3.PoolManager() as pool:
            r = pool.request("POST", url, body=body, headers=headers, preload_content=False,
                             timeout=10)
            size = sum(len(c) for c in r.stream(None))
    elif lib == "httpx":
        import httpx

        with httpx.Client(timeout=10) as c, c.stream("POST", url, content=body,
                                                     headers=headers) as r:
            size = sum(len(c) for c in r.iter_bytes())
    else:
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        conn.request("POST", parts.path, body=body, headers=headers)
        size = len(conn.getresponse().read())
        conn.close()
    return {"ms": (time.perf_counter() - start) * 1e3, "bytes": size}


MODES = {"load": mode_load, "library": mode_library}


def main() -> None:
    mode, raw_args, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
    result = MODES[mode](json.loads(raw_args))
    with open(out_path, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
