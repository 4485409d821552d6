"""Delivering subscription notifications, outside any request, from a process of its own.

https://hl7.org/fhir/R4/subscription.html (rest-hook)
https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/ (notification Bundles, event numbers)

Each round, a deliverer claims the active Subscriptions with events waiting (on PostgreSQL
`FOR UPDATE SKIP LOCKED`, then a lease of `LEASE_SECONDS` in the row, renewed as it works: any
number of server processes deliver each event once in the normal case). For every event, in
the order the writes committed, it runs the Subscription's criteria restricted to the changed
resource (`criteria&_id=<id>`) through the ordinary search interaction *as the owner*, rebuilt
from the Subscription (`fhirip.subscriptions.owner`): decided by the owner's consent and access
at that moment, masked as the owner would see it, and audited in the patient's log like any
read. An event the search does not return is dropped without trace: it takes no number, so
the owner learns nothing of it, not even that something happened. One it returns takes the
next event number of its Subscription. The events of one turn (up to `EVENTS_PER_TURN`, each
changed resource decided once, as its current version) go out together in one notification
Bundle with their numbers; before each later attempt they are decided anew, so a withdrawal
between a failed attempt and the next one withholds them.

A failed delivery (no answer within the timeouts, a status other than 2xx — redirects are not
followed) is retried after a backoff that doubles up to `MAX_BACKOFF_SECONDS`; after
`Settings.subscription_retries` failures in a row the Subscription's status becomes `error`
with the reason. Its events stay: an owner who sets it `requested` or `active` again gets them,
in order, with their numbers. A Subscription whose `end` has passed is set `off`.

A process killed at any point loses nothing: an event is a row committed with the write; a
numbered one that was not marked sent is sent again, with its number, once the lease runs out.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
from sqlalchemy import and_, delete, func, or_, select, true, update

from fhirip.companions import Companion, Stopped, stop_on_signals
from fhirip.context import Services
from fhirip.errors import FhirError
from fhirip.interactions.request import FhirRequest
from fhirip.interactions.router import handle
from fhirip.model.dates import parse_instant, to_naive_utc
from fhirip.store.records import now_utc
from fhirip.store.schema import subscription, subscription_event
from fhirip.subscriptions.endpoints import endpoint_refusal
from fhirip.subscriptions.notification import Event, notification_bundle
from fhirip.subscriptions.owner import owner_actor, owner_base_url
from fhirip.subscriptions.criteria import parse_criteria

_LOG = logging.getLogger(__name__)
_URL_VARIABLE = "FHIRIP_SUBSCRIPTION_DELIVERER_DATABASE_URL"
LEASE_SECONDS = 10
MAX_BACKOFF_SECONDS = 30.0
FIRST_BACKOFF_SECONDS = 0.5
EVENTS_PER_TURN = 50  # events decided, numbered and sent together (one notification)
POLL_SECONDS = 0.2
PARALLEL = 4  # Subscriptions delivered side by side by one deliverer
# Short: a receiver that does not answer holds up its own Subscription only.
TIMEOUT = httpx.Timeout(5.0, connect=2.0)
WAITING = ("pending", "numbered")
# How long sent (and withheld) events stay for `$events`; older ones are purged now and then.
KEPT_DAYS = 7
PURGE_SECONDS = 300.0


def backoff(failures: int) -> float:
    return min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** max(0, failures - 1))


class Deliverer:
    """Delivers the notifications of one database; `round()` does one pass."""

    def __init__(self, services: Services, *, name: str | None = None):
        self.services = services
        self.store = services.store
        self.name = name or f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.http = httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False)
        self.pool = ThreadPoolExecutor(PARALLEL, thread_name_prefix="subscription-delivery")

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.http.close()

    def purge(self) -> int:
        """Forget the events sent or withheld more than `KEPT_DAYS` ago; how many."""
        before = now_utc() - timedelta(days=KEPT_DAYS)
        e = subscription_event
        return self.store.run(lambda tx: tx.conn.execute(delete(e).where(
            e.c.state.in_(("delivered", "withheld")), e.c.recorded_at < before)).rowcount, write=True, unlimited=True)

    # -- claiming ---------------------------------------------------------------------------

    def claim(self, limit: int = PARALLEL) -> list[int]:
        """Subscriptions with events waiting that no one holds, now held by this deliverer."""
        def work(tx: Any) -> list[int]:
            now = now_utc()
            s, e = subscription, subscription_event
            oldest = select(func.min(e.c.seq)).where(e.c.subscription_rid == s.c.rid,
                                                     e.c.state.in_(WAITING)).scalar_subquery()
            # The longest waiting first: no Subscription starves behind busier ones.
            query = (select(s.c.rid).where(
                s.c.active.is_(true()),
                or_(s.c.retry_at.is_(None), s.c.retry_at <= now),
                or_(s.c.held_until.is_(None), s.c.held_until < now),
                oldest.is_not(None))
                .order_by(oldest).limit(limit).with_for_update(skip_locked=True))
            rids = list(tx.conn.execute(query).scalars())
            if rids:
                tx.conn.execute(update(s).where(s.c.rid.in_(rids)).values(
                    held_by=self.name, held_until=now + timedelta(seconds=LEASE_SECONDS)))
            return rids

        return self.store.run(work, write=True, unlimited=True)

    def _held(self, rid: int) -> Any:
        return and_(subscription.c.rid == rid, subscription.c.held_by == self.name)

    def _release(self, rid: int) -> None:
        self.store.run(lambda tx: tx.conn.execute(
            update(subscription).where(self._held(rid)).values(held_by=None, held_until=None)),
            write=True, unlimited=True)

    # -- one pass ---------------------------------------------------------------------------

    def round(self) -> int:
        """Deliver what is waiting, `PARALLEL` Subscriptions at a time; how many events were sent.
        Side by side, one Subscription's wait (for the database's write lock, for a slow receiver)
        does not hold up the others."""
        return sum(self.pool.map(self._turn, self.claim(limit=PARALLEL)))

    def _turn(self, rid: int) -> int:
        try:
            return self.deliver_subscription(rid)
        except Exception:  # noqa: BLE001 - its events stay; the next round tries again
            _LOG.exception("delivering the notifications of subscription row %s failed", rid)
            return 0
        finally:
            self._release(rid)

    def deliver_subscription(self, rid: int) -> int:
        """Decide the subscription's waiting events (each changed resource once), number the new
        ones, and send them all in one notification; how many events were sent."""
        found = self.store.run(lambda tx: _subscription_state(tx, rid), write=False, unlimited=True)
        if found is None:
            return 0
        content, events = found
        end = content.get("end")
        if isinstance(end, str) and _passed(end):
            self._set_status(content, "off", None)
            return 0
        owner = owner_actor(content)
        parsed = parse_criteria(str(content.get("criteria") or ""))
        if owner is None or parsed is None:
            return 0
        seen: dict[tuple[str, str], dict[str, Any] | None] = {}
        started = time.monotonic()
        for index, (_, res_type, res_id, _, _, _) in enumerate(events):
            if time.monotonic() - started > LEASE_SECONDS / 2:
                events = events[:index]  # the rest waits for the next turn, within the lease
                break
            if (res_type, res_id) not in seen:
                seen[(res_type, res_id)] = self.decide(content, owner, parsed, res_type, res_id)
        numbered = self._settle(rid, [(seq, state, number, seen[(t, i)] is not None)
                                      for seq, t, i, _, state, number in events])
        if numbered is None:
            return 0  # no longer held: another deliverer has it
        numbers, since_start = numbered
        batch = [(seq, Event(numbers[seq], at, t, i, seen[(t, i)])) for seq, t, i, at, _, _ in events if seq in numbers]
        if not batch:
            return 0
        failure = self.send(content, [event for _, event in batch], since_start)
        if failure is not None:
            self._failed(rid, content, failure)
            return 0
        self._sent(rid, [seq for seq, _ in batch])
        return len(batch)

    # -- deciding ---------------------------------------------------------------------------

    def decide(self, content: dict[str, Any], owner: Any, parsed: tuple[str, list[tuple[str, str]]],
               res_type: str, res_id: str) -> dict[str, Any] | None:
        """The resource as the owner's search for it answers now, or None when it does not."""
        criteria_type, params = parsed
        if res_type != criteria_type:
            return None
        params = [*params, ("_id", res_id)]
        base = owner_base_url(content) or self.services.settings.base_url or ""
        request = FhirRequest(method="GET", params=params, base_url=base,
                              url=f"{base}/{res_type}?{urlencode(params)}")
        try:
            response = handle(self.services, request, [res_type], actor=owner)
        except FhirError:  # the owner may no longer search this way (scopes, a hidden parameter …)
            return None
        bundle = response.resource or {}
        for entry in bundle.get("entry") or ():
            item = entry.get("resource") or {}
            if (entry.get("search") or {}).get("mode", "match") == "match" and \
                    item.get("resourceType") == res_type and item.get("id") == res_id:
                return item
        return None

    # -- sending ----------------------------------------------------------------------------

    def send(self, content: dict[str, Any], events: list[Event], since_start: int) -> str | None:
        """POST the notification of these events; None when the receiver took it (2xx), else why not."""
        channel = content.get("channel") or {}
        endpoint = str(channel.get("endpoint") or "")
        refusal = endpoint_refusal(endpoint, self.services.settings.subscription_endpoints)
        if refusal is not None:
            return refusal
        headers = {}
        for header in channel.get("header") or ():
            name, _, value = str(header).partition(":")
            headers[name.strip()] = value.strip()
        body = b""  # R4: a Subscription without a payload is told of an event with an empty POST
        if channel.get("payload"):
            base = owner_base_url(content) or self.services.settings.base_url or ""
            bundle = notification_bundle(content, base, kind="event-notification", events_since_start=since_start,
                                         events=events)
            body = orjson.dumps(bundle)
            headers["Content-Type"] = "application/fhir+json"
        try:
            with self.http.stream("POST", endpoint, content=body, headers=headers) as answer:
                status = answer.status_code  # the body is never read
        except httpx.HTTPError as error:
            return f"The endpoint could not be reached: {type(error).__name__}: {error}"[:500]
        if 200 <= status < 300:
            return None
        return f"The endpoint answered {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")

    # -- recording --------------------------------------------------------------------------

    def _settle(self, rid: int, decided: list[tuple[int, str, int | None, bool]]) -> tuple[dict[int, int], int] | None:
        """In one transaction, under this deliverer's lease: drop the new events the owner may not
        see (no trace), withhold the numbered ones they may no longer see, and number the new ones
        they may, in the order of their writes. Returns the numbers of the events to send and the
        events since the start; None when the lease is lost."""
        def work(tx: Any) -> tuple[dict[int, int], int] | None:
            e = subscription_event
            count = tx.conn.execute(select(subscription.c.events).where(self._held(rid))).scalar()
            if count is None:
                return None
            numbers: dict[int, int] = {}
            dropped = [seq for seq, state, _, visible in decided if state == "pending" and not visible]
            withheld = [seq for seq, state, _, visible in decided if state == "numbered" and not visible]
            if dropped:
                tx.conn.execute(delete(e).where(e.c.seq.in_(dropped), e.c.state == "pending"))
            if withheld:
                tx.conn.execute(update(e).where(e.c.seq.in_(withheld)).values(state="withheld"))
            for seq, state, number, visible in decided:
                if not visible:
                    continue
                if state == "pending":
                    count += 1
                    tx.conn.execute(update(e).where(e.c.seq == seq).values(state="numbered", number=count))
                    numbers[seq] = count
                elif number is not None:
                    numbers[seq] = number
            tx.conn.execute(update(subscription).where(subscription.c.rid == rid).values(
                events=count, held_until=now_utc() + timedelta(seconds=LEASE_SECONDS)))
            return numbers, int(count)

        return self.store.run(work, write=True, unlimited=True)

    def _sent(self, rid: int, seqs: list[int]) -> None:
        def work(tx: Any) -> None:
            now = now_utc()
            tx.conn.execute(update(subscription_event).where(subscription_event.c.seq.in_(seqs)).values(
                state="delivered", sent_at=now))
            tx.conn.execute(update(subscription).where(subscription.c.rid == rid).values(
                failures=0, retry_at=None, last_error=None))

        self.store.run(work, write=True, unlimited=True)

    def _failed(self, rid: int, content: dict[str, Any], reason: str) -> None:
        def work(tx: Any) -> int:
            failures = tx.conn.execute(select(subscription.c.failures).where(
                subscription.c.rid == rid)).scalar_one() + 1
            tx.conn.execute(update(subscription).where(subscription.c.rid == rid).values(
                failures=failures, last_error=reason,
                retry_at=now_utc() + timedelta(seconds=backoff(failures))))
            return int(failures)

        failures = self.store.run(work, write=True, unlimited=True)
        _LOG.info("notification of Subscription/%s failed (%s in a row): %s", content.get("id"), failures, reason)
        if failures >= self.services.settings.subscription_retries:
            self._set_status(content, "error", f"{failures} deliveries in a row failed; the last: {reason}")

    def _set_status(self, content: dict[str, Any], status: str, error: str | None) -> None:
        """A new version of the Subscription with this status (the server's own change)."""
        def work(tx: Any) -> None:
            current = tx.current("Subscription", str(content["id"]), lock=True)
            stored = tx.read("Subscription", str(content["id"]))
            if current is None or current.deleted or stored is None or not stored.content:
                return
            latest = orjson.loads(stored.content)
            if latest.get("status") != "active":
                return  # the owner changed it meanwhile: theirs stands
            latest["status"] = status
            if error:
                latest["error"] = error
            tx.write(latest, method="PUT", previous=current)

        self.store.run(work, write=True, unlimited=True)


