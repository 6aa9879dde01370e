"""Cases: start one, read them, deliver a message to one, cancel one."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..calendar import utc_now
from ..errors import Conflict, NotFound, ValidationFailed
from ..facts import case_facts, repeated_case, section
from ..identity import SYSTEM, Actor
from ..projection import add_event, apply_act, record_cancel, record_start
from ..runtime import CaseRuntime, NotWaiting
from ..store.models import ACTIVE_STATUSES, Case, CaseEvent, Counter, IdempotencyKey
from ..store.prepared import Prepared
from ..store.queries import case_by_id, case_with_open_tasks
from .batches import form_batch, lock_issue
from .context import EngineContext, PageRequest, acting, lock_case, paged, require_groups
from .links import add_link
from .ownership import owner_at_intake
from .privacy import OVERSEERS, cases_worked_by, integration_only, masked, sees_case_whole
from .views import case_summary, case_view, current_steps, customer_name, local_times, step_view

STARTERS = ("agents", "integrations", "supervisors")
MESSENGERS = ("agents", "integrations", "supervisors")
CANCELLERS = ("supervisors",)
CASE_STATUSES = ("running", "completed", "cancelled", "error")
# The service's own numbering (`TS-YYYYMMDD-NNNNNN`, and longer sequences past a million a day).
# Clients may not send a key of this form, so a generated key never meets a given one.
OWN_KEY_FORMAT = re.compile(r"\s*TS-\d{8}-\d+\s*", re.IGNORECASE)
# Statuses whose business key stays taken: every case but a cancelled one (cancelling frees it).
KEY_HOLDING_STATUSES = ("running", "error", "completed")
MAX_SEARCH_WORDS = 5


def searched() -> list:
    """What `GET /cases?q=` searches: business key, customer id, name, phone, serial, problem."""
    return [
        Case.business_key,
        Case.customer_id,
        Case.data["customer"]["name"].as_string(),
        Case.data["customer"]["phone"].as_string(),
        Case.data["product"]["serial"].as_string(),
        Case.data["problem"]["description"].as_string(),
    ]


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
_NEXT_COUNTER = {False: Prepared(_next_counter(sqlite_insert)), True: Prepared(_next_counter(pg_insert))}
_KEY_HOLDER = Prepared(select(Case.id).where(Case.business_key == bindparam("key")).limit(1))


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
        if business_key is not None and OWN_KEY_FORMAT.fullmatch(business_key):
            raise ValidationFailed(
                "business keys of the service's own format are generated, not given",
                {"business_key": ["TS-YYYYMMDD-NNNNNN is the service's own numbering; send a key of yours"]},
            )
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
        return case_view(self.ctx, session, session.get_one(Case, record.case_id))

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
            callers = ", ".join(sorted(self.ctx.definitions.callers(session).get(process_key, [])))
            if callers:
                message = f"'{process_key}' is only ever called by {callers}; start that instead"
                raise ValidationFailed("this process cannot be started directly", {"process": [message]})
            data = json.loads(json.dumps(data))
            owner = owner_at_intake(self.ctx, actor, data)
            data = definition.form_data(
                definition.start_form_file, data, "the case data does not match the start form"
            )
            now = utc_now()
            # DOMAIN §6: 三包 days are counted to the day of receipt; a purchase after it is invalid.
            product = section(data, "product")
            purchased = product.get("purchase_date")
            if isinstance(purchased, str) and purchased > self.ctx.local(now).date().isoformat():
                raise ValidationFailed(
                    "the case data does not match the start form",
                    {"product.purchase_date": ["is after the day the complaint is received"]},
                )
            # Before the day's key counter: a start that forms a batch takes the counter too.
            problem = section(data, "problem")
            lock_issue(session, process_key, problem.get("issue_code"))
            if business_key:
                self._check_business_key_free(session, process_key, business_key)
            else:
                business_key = self._next_business_key(session, now)

            case_id = str(uuid.uuid4())
            repeated = repeated_case(session, process_key, data, now)
            # System fields last: case data from a client can never replace them.
            initial = dict(data)
            initial.update(
                {
                    "case_id": case_id,
                    "business_key": business_key,
                    "received_at": self.ctx.local(now).isoformat(timespec="seconds"),
                    "first_contact_owner": owner,
                    "facts": case_facts(session, process_key, data, now),
                }
            )
            runtime = CaseRuntime.start(definition, self.ctx.script_engine, initial)
            case = record_start(
                session,
                case_id=case_id,
                process_key=process_key,
                definition_id=definition.id,
                version=definition.version,
                business_key=business_key,
                actor=actor,
                now=now,
                data=initial,
            )
            if repeated is not None:
                add_link(session, case_id, repeated[0], "repeat_of", now)
            # A new case has no task rows yet: nothing to read back.
            open_tasks = apply_act(session, case, runtime, actor, now, self.ctx.directory, open_rows=[])
            if "batch" in (case.data.get("urgent_kinds") or []):
                form_batch(self.ctx, session, case, now)
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
            # Written at commit, in one batch; a key taken meanwhile fails there, inside the act.
            return case_view(self.ctx, session, case, open_tasks), True

    @staticmethod
    def _check_business_key_free(session: Session, process_key: str, business_key: str) -> None:
        """A given key names one complaint: refused while a case holds it, finished ones included.

        The partial unique index on live cases closes the race between two starts; a finished
        case cannot become live again, so reading it here is enough for those.
        """
        taken = session.execute(
            select(Case.status).where(
                Case.process_key == process_key,
                Case.business_key == business_key,
                Case.status.in_(KEY_HOLDING_STATUSES),
            )
        ).first()
        if taken is not None:
            raise Conflict(f"a {taken[0]} case of '{process_key}' already has business key {business_key}")

    def _next_business_key(self, session: Session, now) -> str:
        """`TS-<local date>-<daily sequence>`, e.g. TS-20261122-000123 (atomic on both databases).

        Clients cannot send keys of this form; a number some case already holds anyway (one
        given before that rule, or a day's counter reset by hand) is skipped, never reused.
        """
        while True:
            key = self._next_number(session, now)
            if not _KEY_HOLDER.rows(session.connection(), {"key": key}):
                return key

    def _next_number(self, session: Session, now) -> str:
        day = self.ctx.local(now).strftime("%Y%m%d")
        name = f"business_key:{day}"
        connection = session.connection()
        statement = _NEXT_COUNTER[connection.dialect.name == "postgresql"]
        value = statement.rows(connection, {"name": name})[0]["value"]
        return f"TS-{day}-{value:06d}"

    # ---- read
    def _readable(self, session: Session, actor: Actor, case_id: str) -> Case:
        """The case, if the actor may read it at all: an integration only the cases it started."""
        return self._checked_readable(actor, case_id, case_by_id(session, case_id))

    @staticmethod
    def _checked_readable(actor: Actor, case_id: str, case: Case | None) -> Case:
        if case is None or (integration_only(actor) and case.created_by != actor.username):
            raise NotFound(f"no case {case_id}")
        return case

    def _access(self, session: Session, actor: Actor, case: Case) -> tuple[bool, bool]:
        """(whole, recorded): may the actor see the case whole, and must the read be recorded."""
        if case.id in cases_worked_by(session, actor, [case]):
            return True, False
        if actor.in_any(*OVERSEERS) and actor.username != SYSTEM.username:
            return True, True
        return False, False

    def _record_read(self, actor: Actor, case_id: str) -> None:
        """A supervisor's or admin's read of a case they do not work, in its audit trail."""
        with acting(self.ctx) as uow:
            add_event(
                uow.session,
                case_id,
                utc_now(),
                actor,
                "case_viewed",
                detail={"reason": "opened by a supervisor or admin who does not work the case"},
            )

    def readable(self, actor: Actor, case_id: str) -> None:
        """Raise NotFound unless the actor may read the case (for reads served by other services)."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            self._readable(uow.session, actor, case_id)

    def get(self, actor: Actor, case_id: str) -> dict:
        """The case, whole for those who work it, masked for others (DOMAIN §8)."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            found, open_tasks = case_with_open_tasks(uow.session, case_id)
            case = self._checked_readable(actor, case_id, found)
            whole, record = self._access(uow.session, actor, case)
            view = case_view(self.ctx, uow.session, case, open_tasks, whole=whole)
        if record:
            self._record_read(actor, case_id)
        return view

    def list(
        self,
        actor: Actor,
        page: PageRequest,
        process: str | None = None,
        status: str | None = None,
        business_key: str | None = None,
        customer_id: str | None = None,
        priority: str | None = None,
        q: str | None = None,
    ) -> dict:
        """Case summaries, newest first; `q` searches the columns of `searched()`, every word.

        Each summary carries the customer's name (masked for those who do not work the case), the
        current step and its due time. An integration lists only the cases it started.
        """
        query = select(Case)
        if integration_only(actor):
            query = query.where(Case.created_by == actor.username)
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
        for word in (q or "").split()[:MAX_SEARCH_WORDS]:
            query = query.where(or_(*(column.icontains(word, autoescape=True) for column in searched())))
        query = query.order_by(Case.created_at.desc(), Case.id)
        with self.ctx.db.unit_of_work(write=False) as uow:
            session = uow.session
            result = paged(session, query, page, lambda case: case)
            cases = result["items"]
            worked = cases_worked_by(session, actor, cases)
            steps = current_steps(session, [c.id for c in cases])
            items = []
            for case in cases:
                item = case_summary(
                    self.ctx, case, self.ctx.definitions.version_of(session, case.definition_id)
                )
                item["customer_name"] = customer_name(case, case.id in worked)
                item["current_step"] = step_view(self.ctx, steps.get(case.id))
                items.append(item)
            result["items"] = items
            return result

    def events(self, actor: Actor, case_id: str, page: PageRequest) -> dict:
        """The audit trail; personal data in event details is masked for those who do not work
        the case (supervisors and admins included: they open the case itself to see it whole)."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            case = self._readable(uow.session, actor, case_id)
            whole = case.id in cases_worked_by(uow.session, actor, [case])
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
                    "detail": local_times(self.ctx, e.detail if whole else masked(e.detail)),
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
                runtime.deliver_message(name, data, case_data=case.data)
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
            # The sender learns what the message did, but sees the customer as a reader would.
            whole = sees_case_whole(uow.session, actor, case)
            return case_view(self.ctx, uow.session, case, open_tasks, whole=whole)

    def cancel(self, actor: Actor, case_id: str, reason: str) -> dict:
        require_groups(actor, *CANCELLERS)
        with acting(self.ctx) as uow:
            case = lock_case(uow, case_id)
            if case.status not in ACTIVE_STATUSES:
                raise Conflict(f"the case is already {case.status}")
            runtime = self.ctx.runtime_of(uow.session, case)
            runtime.cancel()
            record_cancel(uow.session, case, runtime, actor, utc_now(), reason)
            return case_view(self.ctx, uow.session, case)
