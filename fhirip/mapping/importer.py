"""The import loop: one transaction per plan, resumable, with a loss report and a progress bar.

Resuming after a kill is safe twice over: a checkpoint file lists the plans whose
transaction was answered and committed, and every create is conditional (``ifNoneExist`` on a business
identifier), so a plan that was submitted but not yet checkpointed creates nothing new when
it is sent again. A checkpoint line names the plan and a digest of the Bundle it became, so a
later export of the same plan with other content (or another export that reuses its keys) is
sent again rather than taken as done; conditional creates never overwrite what is stored.

Plans go to a ``PlanSink``: a plain submit function makes each plan durable when it answers;
a batching sink (``fhirip.mapping.store_batches``) answers each plan from a savepoint and makes
them durable together at ``commit``, and only then are they written to the checkpoint. A sink
that offers its store's ``validator()`` (the batching sink) takes each plan with the checks the
helper process made of it ahead of time (``fhirip.mapping.checking_ahead``).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from fhirip.mapping.preparing import PreparedPlan, prepared_in_background, prepared_plans
from fhirip.mapping.records import Loss, RecordError

EXIT_OK, EXIT_SKIPPED, EXIT_LOSSES = 0, 1, 2


@dataclass
class ImportSummary:
    """What a run did. ``exit_code``: 0 all plans imported with nothing lost, 1 at least one
    plan (or source record) skipped, 2 everything imported but some values could not be mapped."""

    format: str
    path: str
    dry_run: bool
    plans_read: int = 0
    plans_imported: int = 0
    plans_already_done: int = 0
    plans_skipped: int = 0
    resources_created: int = 0
    resources_existing: int = 0
    checks_taken: int = 0  # model parses and validations the writer took from the helper process
    index_rows_taken: int = 0  # resources whose search index rows the writer took from it
    seconds: float = 0.0
    errors: list[RecordError] = field(default_factory=list)
    losses: list[Loss] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.errors:
            return EXIT_SKIPPED
        return EXIT_LOSSES if self.losses else EXIT_OK

    @property
    def plans_per_second(self) -> float:
        return self.plans_read / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"format": self.format, "path": self.path, "dryRun": self.dry_run, "exitCode": self.exit_code,
                "plansRead": self.plans_read, "plansImported": self.plans_imported,
                "plansAlreadyDone": self.plans_already_done, "plansSkipped": self.plans_skipped,
                "resourcesCreated": self.resources_created, "resourcesExisting": self.resources_existing,
                "seconds": round(self.seconds, 3),
                "errors": [e.to_json() for e in self.errors], "losses": [l.to_json() for l in self.losses]}


class PlanSink(Protocol):
    """Where plan Bundles go. ``submit`` answers one plan (a transaction-response, or an
    OperationOutcome when refused); ``commit`` makes every answered plan durable; ``due`` says
    a commit should happen now; ``rollback`` drops what is not committed."""

    def submit(self, bundle: dict[str, Any]) -> dict[str, Any]: ...

    def due(self) -> bool: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class _EachDurable:
    """A submit function as a sink: every answered plan is already durable."""

    def __init__(self, submit: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.submit = submit

    def due(self) -> bool:
        return True

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass


class _Checkpoint:
    """An append-only file of plan keys whose transaction the server answered."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.done: set[str] = set()
        torn = False
        if path is not None and path.exists():
            text = path.read_text(encoding="utf-8")
            self.done = {line.strip() for line in text.splitlines() if line.strip()}
            torn = bool(text) and not text.endswith("\n")  # a run killed while writing its last line
        self._file = path.open("a", encoding="utf-8") if path is not None else None
        if torn and self._file is not None:
            self._file.write("\n")  # the torn key stays unknown (its plan is sent again), the next one whole

    def mark(self, keys: list[str]) -> None:
        """Record the keys of the plans one commit made durable, with one sync to disk for all
        of them: a sync per plan would cost the import more than many of its plans do."""
        self.done.update(keys)
        if self._file is not None and keys:
            self._file.write("".join(key + "\n" for key in keys))
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _count_outcomes(response: dict[str, Any], summary: ImportSummary) -> None:
    for entry in response.get("entry", []):
        status = str(entry.get("response", {}).get("status", ""))
        if status.startswith("201"):
            summary.resources_created += 1
        elif status.startswith("200"):
            summary.resources_existing += 1


def _response_error(response: dict[str, Any]) -> str | None:
    if response.get("resourceType") == "OperationOutcome":
        return "; ".join(i.get("diagnostics", i.get("code", "")) for i in response.get("issue", [])) or "rejected"
    for entry in response.get("entry", []):
        status = str(entry.get("response", {}).get("status", ""))
        if status and not status.startswith("2"):
            return f"entry answered {status}"
    return None


