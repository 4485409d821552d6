"""Reading and mapping plans ahead of the store, in this process or in a helper process.

A plan is prepared (read, mapped to its transaction Bundle, given its checkpoint identity)
before it is submitted. That work needs nothing from the store, so a long import can leave it
to a helper process that stays a few dozen plans ahead while this process writes: on a machine
with a second core the reading and mapping then cost the import no time. The plans arrive in
the order they were read, so the store ends up exactly as with preparing in-process.

Given the writer's validator, the helper also checks each plan's resources as they will be
written (`fhirip.mapping.checking_ahead`): the writer then repeats no check whose content is
unchanged, and checks everything else itself.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from fhirip.heap import settle_heap
from fhirip.mapping.bundle import PlanNotMappable, to_bundle
from fhirip.mapping.conversion import read_plans
from fhirip.mapping.records import Loss, PlanRecord, RecordError
from fhirip.validation.checked_ahead import CheckedAhead

_CHUNK = 16  # plans per message between the processes, once the writer is busy
_AHEAD = 8  # chunks the helper may be ahead


@dataclass
class PreparedPlan:
    """One plan ready to submit: its Bundle and losses, or why it cannot be mapped."""

    key: str
    source: str
    plan_file: str | None
    plan_line: int | None
    bundle: dict[str, Any] | None = None
    identity: str | None = None
    losses: list[Loss] = field(default_factory=list)
    unmappable: str | None = None
    checks: CheckedAhead | None = None  # the content checks made ahead (helper process only)

    # Between the processes the Bundle travels as JSON: orjson reads it back four times faster
    # than pickle rebuilds the same dicts, and the reading side is the busy writer.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if state["bundle"] is not None:
            state["bundle"] = orjson.dumps(state["bundle"])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state["bundle"] is not None:
            state["bundle"] = orjson.loads(state["bundle"])
        self.__dict__.update(state)


def plan_identity(plan_key: str, format: str, bundle: dict[str, Any]) -> str:
    """The checkpoint line of a plan: its key and a digest of the Bundle it became."""
    digest = hashlib.sha256(json.dumps(bundle, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()
    return f"{format}:{plan_key}:{digest[:24]}"


def prepare(plan: PlanRecord, format: str) -> PreparedPlan:
    row = plan.single("plan")
    prepared = PreparedPlan(plan.key, plan.source, row.file if row else None, row.line if row else None)
    try:
        prepared.bundle, prepared.losses = to_bundle(plan)
    except PlanNotMappable as error:
        prepared.unmappable = str(error)
        return prepared
    prepared.identity = plan_identity(plan.key, format, prepared.bundle)
    return prepared


def prepared_plans(format: str, path: Path) -> Iterator[PreparedPlan | RecordError]:
    """Every plan at path prepared, and every record that could not be read, in reading order."""
    for item in read_plans(format, Path(path)):
        yield item if isinstance(item, RecordError) else prepare(item, format)


def prepared_in_background(format: str, path: Path, validator: Any = None) -> Iterator[PreparedPlan | RecordError]:
    """`prepared_plans`, worked out by a helper process a few chunks ahead of the caller; with
    the writer's `validator`, each plan also carries its content checks (`PreparedPlan.checks`)."""
    context = multiprocessing.get_context("fork")  # the helper needs this process's loaded mapping specs
    channel = context.Queue(maxsize=_AHEAD)
    helper = context.Process(target=_prepare_into, args=(format, str(path), channel, os.getpid(), validator),
                             name="fhirip-import-prepare", daemon=True)
    helper.start()
    try:
        while True:
            try:
                message = channel.get(timeout=1.0)
            except queue.Empty:
                if not helper.is_alive():
                    raise RuntimeError(f"the process preparing the plans ended unexpectedly "
                                       f"(exit code {helper.exitcode})") from None
                continue
            kind, payload = message
            if kind == "done":
                return
            if kind == "failed":
                raise RuntimeError(f"preparing the plans failed: {payload}")
            yield from payload
    finally:
        if helper.is_alive():
            helper.terminate()
        helper.join(timeout=5)


def _prepare_into(format: str, path: str, channel: Any, parent: int, validator: Any) -> None:
    # When the import is killed, this process ends at once, whatever it is doing: even done, it
    # would otherwise wait at exit for the queue to hand its last chunk to a reader that is gone.
    threading.Thread(target=_end_with, args=(parent,), name="fhirip-import-watch", daemon=True).start()

    def send(message: tuple[str, Any]) -> None:
        while True:
            try:
                channel.put(message, timeout=1.0)
                return
            except queue.Full:
                if os.getppid() != parent:  # the import was killed: nobody will read this
                    os._exit(1)

    try:
        from fhirip.mapping.checking_ahead import AheadChecker

        checker = None
        if validator is not None:
            try:
                checker = AheadChecker(validator)  # on this process's own copy of the validator
            except TypeError:
                checker = None  # a validator this process cannot keep from the store: the writer checks all
        settle_heap()
        chunk: list[PreparedPlan | RecordError] = []
        size = 1  # the writer waits for the first chunk: it starts with one plan, and chunks grow to _CHUNK
        for item in prepared_plans(format, Path(path)):
            if checker is not None and isinstance(item, PreparedPlan) and item.bundle is not None:
                item.checks = checker.check(item.bundle)
            chunk.append(item)
            if len(chunk) >= size:
                send(("plans", chunk))
                chunk = []
                size = min(2 * size, _CHUNK)
        if chunk:
            send(("plans", chunk))
        send(("done", None))
    except Exception as error:  # reported by the importing process, which stops
        send(("failed", f"{type(error).__name__}: {error}"))


def _end_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)
