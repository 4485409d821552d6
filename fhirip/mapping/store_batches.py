"""Plans into the store several to a database transaction, each plan in a savepoint of its own.

https://hl7.org/fhir/R4/http.html#transaction

Each plan still runs as one FHIR transaction through the transaction interaction, with every
write rule of the server, exactly as ``fhirip.migration.submitter`` runs it. What changes is
the database transaction around it: a plan is a SAVEPOINT inside a longer transaction that is
committed every ``plans_per_commit`` plans (or ``seconds_per_commit`` seconds). A refused plan
rolls back to its savepoint alone, so a bad plan still never lands half; the commit, the write
lock and the connection are paid once per batch instead of once per plan. Inside a plan, the
resources it creates go into the tables together (the transaction's write buffer sends a run of
creates as one insert per table), not three inserts each. A plan checked ahead by the import's
helper process (``fhirip.mapping.checking_ahead``) goes with its interaction context
(``Context.checked_ahead``): the model parse, validation and index rows of each resource whose
content is exactly the content checked are taken from it. Until ``commit``
returns nothing of the batch is durable: the importer writes its checkpoint only then, so a
kill loses at most the uncommitted plans, which a re-run creates again.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Any

import orjson
from sqlalchemy.exc import DBAPIError

from fhirip.errors import FhirError
from fhirip.interactions.conformance_check import write_hook_validator
from fhirip.context import Context, Services
from fhirip.interactions.request import FhirRequest
from fhirip.interactions.router import resolve
from fhirip.store.store import _is_race
from fhirip.validation.checked_ahead import CheckedAhead

DEFAULT_PLANS_PER_COMMIT = 50
DEFAULT_SECONDS_PER_COMMIT = 2.0
_RACE_ATTEMPTS = 3  # a plan that met a concurrent writer (PostgreSQL) runs again from its savepoint


class BatchedStoreSink:
    """Submits plan Bundles into one open write transaction; ``commit`` makes them durable."""

    def __init__(self, services: Services, *, plans_per_commit: int = DEFAULT_PLANS_PER_COMMIT,
                 seconds_per_commit: float = DEFAULT_SECONDS_PER_COMMIT) -> None:
        if plans_per_commit < 1:
            raise ValueError(f"plans_per_commit must be at least 1, not {plans_per_commit}")
        self.services = services
        self.plans_per_commit = plans_per_commit
        self.seconds_per_commit = seconds_per_commit
        self.base_url = services.settings.base_url or ""
        self._open: ExitStack | None = None
        self._tx: Any = None
        self._opened_at = 0.0
        self.uncommitted = 0  # plans submitted since the last commit, refused ones included

    def due(self) -> bool:
        """Whether the batch is full (by count or by age) and should be committed now."""
        return self.uncommitted >= self.plans_per_commit or (
            self.uncommitted > 0 and time.monotonic() - self._opened_at >= self.seconds_per_commit)

    def validator(self) -> Any:
        """The validator of the store's conformance write hook, for checking plans ahead
        (`fhirip.mapping.checking_ahead`); None if the store validates with no such hook."""
        return write_hook_validator(self.services)

    def submit(self, bundle: dict[str, Any], checks: CheckedAhead | None = None) -> dict[str, Any]:
        """Run one transaction Bundle in a savepoint: its transaction-response, or an
        OperationOutcome if the store refused it (then nothing of it remains). `checks`: the
        content checks made ahead for this Bundle, taken for exactly the content they checked."""
        if self._tx is None:
            self._begin()
        self.uncommitted += 1
        sent = orjson.dumps(bundle)  # the interaction rewrites the Bundle it runs: a retry needs the original
        for attempt in range(_RACE_ATTEMPTS):
            # The import reads each entry's status and location only: no bodies (`Prefer: return=minimal`).
            request = FhirRequest(method="POST", resource=bundle if attempt == 0 else orjson.loads(sent),
                                  base_url=self.base_url, prefer_return="minimal")
            try:
                with self._tx.savepoint():
                    route = resolve(request, [])
                    context = Context(self.services, self._tx, self.base_url, None, checked_ahead=checks)
                    return route.handler(context, request).resource
            except FhirError as error:
                return error.outcome()
            except DBAPIError as error:
                if attempt + 1 < _RACE_ATTEMPTS and _is_race(error):
                    continue
                return _refusal(error)
            except Exception as error:  # a plan the store cannot take must not stop the others
                return _refusal(error)
        raise AssertionError("unreachable")

    def commit(self) -> None:
        """Commit every plan submitted since the last commit."""
        if self._open is not None:
            stack, self._open, self._tx = self._open, None, None
            self.uncommitted = 0
            stack.close()

    def rollback(self) -> None:
        """Give up the uncommitted plans (the run is stopping on an error)."""
        if self._open is not None:
            stack, self._open, self._tx = self._open, None, None
            self.uncommitted = 0
            stack.__exit__(RuntimeError, RuntimeError("import stopped"), None)

    def _begin(self) -> None:
        stack = ExitStack()
        self._tx = stack.enter_context(self.services.store.transaction(write=True))
        self._open = stack
        self._opened_at = time.monotonic()


def _refusal(error: Exception) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "exception", "diagnostics": f"{type(error).__name__}: {error}"}]}
