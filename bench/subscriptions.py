"""Subscription notifications: latency under a steady stream of plan updates, and what they cost
the update workload.

    python -m bench.subscriptions [--stores sqlite,postgresql] [--plans 100] [--subscriptions 100]
                                  [--rate 50] [--seconds 10] [--concurrency 8]

For each store: the generated tier (`bench.generate`, `--plans` plans) bulk-loaded, `fhirip serve
--workers 2` started as the README starts it, and a rest-hook receiver on loopback (a small
threaded http.server). Then, in one run:

1. *without subscriptions*: `--rate` plan updates per second for `--seconds` (a system client,
   `PUT CarePlan/[id]` round robin over the plans, each with a new description), then as many
   updates as `--concurrency` clients get through in `--seconds` (updates/s);
2. `--subscriptions` Subscriptions, each by a plan's coordinator on that plan's person
   (`CarePlan?subject=Patient/<id>`, full resource), spread round robin over the plans;
3. *with subscriptions*: the same paced stream, each notification's latency taken from the moment
   its update was answered to the moment the receiver has the notification carrying its event
   number (the k-th update of a plan is event k of the Subscription on its person; events waiting
   together arrive in one notification), and the same unpaced throughput.

Printed: update latency p50/p95 and achieved rate at the paced stream, notification latency
p50/p95/max and how many arrived, and the unpaced updates/s without and with subscriptions (the
ratio is the cost).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from bench.generate import Plan
from bench.workloads import careplan, coordinator_hpr
from bench.workloads_data import DataSet, load_store
from fhirip.auth.devkeys import person_claims
from fhirip.testing.postgres import TemporaryPostgres
from fhirip.testing.served import ServedFhirip, free_port

TOKEN_SECONDS = 6 * 3600


class Receiver:
    """Records when each event arrives: (Subscription id, event number) → the moment."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.arrived: dict[tuple[str, int], float] = {}
        self.count = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                now = time.monotonic()
                status = json.loads(body)["entry"][0]["resource"]["parameter"] if body else []
                subscription = next((p["valueReference"]["reference"].rsplit("/", 1)[-1] for p in status
                                     if p["name"] == "subscription"), "")
                numbers = [int(part["valueString"]) for p in status if p["name"] == "notification-event"
                           for part in p["part"] if part["name"] == "event-number"]
                with receiver.lock:
                    receiver.count += 1
                    for number in numbers:
                        receiver.arrived.setdefault((subscription, number), now)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Updates:
    """Plan updates with descriptions never used before, round robin over the plans."""

    def __init__(self, server: ServedFhirip, plans: list[Plan], token: str, label: str):
        self.server, self.plans, self.label = server, plans, label
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
        self.counter = 0
        self.lock = threading.Lock()

    def next(self) -> tuple[str, dict[str, Any]]:
        with self.lock:
            number = self.counter
            self.counter += 1
        generated = self.plans[number % len(self.plans)]
        plan = dict(careplan(generated))
        plan["description"] = f"{self.label} {number}"
        return plan["description"], plan

    def send(self, client: httpx.Client) -> tuple[str, float, float]:
        description, plan = self.next()
        started = time.monotonic()
        answer = client.put(f"/CarePlan/{plan['id']}", json=plan, headers=self.headers)
        if answer.status_code != 200:
            raise RuntimeError(f"update answered {answer.status_code}: {answer.text[:300]}")
        return description, started, time.monotonic()


def paced(updates: Updates, rate: float, seconds: float) -> list[tuple[str, float, float]]:
    """`rate` updates a second for `seconds`, each sent at its moment (from a pool, so a slow one
    does not hold up the next)."""
    done: list[tuple[str, float, float]] = []
    start = time.monotonic()
    total = int(rate * seconds)

    def one(index: int) -> None:
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        with httpx.Client(base_url=updates.server.url, timeout=60) as client:
            done.append(updates.send(client))

    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(one, range(total)))
    return done


def unpaced(updates: Updates, concurrency: int, seconds: float) -> float:
    """Updates per second that `concurrency` clients get through, one after another each."""
    end = time.monotonic() + seconds
    counts = [0] * concurrency

    def client_loop(index: int) -> None:
        with httpx.Client(base_url=updates.server.url, timeout=60) as client:
            while time.monotonic() < end:
                updates.send(client)
                counts[index] += 1

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(client_loop, range(concurrency)))
    return sum(counts) / (time.monotonic() - started)


def subscribe(server: ServedFhirip, data: DataSet, count: int, endpoint: str) -> dict[str, list[str]]:
    """The Subscriptions, by the patient they watch."""
    made: dict[str, list[str]] = {}
    for index in range(count):
        generated = data.plans[index % len(data.plans)]
        token = server.token(**person_claims(practitioner=coordinator_hpr(generated), client_id="bench"))
        body = {"resourceType": "Subscription", "status": "requested", "reason": "bench",
                "criteria": f"CarePlan?subject=Patient/{generated.patient_id}",
                "channel": {"type": "rest-hook", "endpoint": endpoint, "payload": "application/fhir+json"}}
        with server.client(token) as owner:
            answer = owner.post("/Subscription", json=body)
        if answer.status_code != 201:
            raise RuntimeError(f"Subscription answered {answer.status_code}: {answer.text[:300]}")
        made.setdefault(generated.patient_id, []).append(answer.json()["id"])
    return made


