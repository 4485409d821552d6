"""Small checks the REST tests share: OperationOutcome shape, resource builders, ETags."""

from __future__ import annotations

from typing import Any

import httpx

# The body limit of the small-body server (tests/rest/conftest.py).
SMALL_BODY_LIMIT = 2048


def patient(family: str = "Nordmann", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": family, "given": ["Kari"]}], **extra}


def assert_outcome(response: httpx.Response, status: int, *, code: str | None = None,
                   expression: str | None = None, mentions: str | None = None) -> dict[str, Any]:
    """The response has `status` and an OperationOutcome body whose issues say what went wrong.

    `expression` must appear in some issue's expression; `mentions` in some diagnostics.
    """
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome", outcome
    assert outcome["issue"], outcome
    for issue in outcome["issue"]:
        assert issue["severity"] in ("fatal", "error", "warning", "information"), issue
        assert issue["code"], issue
        assert issue["diagnostics"], issue
    if status >= 400:
        assert any(i["severity"] in ("error", "fatal") for i in outcome["issue"]), outcome
    if code is not None:
        assert any(i["code"] == code for i in outcome["issue"]), outcome
    if expression is not None:
        assert any(expression in e for i in outcome["issue"] for e in i.get("expression", [])), outcome
    if mentions is not None:
        assert any(mentions in i["diagnostics"] for i in outcome["issue"]), outcome
    return outcome


def version_of(response: httpx.Response) -> int:
    etag = response.headers["ETag"]
    assert etag.startswith('W/"') and etag.endswith('"'), etag
    return int(etag[3:-1])


def id_from_location(location: str) -> str:
    """'<base>/Patient/abc/_history/1' → 'abc'."""
    return location.split("/_history/")[0].rsplit("/", 1)[1]



def data_versions(fhir) -> int:
    """Versions of everything but AuditEvents in the system history.

    Every request leaves an AuditEvent, so "nothing was stored" means no version of
    any other type (the test stores are small: one page holds them all).
    """
    bundle = fhir.get("/_history", params={"_count": "1000"}).json()
    return sum(1 for entry in bundle.get("entry", [])
               if entry["request"]["url"].split("/")[0] != "AuditEvent")
