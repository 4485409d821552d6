"""The load generator keeps connections alive, but opens each afresh now and then, so the
servers' workers share the connections by chance over the run rather than once."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

from bench import loadgen


class _Counting(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    connections: ClassVar[set[int]] = set()

    def do_GET(self) -> None:
        _Counting.connections.add(self.client_address[1])
        # One write: headers and body apart would wait for the delayed ACK on every request.
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def log_message(self, *args: object) -> None:
        pass


def test_each_connection_is_renewed_after_its_share_of_requests() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        requests = 5 * loadgen.RECONNECT_EVERY
        result = loadgen.run("count", f"http://127.0.0.1:{server.server_address[1]}",
                             lambda n: ("GET", "/", b"", {}), concurrency=1, max_requests=requests,
                             max_seconds=60)
    finally:
        server.shutdown()
    assert result.count == requests and result.errors == 0
    assert len(_Counting.connections) == 5  # kept alive for RECONNECT_EVERY requests each, no longer