def expected_events(updates: list[tuple[str, float, float]], plans: list[Plan],
                    watchers: dict[str, list[str]]) -> dict[tuple[str, int], float]:
    """(Subscription id, event number) → when its update was answered: the k-th update of a plan
    (in the order they were answered) is event k of each Subscription on its person."""
    expected: dict[tuple[str, int], float] = {}
    seen: dict[str, int] = {}
    for description, _, answered in sorted(updates, key=lambda u: u[2]):
        patient = plans[int(description.split()[-1]) % len(plans)].patient_id
        if patient not in watchers:
            continue
        seen[patient] = seen.get(patient, 0) + 1
        for subscription in watchers[patient]:
            expected[(subscription, seen[patient])] = answered
    return expected


def run_store(kind: str, args: argparse.Namespace, postgres: TemporaryPostgres | None) -> dict[str, Any]:
    data = DataSet(args.plans, 0)
    directory = Path(tempfile.mkdtemp(prefix=f"bench-subs-{kind}-"))
    database = postgres.create_database("bench_subscriptions") if postgres is not None else None
    url = database or f"sqlite:///{(directory / 'data' / 'fhirip.sqlite3').resolve()}"
    (directory / "data").mkdir(parents=True)
    load_store(url, data)
    environment = {"FHIRIP_ALLOW_SYNTHETIC_IDENTIFIERS": "true", "FHIRIP_SUBSCRIPTION_ENDPOINTS": "http://127.0.0.1"}
    server = ServedFhirip(directory / "data", database, workers=2, environment=environment)
    receiver = Receiver()
    server.start()
    try:
        system = server.token(**person_claims(client_id="bench"))
        time.sleep(3)  # the servers' movers and deliverers start as they boot
        warm = Updates(server, data.plans, system, "warm-up")
        paced(warm, args.rate, 1)
        plain = Updates(server, data.plans, system, "without")
        without_paced = paced(plain, args.rate, args.seconds)
        without_throughput = unpaced(plain, args.concurrency, args.seconds)
        watchers = subscribe(server, data, args.subscriptions, receiver.url)
        observed = Updates(server, data.plans, system, "with")
        with_paced = paced(observed, args.rate, args.seconds)
        expected = expected_events(with_paced, data.plans, watchers)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not expected.keys() <= receiver.arrived.keys():
            time.sleep(0.05)
        latencies = [receiver.arrived[key] - answered for key, answered in expected.items() if key in receiver.arrived]
        with_throughput = unpaced(Updates(server, data.plans, system, "after"), args.concurrency, args.seconds)
        return {
            "store": kind,
            "without_update_p50": _percentile([b - a for _, a, b in without_paced], 0.5),
            "without_update_p95": _percentile([b - a for _, a, b in without_paced], 0.95),
            "with_update_p50": _percentile([b - a for _, a, b in with_paced], 0.5),
            "with_update_p95": _percentile([b - a for _, a, b in with_paced], 0.95),
            "achieved_rate": len(with_paced) / max(1e-9, max(b for _, _, b in with_paced) - min(a for _, a, _ in with_paced)),
            "expected": len(expected), "arrived": len(latencies),
            "notify_p50": _percentile(latencies, 0.5), "notify_p95": _percentile(latencies, 0.95),
            "notify_max": max(latencies) if latencies else float("nan"),
            "throughput_without": without_throughput, "throughput_with": with_throughput,
        }
    finally:
        receiver.stop()
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--plans", type=int, default=100)
    parser.add_argument("--subscriptions", type=int, default=100)
    parser.add_argument("--rate", type=float, default=50.0, help="paced plan updates per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8, help="clients of the unpaced throughput runs")
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} cores; {args.plans} plans, {args.subscriptions} subscriptions, "
          f"{args.rate:g} updates/s for {args.seconds:g} s, unpaced with {args.concurrency} clients")
    results = []
    for kind in args.stores.split(","):
        if kind == "postgresql":
            with TemporaryPostgres() as cluster:
                results.append(run_store(kind, args, cluster))
        else:
            results.append(run_store(kind, args, None))
    print("| store | update p50/p95 ms (without → with) | rate reached | notifications | "
          "notification p50 / p95 / max ms | updates/s unpaced without → with (ratio) |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['store']} | {r['without_update_p50'] * 1000:.0f}/{r['without_update_p95'] * 1000:.0f} → "
              f"{r['with_update_p50'] * 1000:.0f}/{r['with_update_p95'] * 1000:.0f} | {r['achieved_rate']:.1f}/s | "
              f"{r['arrived']}/{r['expected']} | {r['notify_p50'] * 1000:.0f} / {r['notify_p95'] * 1000:.0f} / "
              f"{r['notify_max'] * 1000:.0f} | {r['throughput_without']:.1f} → {r['throughput_with']:.1f} "
              f"({r['throughput_with'] / r['throughput_without']:.2f}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
