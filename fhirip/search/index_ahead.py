"""Index rows extracted ahead of a write, by a trusted job's helper process on another core.

The rows of a resource depend on its content alone (and the server's fixed search parameters),
so the legacy import's helper process extracts them while it checks each plan
(`fhirip.mapping.checking_ahead`), and the writing transaction takes them instead of extracting
again, for exactly the content they were extracted from
(`fhirip.validation.checked_ahead.CheckedAhead.index_rows_of`). The HTTP API never uses this.
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
