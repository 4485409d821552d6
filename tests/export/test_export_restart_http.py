"""An export survives its server: killed with `kill -9` in the middle of a job, the server is
started again and the job finishes from its last recorded chunk, with every resource once, as
at the kick-off (a resource changed after it in its version of then, one created after it not).
Meanwhile a second kick-off of the same caller is refused (429), and another caller's export
cancelled while it runs is gone with its files. Both stores."""

from __future__ import annotations

import time
from typing import Any

import pytest
from export_support import BulkClient, database_url, load, serving, versions

import export_world as world

SLOW = {"FHIRIP_EXPORT_CHUNK": "4", "FHIRIP_EXPORT_PAUSE_MS": "300", "FHIRIP_EXPORT_LEASE": "2"}


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_a_killed_export_finishes_after_a_restart(kind: str, postgres: Any, tmp_path_factory: Any) -> None:
    directory = tmp_path_factory.mktemp(f"export-restart-{kind}")
    url = database_url(kind, postgres, directory, "served_export_restart")
    with serving(url, directory, **SLOW) as first:
        load(url, world.records())
        # another caller's export, cancelled while it runs: gone, with its files
        other = BulkClient(first, world.system(name="export-canceller"))
        other_url = other.started(_type="Observation")
        other_path = "/" + other_url.split("/", 3)[3]
        job_directory = first.data_dir / "exports" / other_url.rsplit("/", 1)[1]
        waited = time.monotonic() + 60
        while not job_directory.exists():
            assert time.monotonic() < waited
            time.sleep(0.1)
        assert other.http.delete(other_path).status_code == 202
        assert other.http.get(other_path).status_code == 404
        settle = time.monotonic() + 30
        while job_directory.exists() and time.monotonic() < settle:  # a chunk in hand may still land
            time.sleep(0.2)
        assert not job_directory.exists()
        other.close()
        client = BulkClient(first, world.system())
        status_url = client.started(_type="Observation,Patient,CarePlan,Goal")
        path = "/" + status_url.split("/", 3)[3]
        again = client.kick_off()
        assert again.status_code == 429, again.text
        assert again.json()["resourceType"] == "OperationOutcome" and "Retry-After" in again.headers
        # written after the kick-off: not in the export (a new one), or as it was at the kick-off
        last = next(r for r in world.records() if r["id"] == f"x-obs-mia-{world.OBSERVATIONS - 1}")
        load(url, [{**last, "status": "amended"}, {**last, "id": "x-obs-after"}])
        deadline = time.monotonic() + 60
        while True:  # until some chunks are recorded, and not all
            progress = client.http.get(path)
            assert progress.status_code == 202, "the export finished before it could be killed"
            if int(progress.headers["X-Progress"].split(": ")[1].split()[0]) >= 8:
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        first.kill()
        client.close()
    with serving(url, directory, FHIRIP_EXPORT_LEASE="2") as second:
        client = BulkClient(second, world.system())
        manifest = client.wait(path)
        exported = client.files(manifest)
        for res_type in ("Observation", "Patient", "CarePlan", "Goal"):
            lines = exported[res_type]
            assert len(lines) == len({r["id"] for r in lines}), f"{res_type} exported twice"
            searched = versions(client.searched(res_type))
            if res_type == "Observation":
                changed = ("Observation", last["id"])
                assert (*changed, "2") in searched and ("Observation", "x-obs-after", "1") in searched
                searched = {v for v in searched if v[:2] != changed and v[1] != "x-obs-after"} | {(*changed, "1")}
                assert next(r for r in lines if r["id"] == last["id"])["status"] == "final"
            assert versions(lines) == searched, res_type
        client.close()