def _subscription_state(tx: Any, rid: int) -> tuple[dict[str, Any], list[tuple[Any, ...]]] | None:
    row = tx.conn.execute(select(subscription.c.res_id, subscription.c.active).where(
        subscription.c.rid == rid)).first()
    if row is None or not row.active:
        return None
    stored = tx.read("Subscription", row.res_id)
    if stored is None or stored.deleted or not stored.content:
        return None
    e = subscription_event
    events = tx.conn.execute(
        select(e.c.seq, e.c.res_type, e.c.res_id, e.c.recorded_at, e.c.state, e.c.number)
        .where(e.c.subscription_rid == rid, e.c.state.in_(WAITING)).order_by(e.c.seq).limit(EVENTS_PER_TURN)).all()
    return orjson.loads(stored.content), [tuple(r) for r in events]


def _passed(end: str) -> bool:
    try:
        return to_naive_utc(parse_instant(end)) <= now_utc()
    except (ValueError, FhirError):
        return False


# -- the process ------------------------------------------------------------------------------


def deliverer_beside(url: str) -> Companion:
    """The deliverer of the notifications of the database at `url`, a companion of the server."""
    return Companion("fhirip.subscriptions.deliverer", [], url_variable=_URL_VARIABLE, url=url)


def deliver_forever(url: str, parent_pid: int) -> None:
    from fhirip.bootstrap import build_services
    from fhirip.config import Settings
    from fhirip.heap import settle_heap

    # The deliverer's reads are audited through a journal thread of its own, not another process.
    settings = Settings.from_env(database_url=url, audit_mover="thread")
    services = build_services(settings, migrate=False)
    settle_heap()
    deliverer = Deliverer(services)
    purged_at = 0.0
    try:
        while os.getppid() == parent_pid:  # a deliverer outlives no server
            try:
                if time.monotonic() - purged_at > PURGE_SECONDS:
                    purged_at = time.monotonic()
                    deliverer.purge()
                sent = deliverer.round()
            except Exception:  # noqa: BLE001 - the database may be restarting: the next round retries
                _LOG.exception("a delivery round failed")
                sent = 0
            if not sent:
                time.sleep(POLL_SECONDS)
    finally:
        deliverer.close()
        services.audit_trail.close()
        services.store.dispose()


def main(argv: list[str]) -> int:
    """`python -m fhirip.subscriptions.deliverer PARENT_PID`, the database URL in the environment."""
    stop_on_signals()
    logging.basicConfig(level=logging.WARNING)
    try:
        deliver_forever(os.environ[_URL_VARIABLE], int(argv[0]))
    except Stopped:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
