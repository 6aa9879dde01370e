"""Cases: start one, read them, deliver a message to one, cancel one."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..calendar import utc_now
from ..errors import Conflict, NotFound, ValidationFailed
from ..facts import case_facts
from ..forms import apply_defaults, field_errors
from ..identity import Actor
from ..projection import add_event, apply_act
from ..runtime import CaseRuntime, NotWaiting
from ..store.models import ACTIVE_STATUSES, Case, CaseEvent, Counter, HumanTask, IdempotencyKey
from .common import (
    EngineContext,
    PageRequest,
    acting,
    case_summary,
    case_view,
    lock_case,
    paged,
    require_groups,
)

STARTERS = ("agents", "integrations", "supervisors")
MESSENGERS = ("agents", "integrations", "supervisors")
CANCELLERS = ("supervisors",)
CASE_STATUSES = ("running", "completed", "cancelled", "error")


def _request_digest(process_key: str, business_key: str | None, data: dict) -> str:
    text = json.dumps([process_key, business_key, data], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _next_counter(insert) -> Any:
    """Add one to a named counter, creating it at 1, and return the new value (one statement)."""
    return (
        insert(Counter)
        .values(name=bindparam("name"), value=1)
        .on_conflict_do_update(index_elements=[Counter.name], set_={"value": Counter.value + 1})
        .returning(Counter.value)
    )


# Built once per dialect (False: SQLite, True: PostgreSQL), not on every start.
_NEXT_COUNTER = {False: _next_counter(sqlite_insert), True: _next_counter(pg_insert)}


class CaseService:
    def __init__(self, ctx: EngineContext):
        self.ctx = ctx

    # ---- start
    def start(
        self,
        actor: Actor,
        process_key: str,
        data: dict[str, Any],
        business_key: str | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[dict, bool]:
        """Start a case; returns (case, created). The same Idempotency-Key again returns the first case."""
        require_groups(actor, *STARTERS)
        digest = _request_digest(process_key, business_key, data)
        try:
            return self._start(actor, process_key, data, business_key, idempotency_key, digest)
        except Conflict:
            # A concurrent request with the same Idempotency-Key may have won the race.
            if idempotency_key:
                with self.ctx.db.unit_of_work(write=False) as uow:
                    existing = self._replay(uow.session, actor, idempotency_key, digest)
                    if existing is not None:
                        return existing, False
            raise

    def _replay(self, session: Session, actor: Actor, key: str, digest: str) -> dict | None:
        record = session.get(IdempotencyKey, (actor.username, key))
        if record is None:
            return None
        if record.request_sha256 != digest:
            raise Conflict("this Idempotency-Key was already used for a different request")
        return case_view(self.ctx, session, session.get(Case, record.case_id))

    def _start(self, actor, process_key, data, business_key, idempotency_key, digest):
        with acting(self.ctx) as uow:
            session = uow.session
            if idempotency_key:
                existing = self._replay(session, actor, idempotency_key, digest)
                if existing is not None:
                    return existing, False
            definition = self.ctx.definitions.latest_loaded(session, process_key)
            if definition is None:
                raise NotFound(f"no process '{process_key}' is deployed")
            data = json.loads(json.dumps(data))
            start_form = definition.form(definition.start_form_file)
            if start_form is not None:
                apply_defaults(start_form, data)
            validator = definition.validator(definition.start_form_file)
            if validator is not None:
                errors = field_errors(validator, data)
                if errors:
                    raise ValidationFailed("the case data does not match the start form", errors)
            now = utc_now()
            # DOMAIN §6: 三包 days are counted to the day of receipt; a purchase after it is invalid.
            product = data.get("product") if isinstance(data.get("product"), dict) else {}
            purchased = product.get("purchase_date")
            if isinstance(purchased, str) and purchased > self.ctx.local(now).date().isoformat():
                raise ValidationFailed(
                    "the case data does not match the start form",
                    {"product.purchase_date": ["is after the day the complaint is received"]},
                )
            if business_key:
                self._check_business_key_free(session, process_key, business_key)
            else:
                business_key = self._next_business_key(session, now)

            case_id = str(uuid.uuid4())
            # System fields last: case data from a client can never replace them.
            initial = dict(data)
            initial.update(
                {
                    "case_id": case_id,
                    "business_key": business_key,
                    "received_at": self.ctx.local(now).isoformat(timespec="seconds"),
                    "first_contact_owner": actor.username,
                    "facts": case_facts(session, process_key, data, now),
                }
            )
            runtime = CaseRuntime.start(definition, self.ctx.script_engine, initial)
            case = Case(
                id=case_id,
                process_key=process_key,
                definition_id=definition.id,
                business_key=business_key,
                status="running",
                created_by=actor.username,
                created_at=now,
                updated_at=now,
                data=initial,
                timers=[],
                timer_failures=0,
            )
            session.add(case)
            add_event(
                session,
                case_id,
                now,
                actor,
                "case_started",
                detail={
                    "process": process_key,
                    "version": definition.version,
                    "business_key": business_key,
                },
            )
            # A new case has no task rows yet: nothing to read back.
            open_tasks = apply_act(session, case, runtime, actor, now, self.ctx.directory, open_rows=[])
            if idempotency_key:
                session.add(
                    IdempotencyKey(
                        username=actor.username,
                        key=idempotency_key,
                        request_sha256=digest,
                        case_id=case_id,
                        created_at=now,
                    )
                )
            session.flush()
            return case_view(self.ctx, session, case, open_tasks), True

    @staticmethod
    def _check_business_key_free(session: Session, process_key: str, business_key: str) -> None:
        taken = session.execute(
            select(Case.id).where(
                Case.process_key == process_key,
                Case.business_key == business_key,
                Case.status.in_(ACTIVE_STATUSES),
            )
        ).first()
        if taken is not None:
            raise Conflict(f"an active case of '{process_key}' already has business key {business_key}")

    def _next_business_key(self, session: Session, now) -> str:
        """`TS-<local date>-<daily sequence>`, e.g. TS-20261122-000123 (atomic on both databases)."""
        day = self.ctx.local(now).strftime("%Y%m%d")
        name = f"business_key:{day}"
        statement = _NEXT_COUNTER[session.get_bind().dialect.name == "postgresql"]
        value = session.execute(statement, {"name": name}).scalar_one()
        return f"TS-{day}-{value:06d}"

    # ---- read
    def get(self, actor: Actor, case_id: str) -> dict:
        with self.ctx.db.unit_of_work(write=False) as uow:
            case = uow.session.get(Case, case_id)
            if case is None:
                raise NotFound(f"no case {case_id}")
            return case_view(self.ctx, uow.session, case)

    def list(
        self,
        actor: Actor,
        page: PageRequest,
        process: str | None = None,
        status: str | None = None,
        business_key: str | None = None,
        customer_id: str | None = None,
        priority: str | None = None,
    ) -> dict:
        query = select(Case)
        if process:
            query = query.where(Case.process_key == process)
        if status:
            query = query.where(Case.status == status)
        if business_key:
            query = query.where(Case.business_key == business_key)
        if customer_id:
            query = query.where(Case.customer_id == customer_id)
        if priority:
            query = query.where(Case.priority == priority)
        query = query.order_by(Case.created_at.desc(), Case.id)
        with self.ctx.db.unit_of_work(write=False) as uow:
            version_of = self.ctx.definitions.version_of
            return paged(
                uow.session,
                query,
                page,
                lambda case: case_summary(self.ctx, case, version_of(uow.session, case.definition_id)),
            )

    def events(self, actor: Actor, case_id: str, page: PageRequest) -> dict:
        with self.ctx.db.unit_of_work(write=False) as uow:
            if uow.session.get(Case, case_id) is None:
                raise NotFound(f"no case {case_id}")
            query = select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
            return paged(
                uow.session,
                query,
                page,
                lambda e: {
                    "at": self.ctx.local(e.at),
                    "actor": e.actor,
                    "type": e.type,
                    "task_id": e.task_id,
                    "detail": e.detail,
                },
            )

    # ---- acts
    def deliver_message(self, actor: Actor, case_id: str, name: str, data: dict) -> dict:
        require_groups(actor, *MESSENGERS)
        with acting(self.ctx) as uow:
            case = lock_case(uow, case_id)
            if case.status != "running":
                raise Conflict(f"the case is {case.status}; it takes no messages")
            runtime = self.ctx.runtime_of(uow.session, case)
            try:
                runtime.deliver_message(name, data)
            except NotWaiting:
                raise Conflict(f"the case is not waiting for the message '{name}'") from None
            now = utc_now()
            add_event(
                uow.session,
                case.id,
                now,
                actor,
                "message_received",
                detail={"name": name, "data": data},
            )
            open_tasks = apply_act(uow.session, case, runtime, actor, now, self.ctx.directory)
            return case_view(self.ctx, uow.session, case, open_tasks)

    def cancel(self, actor: Actor, case_id: str, reason: str) -> dict:
        require_groups(actor, *CANCELLERS)
        with acting(self.ctx) as uow:
            case = lock_case(uow, case_id)
            if case.status not in ACTIVE_STATUSES:
                raise Conflict(f"the case is already {case.status}")
            runtime = self.ctx.runtime_of(uow.session, case)
            runtime.cancel()
            now = utc_now()
            for task in uow.session.execute(
                select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.status == "open")
            ).scalars():
                task.status = "cancelled"
                task.completed_at = now
            case.status = "cancelled"
            case.ended_at = now
            case.updated_at = now
            case.next_timer_at = None
            case.timers = []
            case.state = runtime.dump()
            add_event(uow.session, case.id, now, actor, "case_cancelled", detail={"reason": reason})
            return case_view(self.ctx, uow.session, case)
