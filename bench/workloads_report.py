"""The figures of `make bench` and the table they print: throughput, latency, ratios to the baselines.

Each fhirip figure is set beside the baselines measured in the same run: the floor (the same
stored bytes from the same database, nothing else), the unenforced app (fhirip without consent
decision and audit) and the peer (`sekmet-fhir`, SQLite only, so both of fhirip's stores are
compared with its one figure). A baseline that could not run a workload shows "-".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bench.loadgen import Result
from bench.workloads import SPEC, SPECS

SERVERS = ("fhirip", "unenforced", "floor", "peer")
STORE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
# Workloads whose baselines are another workload's: the floor and the peer ignore who calls.
BASELINE_OF = {"read-system": "read", "read-dpop": "read"}
ENFORCEMENT_TARGET = 0.25  # issue 5: consent decision plus audit cost at most a quarter of throughput


@dataclass(frozen=True)
class Figure:
    """One measured workload on one server and store. Latencies in ms (NaN where not measured)."""

    workload: str
    server: str
    store: str
    throughput: float
    p50: float = math.nan
    p95: float = math.nan
    p99: float = math.nan
    count: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    first_error: str = ""

    @classmethod
    def from_result(cls, workload: str, server: str, store: str, result: Result) -> Figure:
        return cls(workload, server, store, result.throughput, result.percentile(50), result.percentile(95),
                   result.percentile(99), result.count, result.errors, dict(result.statuses),
                   result.first_error)


def ratio(ours: Figure | None, baseline: Figure | None) -> str:
    """ours / baseline throughput, two decimals; "-" when either is missing or the baseline is zero."""
    if ours is None or baseline is None or not baseline.throughput:
        return "-"
    return f"{ours.throughput / baseline.throughput:.2f}"


def enforcement_cost(ours: Figure | None, unenforced: Figure | None) -> str:
    """1 - ours / unenforced, as a percentage of the unenforced throughput; "-" when not measured."""
    if ours is None or unenforced is None or not unenforced.throughput:
        return "-"
    return f"{(1 - ours.throughput / unenforced.throughput) * 100:.0f} %"


def _rate(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


class Table:
    """All figures of one run, looked up by (workload, server, store)."""

    def __init__(self, figures: list[Figure], peer_missing: dict[str, str],
                 peer_partial: dict[str, str] | None = None):
        self.figures = {(f.workload, f.server, f.store): f for f in figures}
        self.peer_missing = peer_missing  # workload → why the peer has no figure
        self.peer_partial = peer_partial or {}  # workload → what the peer leaves out of it

    def get(self, workload: str, server: str, store: str) -> Figure | None:
        return self.figures.get((workload, server, store))

    def stores(self) -> list[str]:
        return [s for s in STORE_NAMES if any(f.store == s and f.server == "fhirip" for f in self.figures.values())]

    def rows(self) -> list[list[str]]:
        rows = []
        for spec in SPECS:
            for server in SERVERS:
                for store in STORE_NAMES:
                    found = self.get(spec.key, server, store)
                    if found is None:
                        continue
                    base = BASELINE_OF.get(spec.key, spec.key)
                    floor = self.get(base, "floor", store) if server == "fhirip" else None
                    peer = self.get(base, "peer", "sqlite") if server == "fhirip" else None
                    vs_peer = ratio(found, peer) if server == "fhirip" else ""
                    if server == "fhirip" and peer is None and spec.key in self.peer_missing:
                        vs_peer = "- (n/a)"
                    rows.append([spec.title, server, STORE_NAMES[store], _rate(found.throughput),
                                 _ms(found.p50), _ms(found.p95), _ms(found.p99), str(found.count),
                                 str(found.errors), ratio(found, floor) if server == "fhirip" else "",
                                 vs_peer])
        return rows

    def render(self) -> str:
        header = ["workload", "server", "store", "per s", "p50 ms", "p95 ms", "p99 ms", "n", "errors",
                  "vs floor", "vs peer"]
        rows = self.rows()
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        line = lambda cells: "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in
                                       enumerate(zip(cells, widths))).rstrip()
        out = [line(header), line(["-" * w for w in widths])]
        previous = None
        for row in rows:
            if previous is not None and row[0] != previous:
                out.append("")
            out.append(line(row))
            previous = row[0]
        return "\n".join(out)

    def markdown(self) -> str:
        header = ["workload", "server", "store", "per s", "p50 ms", "p95 ms", "p99 ms", "n", "errors",
                  "vs floor", "vs peer"]
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(c or " " for c in row) + " |" for row in self.rows()]
        return "\n".join(out)

    def notes(self) -> list[str]:
        notes = []
        for store in self.stores():
            for key in ("read", "read-system", "search"):
                ours, plain = self.get(key, "fhirip", store), self.get(key, "unenforced", store)
                if ours and plain:
                    notes.append(f"cost of enforcement + audit, {SPEC[key].title}, {STORE_NAMES[store]}: "
                                 f"1 - fhirip/unenforced = {enforcement_cost(ours, plain)} "
                                 f"(target: at most {ENFORCEMENT_TARGET * 100:.0f} %)")
        for store in self.stores():
            bound, bearer = self.get("read-dpop", "fhirip", store), self.get("read", "fhirip", store)
            if bound and bearer:
                notes.append(f"DPoP against Bearer, read by id, {STORE_NAMES[store]}: "
                             f"{ratio(bound, bearer)} of the throughput, p50 {bound.p50 - bearer.p50:+.2f} ms")
        for key, why in self.peer_missing.items():
            notes.append(f"peer has no {SPEC[key].title}: {why}")
        for key, what in self.peer_partial.items():
            if self.get(key, "peer", "sqlite"):
                notes.append(f"peer {SPEC[key].title}: {what}")
        for figure in self.figures.values():
            if figure.errors:
                statuses = ", ".join(f"{code}: {n}" for code, n in sorted(figure.statuses.items()))
                notes.append(f"errors in {SPEC[figure.workload].title} on {figure.server} "
                             f"({STORE_NAMES[figure.store]}): {figure.errors}; statuses {statuses or 'none'}"
                             + (f"; first: {figure.first_error[:300]}" if figure.first_error else ""))
        return notes
