"""A PostHog capture server on 127.0.0.1 for tests: it speaks the ingestion endpoints the real
posthog client uses (``/batch/``, ``/i/v0/e/``, ``/capture/``, ``/e/``; gzip or not) and keeps
every byte it received, so tests can read what arrived and search it for canaries.

Fault modes: ``status`` (e.g. 500, 413, 429 with ``retry_after``), ``hang`` (accepts and never
answers), ``delay`` (answers slowly), ``garbage`` (200 with a body that is not JSON).
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class CaptureServer:
    def __init__(self) -> None:
        self.raw: list[bytes] = []  # decoded request bodies, exactly as received
        self.requests: list[dict[str, Any]] = []  # path, headers, json
        self.status = 200
        self.retry_after: str | None = None
        self.delay = 0.0
        self.hang = False
        self.garbage = False
        self._released = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # header and body go out as two writes

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                arrived = time.time()  # when the request line came in, before the body
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.headers.get("Content-Encoding") == "gzip" or body[:2] == b"\x1f\x8b":
                    body = gzip.decompress(body)
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
                with server._lock:
                    server.raw.append(body)
                    server.requests.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers),
                            "json": parsed,
                            "at": arrived,
                        }
                    )
                if server.hang:
                    server._released.wait(60)
                    return
                if server.delay:
                    time.sleep(server.delay)
                reply = b"<html>not json" if server.garbage else b'{"status": 1}'
                self.send_response(server.status)
                if server.retry_after is not None:
                    self.send_header("Retry-After", server.retry_after)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that hung up on a slow answer is not news

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> CaptureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._released.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event received, from batches and single captures alike."""
        out: list[dict[str, Any]] = []
        with self._lock:
            for request in self.requests:
                body = request["json"]
                if isinstance(body, dict) and isinstance(body.get("batch"), list):
                    out.extend(body["batch"])
                elif isinstance(body, dict) and "event" in body:
                    out.append(body)
                elif isinstance(body, list):
                    out.extend(body)
        return out

    def all_bytes(self) -> bytes:
        with self._lock:
            return b"\n".join(self.raw)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.events
            if len(events) >= count:
                return events
            time.sleep(0.02)
        return self.events


def refused_url() -> str:
    """A loopback URL where nothing listens: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def main() -> None:  # pragma: no cover - for running by hand and from notebooks
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port-file", help="write the URL here once listening")
    args = parser.parse_args()
    with CaptureServer() as server:
        if args.port_file:
            with open(args.port_file, "w") as handle:
                handle.write(server.url)
        print(server.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
