"""A small HTTP/1.1 load generator on asyncio streams, bounded in count and time.

Lean on purpose: the driver shares the machine with the server, so it must spend
as little CPU per request as it can. Only loopback targets are accepted.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# A request factory returns (method, path, body, extra headers) for request number i.
RequestFactory = Callable[[int], tuple[str, str, bytes, dict[str, str]]]


@dataclass
class Result:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    first_error: str = ""  # the status and body of the first error response, to say what went wrong

    @property
    def count(self) -> int:
        return len(self.latencies_ms)

    @property
    def throughput(self) -> float:
        return self.count / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("closed")
    status = int(status_line.split()[1])
    length = 0
    close = False
    chunked = False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and value.strip().lower() == "close":
            close = True
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    body = b""
    if chunked:
        while True:
            size = int((await reader.readline()).strip(), 16)
            body += (await reader.readexactly(size + 2))[:size] if status >= 400 else b""
            if size == 0:
                break
    elif length:
        body = await reader.readexactly(length)
    return status, close, body if status >= 400 else b""


# Each connection is opened afresh after this many requests or this long, whichever comes first.
# A gunicorn worker keeps the keep-alive connections it accepted, and which worker accepts which
# of the few connections is chance: without new connections often, one worker may serve all of
# them for seconds on end, on one core (its interpreter lock), while the other idles. A count
# alone is not enough: at a hundred writes a second, a connection reaches 100 requests only
# every 8 s, longer than a whole run.
RECONNECT_EVERY = 100
RECONNECT_SECONDS = 0.2


async def _worker(host: str, port: int, factory: RequestFactory, counter: list[int], limit: int,
                  deadline: float, result: Result, headers: dict[str, str]) -> None:
    reader = writer = None
    sent_on_connection = 0
    opened = 0.0
    while time.perf_counter() < deadline:
        index = counter[0]
        if index >= limit:
            break
        counter[0] += 1
        method, path, body, extra = factory(index)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in {**headers, **extra}.items()]
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
                sent_on_connection, opened = 0, started
            writer.write(payload)
            sent_on_connection += 1
            status, close, error_body = await _read_response(reader)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            result.errors += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            continue
        result.latencies_ms.append((time.perf_counter() - started) * 1000)
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if status >= 400:
            result.errors += 1
            if not result.first_error:
                result.first_error = f"{status} {error_body[:600].decode(errors='replace')}"
        if close or sent_on_connection >= RECONNECT_EVERY or time.perf_counter() - opened >= RECONNECT_SECONDS:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def run(name: str, base_url: str, factory: RequestFactory, *, concurrency: int = 8,
        max_requests: int = 5000, max_seconds: float = 10.0,
        headers: dict[str, str] | None = None) -> Result:
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    if not (host == "localhost" or host.startswith("127.") or host == "::1"):
        raise ValueError("the load generator only targets loopback addresses")
    result = Result(name)
    counter = [0]

    async def main() -> None:
        deadline = time.perf_counter() + max_seconds
        started = time.perf_counter()
        await asyncio.gather(*(_worker(host, port, factory, counter, max_requests, deadline, result,
                                       headers or {}) for _ in range(concurrency)))
        result.elapsed_s = time.perf_counter() - started

    asyncio.run(main())
    return result


def shuffled(items: list[str], seed: int = 7) -> list[str]:
    copy = list(items)
    random.Random(seed).shuffle(copy)
    return copy
