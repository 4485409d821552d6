"""Reads past the caller go through one named reader, and nothing else reads the resource tables.

Every statement that reads resources for a caller carries the caller's policy; the few that
must not (the plan rules, `$exists`, the server's own reads) use `fhirip.store.unscoped`,
each with its stated `UnscopedUse`. This test reads the source: a module outside the store,
the search and the few statements that put the policy in their own SQL that imports a resource
table fails it, and so does an `UnscopedUse` nobody uses or the README does not list.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from fhirip.store import schema
from fhirip.store.unscoped import UnscopedUse

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "fhirip"

# The tables that hold resources and what is derived from them (the search index).
RESOURCE_TABLES = {"resource", "resource_version", "resource_link", "search_string", "search_token",
                   "search_reference", "search_date", "search_number", "search_quantity", "search_uri",
                   "search_sort", "search_session", "search_result", "access_grant"}

# Packages that may read them: the store itself and the search, whose statements carry the policy.
ALLOWED_PACKAGES = ("store/", "search/")
# Single modules that may, and why.
ALLOWED_MODULES = {
    "consent/index.py": "writes the access index from the stored resources",
    "consent/decide.py": "reads the caller's rows of the access index, and with them the resource a read names"
                         " and the patients its reference rows name",
    "consent/sql.py": "builds the access condition every read carries",
    "consent/policy.py": "which keys the caller sees: the policy's own condition in the statement",
    "plans/policy_reads.py": "the current plan's reads, each statement with the caller's policy",
    "plans/person_graph.py": "candidate rows that `policy_reads` filters by the policy in the same statement",
    "interactions/access.py": "whether the caller sees one row: the policy's condition in the statement",
    "interactions/conditional.py": "identifier matches for conditional creates, with the caller's policy",
    "audit/event_index.py": "builds AuditEvents' search index rows (the sort table's columns), reads no resources",
    "export/sweeps.py": "the snapshot's version of rows the caller's search matched, each checked by the policy",
    "export/auditing.py": "which patients' records hold the resources an export gave the caller, for their logs",
    "operations/everything.py": "what a page the caller sees refers to; the targets filtered by the caller's access",
}


def _imported_tables(path: Path) -> set[str]:
    """The resource tables a module imports from the schema, or reaches through it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "fhirip.store.schema":
            found |= {alias.name for alias in node.names} & RESOURCE_TABLES
            if any(alias.name in ("metadata", "*") for alias in node.names) and path.name != "live.py":
                found.add("metadata")
        elif isinstance(node, ast.ImportFrom) and node.module == "fhirip.store" and \
                any(alias.name == "schema" for alias in node.names):
            found.add("schema")
        elif isinstance(node, ast.Import) and any(alias.name == "fhirip.store.schema" for alias in node.names):
            found.add("schema")
    return found


def _raw_sql_tables(path: Path) -> set[str]:
    """Resource tables named in SQL text (`text("... FROM resource ...")`)."""
    source = path.read_text(encoding="utf-8")
    pattern = r"\b(?:from|join|update|into)\s+(" + "|".join(sorted(RESOURCE_TABLES)) + r")\b"
    found = set()
    for call in re.finditer(r"text\(\s*f?[\"'](.*?)[\"']", source, flags=re.IGNORECASE | re.DOTALL):
        found |= {m.group(1) for m in re.finditer(pattern, call.group(1), flags=re.IGNORECASE)}
    return found


def _allowed(relative: str) -> bool:
    return relative.startswith(ALLOWED_PACKAGES) or relative in ALLOWED_MODULES


def test_the_resource_tables_exist_as_named() -> None:
    assert RESOURCE_TABLES <= set(schema.metadata.tables)


def test_only_the_store_the_search_and_the_listed_modules_read_the_resource_tables() -> None:
    offenders = {}
    for path in sorted(SOURCE.rglob("*.py")):
        relative = path.relative_to(SOURCE).as_posix()
        if relative.startswith("store/migrations/") or relative == "testing/live.py" or _allowed(relative):
            continue
        tables = _imported_tables(path) | _raw_sql_tables(path)
        if tables:
            offenders[relative] = sorted(tables)
    assert offenders == {}, (
        "These modules read the resource tables directly; read for a caller through the search "
        "(the caller's policy) or past the caller through fhirip.store.unscoped.UnscopedReader "
        f"with a stated UnscopedUse: {offenders}")


def test_every_listed_module_still_needs_its_place_on_the_list() -> None:
    stale = [m for m in ALLOWED_MODULES if not _imported_tables(SOURCE / m)]
    assert stale == []


def test_every_use_of_the_unscoped_reader_is_stated_and_documented() -> None:
    """Each reason is used somewhere, every construction names one, and the README lists them."""
    uses: set[str] = set()
    for path in sorted(SOURCE.rglob("*.py")):
        if path.relative_to(SOURCE).as_posix() == "store/unscoped.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "UnscopedReader":
                assert len(node.args) == 2 and isinstance(node.args[1], ast.Attribute), (
                    f"{path}: UnscopedReader(conn, UnscopedUse.<reason>) names its reason")
                assert getattr(node.args[1].value, "id", None) == "UnscopedUse", path
                uses.add(node.args[1].attr)
    assert uses == {use.name for use in UnscopedUse}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [use.name for use in UnscopedUse if f"`{use.name}`" not in readme]
    assert missing == []
