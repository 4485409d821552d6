"""Index rows in the form a write carries them (`fhirip.search.index.IndexRows`), and which can
be extracted ahead of a write.

The rows of a resource depend on its content alone (and the server's fixed search parameters),
so they can be found before the write transaction, and elsewhere than in
`fhirip.search.index.extract`: the legacy import's helper process extracts them on another core
while it checks each plan (`fhirip.mapping.checking_ahead`), the writer taking them for exactly
the content they were extracted from (`fhirip.validation.checked_ahead.CheckedAhead.index_rows_of`,
passed to `Tx.write` as `index_rows`); an AuditEvent's come from one walk over the event
(`fhirip.audit.event_index.AuditEventIndex.rows_by_table`). Rows are tuples of the table's columns
after `rid`, sent to the driver as they are.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table

from fhirip.fhirpath_simple import split_unions
from fhirip.search.registry import registry
from fhirip.store.records import STAMPS

def rows_by_table_name(res_type: str, resource: dict[str, Any]) -> dict[str, list[tuple[Any, ...]]]:
    """`extract`'s rows of one resource to send to the writing process: by table name, each
    row its values in the table's column order after `rid` (which the writer puts first)."""
    from fhirip.search.index import extract  # which imports this module

    return {table.name: [tuple(row.get(name) for name in _columns_after_rid(table)) for row in found]
            for table, found in extract(registry(), res_type, resource).items() if found}


def _columns_after_rid(table: Table) -> tuple[str, ...]:
    names = _COLUMNS_AFTER_RID.get(table.name)
    if names is None:
        assert table.c[0].name == "rid"
        names = _COLUMNS_AFTER_RID[table.name] = tuple(column.name for column in table.c)[1:]
    return names


_COLUMNS_AFTER_RID: dict[str, tuple[str, ...]] = {}


_STAMP_FREE: dict[str, bool] = {}


def stamp_free(res_type: str) -> bool:
    """Whether no indexed parameter of `res_type` reads what the store may write into a resource
    itself (meta.versionId, meta.lastUpdated, the narrative `text`): only then can its rows be
    extracted before the write."""
    found = _STAMP_FREE.get(res_type)
    if found is None:
        from fhirip.search.index import _indexed_params  # which imports this module

        reg = registry()
        expressions = [reg.expression(res_type, param) or "" for _, param in _indexed_params(reg, res_type)]
        found = not any(stamp in expression for expression in expressions for stamp in STAMPS) and not any(
            part.strip("( ").startswith((f"{res_type}.text", "text"))
            for expression in expressions for part in split_unions(expression))
        _STAMP_FREE[res_type] = found
    return found
