"""The reads and their baselines are measured interleaved: every pair runs a slice in every round,
so a drift of the machine or the data over the run reaches both sides of a ratio."""

from __future__ import annotations

import argparse
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

from bench.loadgen import run
from bench.run import Driver
from bench.workloads import Factory


class _Logging(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log: ClassVar[list[tuple[float, int]]] = []

    def do_GET(self) -> None:
        _Logging.log.append((time.perf_counter(), self.server.server_address[1]))
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def log_message(self, *args: object) -> None:
        pass


class _OneCaller:
    """A read workload of one caller and unbounded data, as `Driver` asks of `bench.workloads.Workloads`."""

    def factory(self, key: str) -> Factory:
        return Factory(lambda n: ("GET", "/", b"", {}))

    def limit(self, key: str) -> None:
        return None

    def callers(self, key: str) -> int:
        return 1


def _runs(log: list[tuple[float, int]]) -> list[int]:
    """The servers in the order their stretches of requests came."""
    order: list[int] = []
    for _, port in sorted(log):
        if not order or order[-1] != port:
            order.append(port)
    return order


def test_each_pair_runs_a_slice_in_every_round_and_its_figure_sums_them() -> None:
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Logging) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    ports = [server.server_address[1] for server in servers]
    args = argparse.Namespace(rounds=3, seconds=0.9, warmup=0.05, concurrency=2, requests=100_000)
    try:
        driver = Driver(args)
        _Logging.log.clear()
        figures = driver.measure_interleaved(
            [("read", name, f"http://127.0.0.1:{port}", _OneCaller()) for name, port in zip("ab", ports)],
            "sqlite")
    finally:
        for server in servers:
            server.shutdown()
    # a's and b's warm-ups, then the rounds a b | b a | a b (each slice after its short warm-up):
    # every server's requests come in stretches that alternate with the other's
    a, b = ports
    assert _runs(_Logging.log) == [a, b, a, b, a, b]
    assert [f.server for f in figures] == ["a", "b"]
    for figure in figures:
        assert figure.errors == 0 and figure.count > 0
        # measured over the three slices together: about the time given, not one slice's
        assert 0.6 < figure.count / figure.throughput < 1.3


def test_a_single_round_is_one_stretch_per_pair() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Logging)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        _Logging.log.clear()
        figures = Driver(argparse.Namespace(rounds=1, seconds=0.2, warmup=0.0, concurrency=1, requests=50)) \
            .measure_interleaved([("read", "a", url, _OneCaller())], "sqlite")
        direct = run("read", url, lambda n: ("GET", "/", b"", {}), concurrency=1, max_requests=50, max_seconds=5)
    finally:
        server.shutdown()
    assert figures[0].count == direct.count == 50
