"""Firing due BPMN timers, exactly once, whichever worker gets there first.

Every save stores the case's earliest pending timer in the indexed `cases.next_timer_at`. A worker
claims a batch of due cases in one transaction: on PostgreSQL with `FOR UPDATE SKIP LOCKED` (cases
another worker holds are skipped, not waited for), on SQLite under `BEGIN IMMEDIATE`. It fires
each inside a savepoint and saves; the `revision` guard catches anything that slipped past. A case
that fails is rolled back to its savepoint, recorded as an error and retried with backoff; it
never blocks the others.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from sqlalchemy import func, select

from ..calendar import utc_now
from ..identity import SYSTEM
from ..metrics import Metrics
from ..projection import add_event, apply_act, schedule_retry
from ..runtime import CaseRuntime
from ..store.models import Case
from .common import EngineContext

log = logging.getLogger(__name__)

DUE_STATUSES = ("running", "error")
BATCH = 100
# Cases claimed and fired in one transaction (a savepoint each).
CLAIM = 20
MAX_WAIT_SECONDS = 1.0
# Wake a little after a due time: SpiffWorkflow fires a timer only once now is past it.
WAKE_MARGIN = timedelta(milliseconds=5)


class TimerService:
    def __init__(self, ctx: EngineContext, metrics: Metrics):
        self.ctx = ctx
        self.metrics = metrics
        self.wakeup = threading.Event()

    def due_case_ids(self, now: datetime, limit: int = BATCH) -> list[str]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return list(
                uow.session.execute(
                    select(Case.id)
                    .where(Case.next_timer_at <= now, Case.status.in_(DUE_STATUSES))
                    .order_by(Case.next_timer_at)
                    .limit(limit)
                ).scalars()
            )

    def next_due(self) -> datetime | None:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return uow.session.execute(
                select(func.min(Case.next_timer_at)).where(Case.status.in_(DUE_STATUSES))
            ).scalar()

    def fire_due(self, limit: int = BATCH) -> int:
        """Fire the timers of up to `limit` due cases, a claimed batch per transaction.

        Returns how many cases were run (a case that failed counts; it is recorded and retried).
        """
        ran = 0
        while ran < limit:
            fired = self._fire_batch(min(CLAIM, limit - ran))
            if fired == 0:
                break
            ran += fired
        return ran

    def _fire_batch(self, size: int) -> int:
        """Claim up to `size` due cases and fire each; a failing case does not undo the others."""
        observed: list[tuple[CaseRuntime, datetime]] = []
        with self.ctx.db.unit_of_work(write=True) as uow:
            session = uow.session
            now = utc_now()
            query = (
                select(Case)
                .where(Case.next_timer_at <= now, Case.status.in_(DUE_STATUSES))
                .order_by(Case.next_timer_at)
                .limit(size)
            )
            if not self.ctx.db.is_sqlite:
                # Another worker's cases are skipped, not waited for: no timer fires twice.
                query = query.with_for_update(skip_locked=True)
            cases = list(session.execute(query).scalars())
            for case in cases:
                case_id = case.id
                try:
                    with session.begin_nested():
                        observed.append((self._fire_case(session, case, utc_now()), utc_now()))
                except Exception as error:  # one broken case must not stop the others
                    log.exception("timers of case %s failed", case_id)
                    self.metrics.timer_failures.inc()
                    self._record_failure(session, case_id, error)
        for runtime, at in observed:
            self._observe(runtime, at)
        return len(cases)

    def _fire_case(self, session, case: Case, now: datetime) -> CaseRuntime:
        runtime = self.ctx.runtime_of(session, case)
        if case.status == "error":
            add_event(
                session, case.id, now, SYSTEM, "case_retried", detail={"attempt": case.timer_failures + 1}
            )
            runtime.retry()
        runtime.fire_timers()
        apply_act(session, case, runtime, SYSTEM, now, self.ctx.directory)
        session.flush()
        return runtime

    def _observe(self, runtime: CaseRuntime, now: datetime) -> None:
        for timer in runtime.log.timers_fired:
            self.metrics.timers_fired.inc()
            if timer.due:
                due = TimerEventDefinition.get_datetime(timer.due)
                self.metrics.timer_lateness.observe(max(0.0, (now - due).total_seconds()))
        for clock in runtime.breached_clocks():
            self.metrics.sla_breaches.labels(clock).inc()

    def _record_failure(self, session, case_id: str, error: Exception) -> None:
        case = session.get(Case, case_id, populate_existing=True)
        if case is None:
            return
        now = utc_now()
        detail = {"message": f"{type(error).__name__}: {error}", "element_id": None}
        case.status = "error"
        case.error = {**detail, "at": now.isoformat()}
        schedule_retry(case, now)
        add_event(session, case.id, now, SYSTEM, "case_error", detail=detail)

    def run(self, stop: threading.Event) -> None:
        """Fire timers until `stop` is set, sleeping until the next due time (at most 1 s)."""
        while not stop.is_set():
            try:
                if self.fire_due():
                    continue
                due = self.next_due()
            except Exception:
                log.exception("timer worker: database error; retrying in a second")
                due = None
            wait = MAX_WAIT_SECONDS
            if due is not None:
                wait = min(MAX_WAIT_SECONDS, max(0.0, (due + WAKE_MARGIN - utc_now()).total_seconds()))
            if self.wakeup.wait(wait):
                self.wakeup.clear()


class WorkerThread:
    """The timer worker inside `serve`: a daemon thread with a stop handle."""

    def __init__(self, timers: TimerService):
        self.stop_event = threading.Event()
        self.thread = threading.Thread(
            target=timers.run, args=(self.stop_event,), name="timer-worker", daemon=True
        )
        self.timers = timers
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.timers.wakeup.set()
        self.thread.join(timeout=10)
