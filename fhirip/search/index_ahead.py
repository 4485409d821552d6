"""Index rows a write takes from elsewhere than the generic extractor, for the same content.

The rows of a resource depend on its content alone (and the server's fixed search parameters).
Two writers find them more cheaply than `fhirip.search.index.extract`:
- the legacy import's helper process extracts them on another core while it checks each plan
  (`fhirip.mapping.checking_ahead`), and the writing transaction takes them for exactly the
  content they were extracted from (`fhirip.validation.checked_ahead.CheckedAhead.index_rows_of`);
- moving the audit journal finds an AuditEvent's rows in one walk over the event
  (`fhirip.audit.event_index.audit_event_rows_by_table`).
Rows are tuples of the table's columns after `rid`, sent to the driver as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection

# (resource type, the resource as stored) → its rows by table name, each the values of the
# table's columns after `rid`, or None if not extracted ahead.
RowsAhead = Callable[[str, dict[str, Any]], "dict[str, list[tuple[Any, ...]]] | None"]
AHEAD = "fhirip.search.rows_ahead"  # where a connection's lookup waits, in conn.info


@contextmanager
def rows_ahead(conn: Connection, lookup: RowsAhead | None) -> Iterator[None]:
    """Within the block, the writes on `conn` take their index rows from `lookup` where it
    has them."""
    if lookup is None:
        yield
        return
    previous = conn.info.get(AHEAD)
    conn.info[AHEAD] = lookup
    try:
        yield
    finally:
        if previous is None:
            conn.info.pop(AHEAD, None)
        else:
            conn.info[AHEAD] = previous
