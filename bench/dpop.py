"""What checking a DPoP proof costs per request, in microseconds, in process.

    .venv/bin/python -m bench.dpop [--proofs N] [--stores sqlite,postgresql]

For each key type a client may use (P-256 ES256, RSA-2048 RS256 and PS256) it signs N proofs
for one request and token beforehand, then times, per proof: the header, key and signature
check with the claim checks (htm, htu, iat, ath; `ProofVerifier.check_signature` and
`check_claims`), and the same plus recording the jti where every server process sees it
(`ProofVerifier.verify` with the `dpop_jti` table of a real store: one short write
transaction). The bearer token's own verification is not included: a DPoP request pays it
exactly as a Bearer request does (and both are cached per token).

Then, per store, whole reads through the WSGI app in this thread (no HTTP server, no other
load of ours): `GET Patient/[id]` as a system client, by turns with a Bearer token and with a
DPoP-bound one and a fresh proof (signed beforehand), so that what the machine's other work
does to one does it to the other too. The difference is what DPoP adds to a request.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fhirip.auth.devkeys import DevKeys, dpop_confirmation, dpop_proof, public_jwk
from fhirip.auth.dpop import ProofVerifier, jwk_thumbprint
from fhirip.store import Store
from fhirip.store.replay import SeenOnce

URL = "https://fhir.example.no/ip/CarePlan/plan-1"
KEYS: dict[str, Callable[[], Any]] = {
    "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "PS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
}


def _timed(work: Callable[[str], None], proofs: list[str]) -> tuple[list[float], list[float]]:
    """Wall time and this thread's CPU time per proof, in µs: on a shared machine the CPU time is
    what the check costs, the wall time what a request waited (the database's work included)."""
    wall, cpu = [], []
    for proof in proofs:
        started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
        work(proof)
        cpu.append((time.thread_time_ns() - started_cpu) / 1000)
        wall.append((time.perf_counter_ns() - started) / 1000)
    return wall, cpu


def _line(label: str, times: tuple[list[float], list[float]]) -> str:
    wall, cpu = times
    p95 = sorted(wall)[int(0.95 * (len(wall) - 1))]
    return (f"  {label:<40} CPU median {statistics.median(cpu):6.1f} µs   wall median "
            f"{statistics.median(wall):7.1f} µs, p95 {p95:8.1f} µs   (n={len(wall)})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dpop", description=__doc__.split("\n\n")[0])
    parser.add_argument("--proofs", type=int, default=2000, help="proofs per key type (default 2000)")
    parser.add_argument("--stores", default="sqlite,postgresql", help="stores for the jti record")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        token = DevKeys.load_or_create(tmp).mint({"sub": "bench", "scope": "system/*.rs"})
        stores: dict[str, Store] = {}
        for kind in args.stores.split(","):
            if kind == "sqlite":
                url = f"sqlite:///{Path(tmp) / 'dpop.sqlite3'}"
            elif kind == "postgresql":
                from fhirip.testing.postgres import TemporaryPostgres

                url = stack.enter_context(TemporaryPostgres()).create_database("dpop")
            else:
                parser.error(f"unknown store {kind!r}")
            store = Store(url)
            store.migrate()
            stack.callback(store.dispose)
            stores[kind] = store
        print(f"DPoP proof verification, {args.proofs} proofs per key type, in process")
        for alg, generate in KEYS.items():
            key = generate()
            jkt = dpop_confirmation(key)["jkt"]
            assert jkt == jwk_thumbprint(public_jwk(key))
            print(f"{alg}:")

            def fresh() -> list[str]:
                return [dpop_proof(key, method="GET", url=URL, access_token=token, headers={"alg": alg})
                        for _ in range(args.proofs)]

            checks = ProofVerifier(lambda _key, _until: True)

            def check(proof: str) -> None:
                claims, thumbprint = checks.check_signature(proof)
                checks.check_claims(claims, method="GET", url=URL, access_token=token)
                assert thumbprint == jkt

            print(_line("signature, key and claims", _timed(check, fresh())))
            for kind, store in stores.items():
                verifier = ProofVerifier(SeenOnce(store))

                def full(proof: str, verifier: ProofVerifier = verifier) -> None:
                    verifier.verify([proof], method="GET", url=URL, access_token=token, jkt=jkt)

                print(_line(f"... and the jti recorded ({kind})", _timed(full, fresh())))
        for kind, store in stores.items():
            _reads(kind, store, Path(tmp), args.proofs // 2)
    return 0


def _reads(kind: str, store: Store, tmp: Path, count: int) -> None:
    """Bearer and DPoP reads by turns through the app, in this thread."""
    from fhirip.bootstrap import build_services
    from fhirip.config import Settings
    from server.app import create_app

    settings = Settings(data_dir=tmp, database_url=store.url, allow_synthetic_identifiers=True,
                        base_url="https://fhir.example.no/ip")
    services = build_services(settings)
    try:
        client = create_app(settings, services).test_client()
        keys = DevKeys.load_or_create(tmp)
        claims = {"sub": "bench", "client_id": "bench", "scope": "system/*.cruds"}
        bearer = {"Authorization": f"Bearer {keys.mint(claims)}"}
        key = ec.generate_private_key(ec.SECP256R1())
        bound = keys.mint(claims | {"cnf": dpop_confirmation(key)})
        created = client.post("/Patient", json={"resourceType": "Patient", "name": [{"family": "Benk"}]},
                              headers=bearer | {"Content-Type": "application/fhir+json"})
        path = f"/Patient/{created.get_json()['id']}"
        proofs = [dpop_proof(key, method="GET", url=settings.base_url + path, access_token=bound)
                  for _ in range(count + 50)]
        results: dict[str, tuple[list[float], list[float]]] = {"Bearer": ([], []), "DPoP": ([], [])}
        for n in range(count + 50):
            for scheme, headers in (("Bearer", bearer), ("DPoP", {"Authorization": f"DPoP {bound}",
                                                                  "DPoP": proofs[n]})):
                started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
                status = client.get(path, headers=headers).status_code
                cpu, wall = time.thread_time_ns() - started_cpu, time.perf_counter_ns() - started
                assert status == 200, (scheme, status)
                if n >= 50:  # the first ones warm the caches
                    results[scheme][0].append(wall / 1000)
                    results[scheme][1].append(cpu / 1000)
        print(f"{kind}: GET Patient/[id] through the app, in this thread, by turns")
        for scheme, times in results.items():
            print(_line(f"read with {scheme}", times))
        extra = statistics.median(results["DPoP"][1]) - statistics.median(results["Bearer"][1])
        print(f"  DPoP adds {extra:.0f} µs of CPU to a read (medians)")
    finally:
        services.audit_trail.close()


if __name__ == "__main__":
    raise SystemExit(main())
