"""The server as production runs it: several gunicorn workers under --preload, answering concurrent
readers and writers correctly, refusing what gunicorn refuses in FHIR terms, starting on an empty
store and stopping without a traceback."""

from __future__ import annotations

import concurrent.futures
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest

from fhirip.testing.served import ServedFhirip
from fhirip.testing.live import SYSTEM_CLAIMS as SYSTEM

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def _patient(marker: str, n: int) -> dict:
    return {"resourceType": "Patient", "identifier": [{"system": "urn:test:served", "value": f"{marker}-{n}"}],
            "name": [{"family": f"Worker{n}", "given": [marker]}]}


def test_workers_answer_concurrent_readers_and_writers_correctly(served: ServedFhirip) -> None:
    """Each thread writes patients and reads them back, by id and by search, while the others do the
    same: every answer is the right one (status, id, version, the search's members)."""
    token = served.token(**SYSTEM)
    marker = uuid.uuid4().hex[:12]

    def work(thread: int) -> list[str]:
        wrong: list[str] = []
        with served.client(token) as client:
            mine: dict[str, int] = {}
            for round_ in range(8):
                n = thread * 100 + round_
                created = client.post("/Patient", json=_patient(marker, n), headers=FHIR_JSON)
                if created.status_code != 201:
                    wrong.append(f"create {created.status_code} {created.text[:200]}")
                    continue
                rid = created.json()["id"]
                mine[rid] = n
                updated = client.put(f"/Patient/{rid}", json={**_patient(marker, n), "id": rid, "active": True},
                                     headers={**FHIR_JSON, "If-Match": 'W/"1"'})
                if updated.status_code != 200 or updated.json()["meta"]["versionId"] != "2":
                    wrong.append(f"update {updated.status_code} {updated.text[:200]}")
                for other, value in mine.items():
                    read = client.get(f"/Patient/{other}")
                    body = read.json()
                    if read.status_code != 200 or body.get("id") != other or \
                            body["identifier"][0]["value"] != f"{marker}-{value}":
                        wrong.append(f"read {other}: {read.status_code} {read.text[:200]}")
                found = client.get("/Patient", params={"identifier": f"urn:test:served|{marker}-{n}"})
                ids = [entry["resource"]["id"] for entry in found.json().get("entry", [])]
                if found.status_code != 200 or ids != [rid]:
                    wrong.append(f"search {found.status_code} {ids} for {rid}")
        return wrong

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        problems = [p for batch in pool.map(work, range(8)) for p in batch]
    assert problems == []
    with served.client(token) as client:
        everyone = client.get("/Patient", params={"given": marker, "_count": "100", "_elements": "identifier"}).json()
    expected = {entry["resource"]["id"]: entry["resource"]["identifier"][0]["value"] for entry in everyone["entry"]}

    def read_all(offset: int) -> list[str]:
        wrong = []
        with served.client(token) as client:
            for rid in list(expected)[offset::4] * 2:
                read = client.get(f"/Patient/{rid}")
                if read.status_code != 200 or read.json()["identifier"][0]["value"] != expected[rid]:
                    wrong.append(f"read {rid}: {read.status_code} {read.text[:200]}")
        return wrong

    with concurrent.futures.ThreadPoolExecutor(8) as pool:  # a burst of readers only
        problems = [p for batch in pool.map(read_all, [0, 1, 2, 3] * 2) for p in batch]
    assert problems == []
    with served.client(token) as client:
        total = client.get("/Patient", params={"given": marker, "_summary": "count"}).json()["total"]
    assert total == 64


def test_a_request_over_gunicorns_limits_is_refused_with_an_operation_outcome(served: ServedFhirip) -> None:
    token = served.token(**SYSTEM)
    long_line = httpx.get(f"{served.url}/Patient?name={'a' * 9000}", headers={"Authorization": f"Bearer {token}"})
    assert long_line.status_code == 414
    assert long_line.headers["Content-Type"].startswith("application/fhir+json")
    assert "POST [type]/_search" in long_line.json()["issue"][0]["diagnostics"]
    huge_header = httpx.get(f"{served.url}/Patient", headers={"Authorization": f"Bearer {token}",
                                                                "X-Padding": "p" * 70_000})
    assert huge_header.status_code == 431
    assert huge_header.json()["resourceType"] == "OperationOutcome"


def test_a_token_of_several_kilobytes_is_accepted(served: ServedFhirip) -> None:
    """A HelseID token with a trust-framework attestation is larger than gunicorn's default header limit."""
    token = served.token(**SYSTEM, padding="x" * 9_000)  # a claim the server does not read, for its size
    assert 8190 < len(token) < 16_384  # over gunicorn's default, under the verifier's bound
    with served.client(token) as client:
        assert client.get("/Patient", params={"_count": "1"}).status_code == 200


def test_a_production_start_on_an_empty_store_serves_and_stops_without_a_traceback(tmp_path: Path) -> None:
    """No development switch: the demo data (synthetic numbers) is left out, not a crash."""
    server = ServedFhirip(tmp_path / "data", None, environment={}, arguments=())
    with server:
        token = server.token(**SYSTEM)
        with server.client(token) as client:
            assert client.get("/Patient").json()["total"] == 0
            statuses = Counter(client.get("/Patient", params={"name": f"n{n}"}).status_code for n in range(20))
        assert statuses == Counter({200: 20})
    assert server.process is not None and server.process.returncode == 0
    log = server.log()
    assert "demo data set is not loaded" in log
    assert "Traceback" not in log, log


def test_threaded_workers_answer_concurrent_readers_and_refuse_in_fhir_terms(tmp_path: Path) -> None:
    with ServedFhirip(tmp_path / "data", None, arguments=("--no-demo", "--threads", "4")) as server:
        token = server.token(**SYSTEM)
        with server.client(token) as client:
            rid = client.post("/Patient", json=_patient("threads", 1), headers=FHIR_JSON).json()["id"]

        def read(_: int) -> int:
            with server.client(token) as client:
                return sum(client.get(f"/Patient/{rid}").status_code == 200 for _ in range(20))

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            assert sum(pool.map(read, range(8))) == 160
        long_line = httpx.get(f"{server.url}/Patient?name={'a' * 9000}")
        assert long_line.status_code == 414 and long_line.json()["resourceType"] == "OperationOutcome"
    assert "Using worker: server.gunicorn_worker.FhirThreadWorker" in server.log()


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGINT"])
def test_stopping_the_server_prints_no_traceback(tmp_path: Path, stop: str) -> None:
    import signal

    server = ServedFhirip(tmp_path / "data", None).start()
    with server.client(server.token(**SYSTEM)) as client:
        assert client.post("/Patient", json=_patient("stop", 1), headers=FHIR_JSON).status_code == 201
    assert server.process is not None
    server.process.send_signal(getattr(signal, stop))
    assert server.process.wait(30) == 0
    server.stop()
    assert "Traceback" not in server.log(), server.log()
