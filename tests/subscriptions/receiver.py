"""A rest-hook receiver on loopback: a small HTTP server in a thread that records every POST and
can be taken down and brought up again on the same port."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fhirip.testing.served import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def bundle(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def status(self) -> dict[str, Any]:
        return self.bundle["entry"][0]["resource"]

    def parameter(self, name: str) -> Any:
        return next(p for p in self.status["parameter"] if p["name"] == name)

    @property
    def event_numbers(self) -> list[int]:
        return [int(part["valueString"]) for p in self.status["parameter"] if p["name"] == "notification-event"
                for part in p["part"] if part["name"] == "event-number"]

    @property
    def resources(self) -> list[dict[str, Any]]:
        return [e["resource"] for e in self.bundle["entry"][1:]]


class Receiver:
    def __init__(self, status: int = 200):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.answer = status
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def up(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.received.append(Received(self.path, dict(self.headers), body))
                self.send_response(receiver.answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def numbers(self) -> list[int]:
        with self._lock:
            return [n for r in self.received if r.body for n in r.event_numbers]

    def wait_for(self, count: int, deadline: float = 15.0) -> list[Received]:
        """Until `count` events have been notified (one notification may carry several; one without
        a body counts one), polled; the deadline only ends a failing wait."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            with self._lock:
                if sum(len(r.event_numbers) if r.body else 1 for r in self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        with self._lock:
            return list(self.received)