def run_import(format: str, path: Path, submit: Callable[[dict[str, Any]], dict[str, Any]] | PlanSink, *,
               dry_run: bool = False, report_path: Path | None = None, progress: bool = True,
               checkpoint: Path | None = None, prepare_in_background: bool = False,
               check_ahead: bool = True) -> ImportSummary:
    """Import every plan at path, one transaction Bundle per plan, through ``submit`` (a
    function or a ``PlanSink``). ``prepare_in_background``: read and map the plans in a helper
    process (``fhirip.mapping.preparing``), same plans in the same order; there, unless
    ``check_ahead`` is False, also parse and validate their resources for a sink that can take
    such checks (one with a ``validator()``). ``dry_run``: every plan goes through the sink
    exactly as in a real run, and what would be committed is rolled back instead; no
    checkpoint is written."""
    sink: PlanSink = submit if hasattr(submit, "commit") else _EachDurable(submit)  # type: ignore[assignment]
    if dry_run and isinstance(sink, _EachDurable):
        raise ValueError("a dry run needs a sink that can roll back (a function's answers are already durable)")
    summary = ImportSummary(format, str(path), dry_run)
    done = _Checkpoint(None if dry_run else checkpoint)
    answered: list[str] = []  # identities of plans answered but not yet committed
    skipped_keys: set[str] = set()
    started = time.perf_counter()
    bar = _progress_bar(progress)
    task = bar.add_task("import", total=None, skipped=0) if bar else None
    finished = False
    try:
        validator = _validator_of(sink) if prepare_in_background and check_ahead else None
        items = (prepared_in_background(format, Path(path), validator) if prepare_in_background
                 else prepared_plans(format, Path(path)))
        for item in items:
            if isinstance(item, RecordError):
                summary.errors.append(item)
                if item.plan_key not in skipped_keys:
                    skipped_keys.add(item.plan_key or f"{item.file}:{item.line}")
                    summary.plans_skipped += 1
                continue
            summary.plans_read += 1
            identity = _import_one(item, sink, done, summary)
            if identity is not None:
                answered.append(identity)
            if sink.due():
                _commit(sink, answered, done, dry_run)
            if bar is not None:
                bar.update(task, advance=1, skipped=summary.plans_skipped)
        _commit(sink, answered, done, dry_run)
        finished = True
    finally:
        if not finished:
            sink.rollback()  # what was not committed is not in the checkpoint: a re-run sends it again
        done.close()
        if bar is not None:
            bar.stop()
        summary.seconds = time.perf_counter() - started
    if report_path is not None:
        Path(report_path).write_text(json.dumps(summary.to_json(), ensure_ascii=False, indent=1), encoding="utf-8")
    return summary


def _validator_of(sink: PlanSink) -> Any:
    validator = getattr(sink, "validator", None)
    return validator() if callable(validator) else None


def _commit(sink: PlanSink, answered: list[str], done: _Checkpoint, dry_run: bool = False) -> None:
    """Make the answered plans durable; a dry run, which ran every check a real run does,
    gives them up instead."""
    if dry_run:
        sink.rollback()
        answered.clear()
        return
    sink.commit()
    done.mark(answered)
    answered.clear()


def _import_one(plan: PreparedPlan, sink: PlanSink, done: _Checkpoint,
                summary: ImportSummary) -> str | None:
    """Submit one prepared plan; its checkpoint identity once the store has taken it."""
    if plan.unmappable is not None or plan.bundle is None or plan.identity is None:
        summary.errors.append(RecordError(plan.source, None, f"plan {plan.key}", str(plan.unmappable), plan.key))
        summary.plans_skipped += 1
        return None
    summary.losses.extend(plan.losses)  # reported on every run, so a resumed run tells the whole truth
    if plan.identity in done.done:
        summary.plans_already_done += 1
        return None
    try:
        response = sink.submit(plan.bundle, plan.checks) if plan.checks is not None else sink.submit(plan.bundle)
    except Exception as error:  # the store's refusal must not stop the run: report and go on
        response = {"resourceType": "OperationOutcome", "issue": [{"diagnostics": f"{type(error).__name__}: {error}"}]}
    if plan.checks is not None:
        summary.checks_taken += plan.checks.taken
        summary.index_rows_taken += plan.checks.rows_taken
    problem = _response_error(response)
    if problem is not None:
        summary.errors.append(RecordError(plan.plan_file or plan.source, plan.plan_line,
                                          f"plan {plan.key}", f"transaction refused: {problem}", plan.key))
        summary.plans_skipped += 1
        return None
    _count_outcomes(response, summary)
    summary.plans_imported += 1
    return plan.identity


def _progress_bar(enabled: bool):
    if not enabled:
        return None
    from rich.progress import Progress, ProgressColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Plans per second, averaged over the run so far."""

        def render(self, task) -> Text:  # type: ignore[no-untyped-def]
            elapsed = task.elapsed or 0.0
            rate = task.completed / elapsed if elapsed > 0 else 0.0
            return Text(f"{rate:,.1f} plans/s")

    bar = Progress(SpinnerColumn(), TextColumn("plans {task.completed:,.0f}"),
                   TextColumn("skipped {task.fields[skipped]}"), RateColumn(), TimeElapsedColumn())
    bar.start()
    return bar
