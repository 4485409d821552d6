"""The access matrix through real HTTP: every actor × every interaction × the plan's resource types.

Each cell asks the live server (real tokens, the real facade, both stores) what one
actor gets from one interaction, and compares it with what `matrix_world` says the
actor may see. The comparison goes both ways: nothing the actor may not see may
reach them (no resource, no count, no difference from an unknown id), and what they
may see must be there. The system client sees everything and is the source of truth
for what exists at the moment of the question; the rule of who sees what is written
out by hand in `matrix_world.ACTORS`.

One server per store for the whole module, loaded once through the real store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import matrix_world as mw
import pytest
from matrix_cells_reads import (
    cell_chain,
    cell_compartment,
    cell_foreign_page,
    cell_has,
    cell_history_instance,
    cell_history_system,
    cell_history_type,
    cell_include,
    cell_include_iterate,
    cell_paging,
    cell_revinclude,
    cell_sort,
    cell_system_search,
    search_criteria,
)
from matrix_cells_writes import (
    cell_access_log,
    cell_batch,
    cell_conditional_create,
    cell_conditional_delete,
    cell_conditional_update,
    cell_create,
    cell_delete_referenced,
    cell_deleted,
    cell_masked_reference,
    cell_moved_between_records,
    cell_patch,
    cell_transaction,
    cell_update,
    cell_validate,
)
from matrix_checks import (
    ACTOR_NAMES,
    Matrix,
    assert_masked,
    assert_only_visible,
    assert_same_as_unknown,
    keys,
    served_matrix,
    resources,
    unknown_id,
    world_of,
)

from fhirip.testing.live import Fhir


@pytest.fixture(scope="module")
def matrix(store_kind: str, request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    postgres = request.getfixturevalue("postgres") if store_kind == "postgresql" else None
    with served_matrix(store_kind, postgres, tmp_path_factory.mktemp(f"matrix-{store_kind}"), "consent_matrix") as built:
        yield built


@pytest.mark.parametrize("res_type", mw.MATRIX_TYPES)
@pytest.mark.parametrize("actor_name", ACTOR_NAMES)
def test_read_vread_and_head(matrix: Matrix, actor_name: str, res_type: str) -> None:
    actor, client = mw.ACTORS[actor_name], matrix.clients[actor_name]
    nobody = unknown_id()
    forms: dict[str, Callable[[str], httpx.Response]] = {
        "read": lambda i: client.get(f"/{res_type}/{i}"), "head": lambda i: client.head(f"/{res_type}/{i}"),
        "vread": lambda i: client.get(f"/{res_type}/{i}/_history/1")}
    unknown = {how: ask(nobody) for how, ask in forms.items()}
    visible = [r for r in world_of(res_type) if mw.should_see(actor, r)]
    hidden = [r for r in world_of(res_type) if not mw.should_see(actor, r)]
    for position, resource in enumerate(visible):
        read = forms["read"](resource["id"])
        assert read.status_code == 200 and read.json()["id"] == resource["id"], read.text
        assert_masked(actor, [read.json()])
        if position == 0:  # the other forms once per type: they share the read's visibility check
            head, vread = forms["head"](resource["id"]), forms["vread"](resource["id"])
            assert head.status_code == 200 and head.content == b""
            assert vread.status_code == 200 and vread.json()["meta"]["versionId"] == "1"
            assert_masked(actor, [vread.json()])
    for position, resource in enumerate(hidden):  # read each; HEAD and vread the first as well
        for how, ask in forms.items():
            if how == "read" or position == 0:
                assert_same_as_unknown(ask(resource["id"]), resource["id"], unknown[how], nobody)


@pytest.mark.parametrize("res_type", mw.MATRIX_TYPES)
@pytest.mark.parametrize("actor_name", ACTOR_NAMES)
def test_search_total_count_and_elements(matrix: Matrix, actor_name: str, res_type: str) -> None:
    actor, client = mw.ACTORS[actor_name], matrix.clients[actor_name]
    query = search_criteria(res_type)
    expected = {k for k, r in matrix.all_of(res_type, query).items() if mw.should_see(actor, r)}
    found = client.get(f"/{res_type}?_count=1000&_total=accurate{query}")
    counted = client.get(f"/{res_type}?_summary=count{query}")
    elements = client.get(f"/{res_type}?_count=1000&_elements=id,status,description,goal{query}")
    if not expected and found.status_code == 403:
        assert counted.status_code == 403 and elements.status_code == 403
        return
    assert found.status_code == counted.status_code == elements.status_code == 200, found.text
    bundle = found.json()
    assert_only_visible(actor, resources(bundle))
    assert keys(bundle) == expected and bundle["total"] == len(expected)
    assert counted.json()["total"] == len(expected) and "entry" not in counted.json()
    assert keys(elements.json()) == expected
    assert_masked(actor, resources(elements.json()))


CELLS: dict[str, Callable[[Matrix, mw.MatrixActor, Fhir], None]] = {
    "include": cell_include, "revinclude": cell_revinclude, "include-iterate": cell_include_iterate,
    "chain": cell_chain, "has": cell_has, "sort": cell_sort, "paging": cell_paging,
    "foreign-page": cell_foreign_page, "system-search": cell_system_search, "compartment": cell_compartment,
    "history-instance": cell_history_instance, "history-type": cell_history_type,
    "history-system": cell_history_system, "batch": cell_batch, "transaction": cell_transaction,
    "conditional-create": cell_conditional_create, "conditional-update": cell_conditional_update,
    "conditional-delete": cell_conditional_delete, "update": cell_update, "patch": cell_patch,
    "create": cell_create, "deleted": cell_deleted, "delete-referenced": cell_delete_referenced,
    "masked-reference": cell_masked_reference, "validate": cell_validate,
    "moved-between-records": cell_moved_between_records, "access-log": cell_access_log,
}


KNOWN_LEAKS: dict[tuple[str, str], str] = {}


def _cells() -> list[Any]:
    return [pytest.param(actor, interaction, id=f"{actor}-{interaction}",
                         marks=[pytest.mark.xfail(reason=KNOWN_LEAKS[actor, interaction], strict=True)]
                         if (actor, interaction) in KNOWN_LEAKS else [])
            for actor in ACTOR_NAMES for interaction in CELLS]


@pytest.mark.parametrize(("actor_name", "interaction"), _cells())
def test_interaction(matrix: Matrix, actor_name: str, interaction: str) -> None:
    CELLS[interaction](matrix, mw.ACTORS[actor_name], matrix.clients[actor_name])
