"""Firing due BPMN timers, exactly once, whichever worker gets there first.

Every save stores the case's earliest pending timer in the indexed `cases.next_timer_at`. A worker
claims a batch of due cases in one transaction: on PostgreSQL with `FOR UPDATE SKIP LOCKED` (cases
another worker holds are skipped, not waited for), on SQLite under `BEGIN IMMEDIATE`. It fires them
and saves; the `revision` guard catches anything that slipped past. If a case fails, the batch is
fired again one case at a time: the failing case is recorded as an error and retried with
backoff (unless its failure is one that repeats: a sandbox limit); it never blocks the others.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from sqlalchemy import func, select, text

from .. import sandbox
from ..calendar import utc_now
from ..identity import SYSTEM
from ..metrics import Metrics
from ..projection import add_event, apply_act, open_task_rows, record_error
from ..runtime import CaseRuntime
from ..sandbox import act_budget
from ..store.models import LIVE_CASE, Case, HumanTask
from .context import EngineContext

log = logging.getLogger(__name__)

BATCH = 100
# Cases claimed and fired in one transaction.
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
                    .where(Case.next_timer_at <= now, text(LIVE_CASE))
                    .order_by(Case.next_timer_at)
                    .limit(limit)
                ).scalars()
            )

    def next_due(self) -> datetime | None:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return uow.session.execute(select(func.min(Case.next_timer_at)).where(text(LIVE_CASE))).scalar()

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
        """Claim up to `size` due cases and fire them in one transaction (stopping early once
        the batch has run for one act's budget; the rest are fired by the next batch).

        If any case fails, the batch is undone and fired again one case per transaction, so the
        failing case is recorded and the others go through (failures are rare; savepoints for
        every case would cost more than this).
        """
        claimed: list[str] = []
        observed: list[tuple[CaseRuntime, datetime]] = []
        try:
            with self.ctx.db.unit_of_work(write=True) as uow:
                cases = self._claim(uow.session, size)
                if not cases:
                    return 0
                open_rows = open_task_rows(uow.session, [case.id for case in cases])
                started = time.monotonic()
                for case in cases:
                    if claimed and time.monotonic() - started > sandbox.SCRIPT_TIME_LIMIT_S:
                        # A batch keeps its transaction (on SQLite, the one writer) no longer than
                        # one act's budget: cases whose code is slow wait for the next batch.
                        break
                    claimed.append(case.id)
                    runtime = self._fire_case(uow.session, case, utc_now(), open_rows[case.id])
                    observed.append((runtime, utc_now()))
        except Exception:
            log.warning("a case failed in a batch of %d; firing them one by one", len(claimed))
            return sum(self._fire_one(case_id) for case_id in claimed)
        for runtime, at in observed:
            self._observe(runtime, at)
        return len(claimed)

    def _claim(self, session, size: int, case_id: str | None = None) -> list[Case]:
        now = utc_now()
        query = select(Case).where(Case.next_timer_at <= now, text(LIVE_CASE))
        if case_id is not None:
            query = query.where(Case.id == case_id)
        query = query.order_by(Case.next_timer_at).limit(size)
        if not self.ctx.db.is_sqlite:
            # Another worker's cases are skipped, not waited for: no timer fires twice.
            query = query.with_for_update(skip_locked=True)
        return list(session.execute(query).scalars())

    def _fire_one(self, case_id: str) -> int:
        try:
            with self.ctx.db.unit_of_work(write=True) as uow:
                cases = self._claim(uow.session, 1, case_id)
                runtime = self._fire_case(uow.session, cases[0], utc_now()) if cases else None
        except Exception as error:
            log.exception("timers of case %s failed", case_id)
            self.metrics.timer_failures.inc()
            with self.ctx.db.unit_of_work(write=True) as uow:
                self._record_failure(uow.session, case_id, error)
            return 1
        if runtime is None:
            return 0
        self._observe(runtime, utc_now())
        return 1

    def _fire_case(
        self, session, case: Case, now: datetime, open_rows: list[HumanTask] | None = None
    ) -> CaseRuntime:
        runtime = self.ctx.runtime_of(session, case)
        with act_budget():  # the retry and the timers are one act, with one budget
            self._run_timers(session, case, runtime, now)
        apply_act(session, case, runtime, SYSTEM, now, self.ctx.directory, open_rows)
        return runtime

    def _run_timers(self, session, case: Case, runtime: CaseRuntime, now: datetime) -> None:
        if case.status == "error":
            add_event(
                session, case.id, now, SYSTEM, "case_retried", detail={"attempt": case.timer_failures + 1}
            )
            runtime.retry()
        runtime.fire_timers()

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
        detail = {"message": f"{type(error).__name__}: {error}", "element_id": None}
        record_error(session, case, SYSTEM, utc_now(), detail)

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
