"""The layers of fhirip, top to bottom: who may import whom.

A module may import its own package and any layer below its own, never one above. Packages
of one layer may import each other only where the layer says they are one idea spread over
several packages (`siblings`); otherwise they stand side by side and know nothing of each
other. `tests/test_layers.py` reads every import of `fhirip/` and `server/` (at the top of a
module or inside a function) and fails on one that goes up or sideways.

The order, and why each layer sits where it does:

- entry: what starts things and wires every layer together (the Flask facade, the command
  line, the composition of services and the conformance resources loaded at start, the test
  server, the demo data and the example plan rendered from it).
- interactions: the REST surface and everything that drives it. An operation is an
  interaction with a name; the legacy importer and the migration jobs write through the
  router as a client would, so they sit beside it, not under the rules it runs; the bulk
  export and the subscription notifications run a caller's searches outside the request, so
  they sit beside them too (the notification deliverer, a process of its own that composes the
  services, is an entry point).
- plans: the individual plan's rules and documents. They run inside the interactions (as
  write hooks, and behind the operations) and may use consent, audit and search.
- context: what one interaction hands to the rules it runs: the services, the open
  transaction, the caller and their access decision, and the write path to go through.
- consent: the access index, the caller's decision and its SQL condition. It reads the search
  index and records break-the-glass in the audit vocabulary.
- audit: AuditEvent, Provenance, the audit journal and its mover. It indexes AuditEvents for
  search and hands the store the events with their index rows, in bulk.
- services: search, validation, terminology and auth, each on its own: search indexes and
  queries the store; validation checks a resource; terminology expands and looks up codes;
  auth reads tokens into an actor.
- store: the database (schema, migrations, the store API, claims). It knows no FHIR rule and
  takes what it must derive from a resource from its caller: the indexers it writes with, the
  rebuilds a migration fills a new derived table with.
- base: the FHIR model, errors, configuration, canonical URLs, the simple-FHIRPath core, how a
  server starts and stops its companion processes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layer:
    name: str
    packages: tuple[str, ...]  # dotted module names; a package takes its submodules with it
    siblings: bool = False  # may its packages import each other?


LAYERS: tuple[Layer, ...] = (
    Layer("entry", ("server", "fhirip.cli", "fhirip.bootstrap", "fhirip.conformance", "fhirip.testing",
                    "fhirip.demo", "fhirip.subscriptions.deliverer"), siblings=True),
    Layer("interactions", ("fhirip.interactions", "fhirip.operations", "fhirip.mapping", "fhirip.migration",
                           "fhirip.export", "fhirip.subscriptions"),
          siblings=True),
    Layer("plans", ("fhirip.plans",)),
    Layer("context", ("fhirip.context",)),
    Layer("consent", ("fhirip.consent",)),
    Layer("audit", ("fhirip.audit",)),
    Layer("services", ("fhirip.search", "fhirip.validation", "fhirip.terminology", "fhirip.auth")),
    Layer("store", ("fhirip.store",)),
    Layer("base", ("fhirip.model", "fhirip.errors", "fhirip.config", "fhirip.canonical",
                   "fhirip.fhirpath_simple", "fhirip.heap", "fhirip.companions", "fhirip.layers", "fhirip"),
          siblings=True),
)


def place(module: str) -> tuple[int, Layer, str] | None:
    """(rank from the top, layer, package) of a dotted module name; None outside fhirip and server.

    The longest package that names the module or one of its parents decides (`fhirip` itself,
    the version, is a package of the base layer only by its own name)."""
    best: tuple[int, Layer, str] | None = None
    for rank, layer in enumerate(LAYERS):
        for package in layer.packages:
            covers = module == package or (package != "fhirip" and module.startswith(package + "."))
            if covers and (best is None or len(package) > len(best[2])):
                best = (rank, layer, package)
    return best


def may_import(importer: str, imported: str) -> bool:
    """Whether module `importer` may import module `imported` (outside fhirip: always)."""
    own, other = place(importer), place(imported)
    if own is None or other is None:
        return True
    (own_rank, own_layer, own_package), (other_rank, _, other_package) = own, other
    if other_rank != own_rank:
        return other_rank > own_rank
    return own_package == other_package or own_layer.siblings


def order_text() -> str:
    """The order as one line per layer, top first (for messages and the README)."""
    return "\n".join(f"{layer.name}: {', '.join(layer.packages)}" for layer in LAYERS)
