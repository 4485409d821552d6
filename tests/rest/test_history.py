"""history at instance, type and system level: _since, _at, _count and stable paging.

https://hl7.org/fhir/R4/http.html#history
"""

from __future__ import annotations

import time

from rest_checks import assert_outcome, patient


def _versions(fhir, pid: str, count: int) -> list[dict]:
    """Write `count` versions of Patient/pid, a few milliseconds apart; return them oldest first."""
    written = []
    for n in range(count):
        written.append(fhir.update(patient(id=pid, birthDate=f"19{n + 10}-01-01")).json())
        time.sleep(0.005)
    return written


def _walk(fhir, url: str, params: dict | None = None) -> list[dict]:
    """Every entry of a history, following `next` links."""
    entries, page = [], fhir.get(url, params=params).json()
    while True:
        entries.extend(page.get("entry", []))
        nxt = [link["url"] for link in page.get("link", []) if link["relation"] == "next"]
        if not nxt:
            return entries
        page = fhir.get(nxt[0]).json()


def _etags(entries: list[dict]) -> list[str]:
    return [e["response"]["etag"] for e in entries]


def test_instance_history_lists_versions_newest_first(fhir, base):
    _versions(fhir, "h", 3)
    bundle = fhir.get("/Patient/h/_history").json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "history"
    assert bundle["total"] == 3
    assert _etags(bundle["entry"]) == ['W/"3"', 'W/"2"', 'W/"1"']
    assert [e["resource"]["meta"]["versionId"] for e in bundle["entry"]] == ["3", "2", "1"]
    assert all(e["fullUrl"] == f"{base}/Patient/h" for e in bundle["entry"])
    assert [e["request"]["method"] for e in bundle["entry"]] == ["PUT", "PUT", "PUT"]
    assert bundle["entry"][0]["response"]["status"].startswith("200")


def test_history_of_a_created_resource_records_post(fhir):
    pid = fhir.create(patient()).json()["id"]
    entry = fhir.get(f"/Patient/{pid}/_history").json()["entry"][0]
    assert entry["request"] == {"method": "POST", "url": "Patient"}
    assert entry["response"]["status"].startswith("201")


def test_deleted_versions_are_entries_without_resource(fhir):
    _versions(fhir, "d", 1)
    fhir.delete("/Patient/d")
    fhir.update(patient(id="d"))
    entries = fhir.get("/Patient/d/_history").json()["entry"]
    assert [e["request"]["method"] for e in entries] == ["PUT", "DELETE", "PUT"]
    deleted = entries[1]
    assert "resource" not in deleted
    assert deleted["request"]["url"] == "Patient/d"
    assert deleted["response"]["etag"] == 'W/"2"'
    # The history of the deleted resource is also in the type and system history.
    assert "DELETE" in [e["request"]["method"] for e in fhir.get("/Patient/_history").json()["entry"]]
    assert "DELETE" in [e["request"]["method"] for e in fhir.get("/_history").json()["entry"]]


def test_history_of_an_unknown_resource_is_404(fhir):
    assert_outcome(fhir.get("/Patient/nobody/_history"), 404)


def test_type_history_holds_only_that_type(fhir):
    fhir.update(patient(id="p1"))
    fhir.create({"resourceType": "Organization", "name": "Helse Nord"})
    bundle = fhir.get("/Patient/_history").json()
    assert bundle["total"] == 1
    assert {e["fullUrl"].rsplit("/", 2)[-2] for e in bundle["entry"]} == {"Patient"}


def test_system_history_holds_every_type(fhir):
    fhir.update(patient(id="p1"))
    fhir.create({"resourceType": "Organization", "name": "Helse Nord"})
    bundle = fhir.get("/_history").json()
    assert bundle["total"] == 2
    assert {e["fullUrl"].rsplit("/", 2)[-2] for e in bundle["entry"]} == {"Patient", "Organization"}


def test_since_keeps_versions_written_at_or_after_the_instant(fhir):
    written = _versions(fhir, "s", 4)
    since = written[2]["meta"]["lastUpdated"]
    for url in ("/Patient/s/_history", "/Patient/_history", "/_history"):
        entries = fhir.get(url, params={"_since": since}).json()["entry"]
        assert _etags(entries) == ['W/"4"', 'W/"3"'], url


