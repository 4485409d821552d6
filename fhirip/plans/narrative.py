"""The CarePlan's own narrative (`text`), generated from the same document as the printed plan.

https://hl7.org/fhir/R4/narrative.html

A narrative the client wrote itself (status `additional` or `extensions`) is
kept; one that is absent or was `generated` is (re)generated on every write of
the plan, so it follows the plan's revisions.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection

from fhirip.errors import Issue
from fhirip.context import Context
from fhirip.plans.codes import is_individual_plan
from fhirip.plans.document import build_document
from fhirip.plans.fetching import Fetch
from fhirip.plans.html import narrative_div
from fhirip.store import Current


def plan_narrative(conn: Connection, careplan: dict[str, Any], *, on: date | None = None,
                   base_url: str = "") -> dict[str, Any]:
    """The generated `text` of an individual plan, from what the store holds (no consent filter)."""
    document = build_document(careplan, Fetch(conn, base_url=base_url, policy=None),
                              on=on or date.today())
    return {"status": "generated", "div": narrative_div(document)}


def fill_plan_narrative(ctx: Context, careplan: dict[str, Any], previous: Current | None) -> list[Issue]:
    """Write hook: give an individual plan its generated narrative unless the author wrote one."""
    if not is_individual_plan(careplan):
        return []
    text = careplan.get("text")
    if isinstance(text, dict) and text.get("status") not in (None, "generated"):
        return []
    careplan["text"] = plan_narrative(ctx.tx.conn, careplan, base_url=ctx.base_url)
    return []