def test_since_with_a_partial_date_starts_at_its_beginning(fhir):
    written = _versions(fhir, "s", 2)
    year = written[0]["meta"]["lastUpdated"][:4]
    assert fhir.get("/Patient/s/_history", params={"_since": year}).json()["total"] == 2
    assert fhir.get("/Patient/s/_history", params={"_since": str(int(year) + 1)}).json()["total"] == 0


def test_at_an_instant_gives_the_version_current_then(fhir):
    written = _versions(fhir, "a", 3)
    for index, version in enumerate(written):
        entries = fhir.get("/Patient/a/_history", params={"_at": version["meta"]["lastUpdated"]}).json()["entry"]
        assert _etags(entries) == [f'W/"{index + 1}"']


def test_at_a_partial_date_gives_every_version_current_in_that_period(fhir):
    written = _versions(fhir, "a", 3)
    day = written[0]["meta"]["lastUpdated"][:10]
    year = written[0]["meta"]["lastUpdated"][:4]
    assert fhir.get("/Patient/a/_history", params={"_at": day}).json()["total"] == 3
    assert fhir.get("/Patient/a/_history", params={"_at": year}).json()["total"] == 3
    assert fhir.get("/Patient/a/_history", params={"_at": "2000"}).json()["total"] == 0


def test_count_limits_the_page_and_next_walks_every_version_once(fhir):
    _versions(fhir, "c", 7)
    first = fhir.get("/Patient/c/_history", params={"_count": "3"}).json()
    assert len(first["entry"]) == 3
    assert first["total"] == 7
    entries = _walk(fhir, "/Patient/c/_history", {"_count": "3"})
    assert _etags(entries) == [f'W/"{n}"' for n in range(7, 0, -1)]


def test_last_page_has_no_next_link(fhir):
    _versions(fhir, "c", 2)
    bundle = fhir.get("/Patient/c/_history", params={"_count": "2"}).json()
    assert [link["relation"] for link in bundle["link"]] == ["self"]


def test_count_zero_gives_the_total_only(fhir):
    _versions(fhir, "c", 2)
    bundle = fhir.get("/Patient/c/_history", params={"_count": "0"}).json()
    assert bundle["total"] == 2
    assert not bundle.get("entry")


def test_paging_with_a_write_in_between_neither_repeats_nor_skips(fhir):
    for n in range(5):
        fhir.update(patient(id=f"w{n}"))
    page = fhir.get("/_history", params={"_count": "2"}).json()
    seen = [e["fullUrl"] for e in page["entry"]]
    # New versions arrive while the client is between pages.
    fhir.update(patient(id="w0", gender="female"))
    fhir.update(patient(id="late"))
    while True:
        nxt = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not nxt:
            break
        page = fhir.get(nxt[0]).json()
        seen.extend(e["fullUrl"] for e in page["entry"])
        fhir.update(patient(id=f"late{len(seen)}"))
    names = [url.rsplit("/", 1)[1] for url in seen]
    assert names == ["w4", "w3", "w2", "w1", "w0"]


def test_paging_links_keep_the_other_parameters(fhir):
    written = _versions(fhir, "k", 5)
    since = written[0]["meta"]["lastUpdated"]
    entries = _walk(fhir, "/Patient/_history", {"_count": "2", "_since": since})
    assert len(entries) == 5


def test_malformed_since_is_400(fhir):
    assert_outcome(fhir.get("/_history", params={"_since": "last tuesday"}), 400, expression="_since")


def test_malformed_count_is_400(fhir):
    assert_outcome(fhir.get("/_history", params={"_count": "many"}), 400, expression="_count")


def test_unknown_history_parameter_is_400(fhir):
    assert_outcome(fhir.get("/_history", params={"name": "x"}), 400, expression="name")


def test_since_and_at_honour_the_time_zone_offset(fhir):
    from datetime import datetime, timedelta, timezone

    written = _versions(fhir, "z", 3)
    moment = datetime.fromisoformat(written[1]["meta"]["lastUpdated"])
    oslo_summer = moment.astimezone(timezone(timedelta(hours=2))).isoformat(timespec="milliseconds")
    entries = fhir.get("/Patient/z/_history", params={"_since": oslo_summer}).json()["entry"]
    assert _etags(entries) == ['W/"3"', 'W/"2"']
    entries = fhir.get("/Patient/z/_history", params={"_at": oslo_summer}).json()["entry"]
    assert _etags(entries) == ['W/"2"']
