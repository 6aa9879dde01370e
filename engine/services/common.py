"""What every service shares: the engine context, paging, views of rows, and the act transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, overload

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from ..calendar import WorkingCalendar
from ..definitions.repository import DefinitionRepository, LoadedDefinition
from ..errors import Conflict, Forbidden, NotFound
from ..identity import Actor, Directory
from ..runtime import CaseRuntime
from ..sandbox import SandboxScriptEngine
from ..store.db import Database, UnitOfWork
from ..store.models import Case, Escalation, HumanTask
from .links import links_of

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_PER_PAGE = 200


@dataclass
class EngineContext:
    """The parts every service needs; built once by `Engine`."""

    db: Database
    definitions: DefinitionRepository
    calendar: WorkingCalendar
    script_engine: SandboxScriptEngine
    # Known users, for tasks that go straight to a named person (`assigneeField`).
    directory: Directory | None = None

    @overload
    def local(self, moment: datetime) -> datetime: ...

    @overload
    def local(self, moment: None) -> None: ...

    @overload
    def local(self, moment: datetime | None) -> datetime | None: ...

    def local(self, moment: datetime | None) -> datetime | None:
        """A stored UTC moment in the service's timezone, for display."""
        return moment.astimezone(self.calendar.tz) if moment is not None else None

    def definition_of(self, session: Session, case: Case) -> LoadedDefinition:
        return self.definitions.load_id(session, case.definition_id)

    def runtime_of(self, session: Session, case: Case) -> CaseRuntime:
        return CaseRuntime.load(self.definition_of(session, case), self.script_engine, case.state)


@dataclass(frozen=True)
class PageRequest:
    page: int = 1
    per_page: int = 50

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def clamp(self) -> PageRequest:
        return PageRequest(max(1, self.page), min(max(1, self.per_page), MAX_PER_PAGE))


def paged(session: Session, query, page: PageRequest, view: Callable[[Any], dict]) -> dict:
    """Run a select as one page of `{"items", "page", "per_page", "total"}`."""
    page = page.clamp()
    rows = session.execute(query.limit(page.per_page).offset(page.offset)).scalars().all()
    if 0 < len(rows) < page.per_page or (not rows and page.offset == 0):
        # The last page (or no rows at all): the total is known without counting.
        total = page.offset + len(rows)
    else:
        total = session.execute(
            select(func.count()).select_from(query.order_by(None).subquery())
        ).scalar_one()
    return {
        "items": [view(r) for r in rows],
        "page": page.page,
        "per_page": page.per_page,
        "total": total,
    }


@dataclass(frozen=True)
class PagedStatement:
    """A list query built once: its page (LIMIT and OFFSET bound) and its count, same filters.

    A statement object built once keeps its compiled form's cache key; one built per request
    is walked again each time to find it. Values go in as bound parameters.
    """

    rows: Any
    count: Any
    # True: the query selects one ORM entity (objects); False: columns (rows, read by name).
    entities: bool = True

    @classmethod
    def of(cls, query, entities: bool = True) -> PagedStatement:
        return cls(
            rows=query.limit(bindparam("page_limit")).offset(bindparam("page_offset")),
            count=select(func.count()).select_from(query.order_by(None).subquery()),
            entities=entities,
        )


def paged_statement(
    session: Session, statement: PagedStatement, params: dict[str, Any], page: PageRequest, view
) -> dict:
    """`paged` for a statement built once (`PagedStatement`), with its parameters."""
    page = page.clamp()
    bound = {**params, "page_limit": page.per_page, "page_offset": page.offset}
    result = session.execute(statement.rows, bound)
    rows = result.scalars().all() if statement.entities else result.all()
    if 0 < len(rows) < page.per_page or (not rows and page.offset == 0):
        total = page.offset + len(rows)
    else:
        total = session.execute(statement.count, params).scalar_one()
    return {
        "items": [view(r) for r in rows],
        "page": page.page,
        "per_page": page.per_page,
        "total": total,
    }


def require_groups(actor: Actor, *groups: str) -> None:
    if not actor.in_any(*groups, "admins"):
        raise Forbidden(f"this needs one of the groups: {', '.join(groups)}")


@contextmanager
def acting(ctx: EngineContext) -> Iterator[UnitOfWork]:
    """A write transaction for one act; a concurrent change to the same case becomes a 409."""
    try:
        with ctx.db.unit_of_work(write=True) as uow:
            yield uow
    except StaleDataError:
        raise Conflict("the case was changed by someone else at the same moment; try again") from None
    except IntegrityError as error:
        log.info("integrity error during an act: %s", error.orig)
        raise Conflict("a concurrent request made the same change; try again") from None


def lock_case(uow: UnitOfWork, case_id: str) -> Case:
    case = uow.lock_case(case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


# ---- views: rows → the dictionaries of the public contract


def task_view(ctx: EngineContext, row: HumanTask, definition: LoadedDefinition | None = None) -> dict:
    view: dict[str, Any] = {
        "id": row.id,
        "case_id": row.case_id,
        "name": row.name,
        "element_id": row.element_id,
        "lane": row.lane,
        "candidate_group": row.candidate_group,
        "assignee": row.assignee,
        "status": row.status,
        "created_at": ctx.local(row.created_at),
        "due_at": ctx.local(row.due_at),
        "completed_at": ctx.local(row.completed_at),
        "completed_by": row.completed_by,
        "is_approval": row.is_approval,
    }
    if definition is not None:
        view["form"] = {
            "schema": definition.form(row.form_file) or {"type": "object"},
            "ui_schema": definition.form(row.ui_form_file) or {},
        }
        view["data"] = row.data
    return view


def case_summary(ctx: EngineContext, case: Case, version: int | None = None) -> dict:
    return {
        "id": case.id,
        "business_key": case.business_key,
        "process": case.process_key,
        "version": version,
        "status": case.status,
        "priority": case.priority,
        "customer_id": case.customer_id,
        "issue_code": case.issue_code,
        "created_at": ctx.local(case.created_at),
        "updated_at": ctx.local(case.updated_at),
    }


# Built once (see PagedStatement): the open tasks a case view lists, oldest first.
_OPEN_TASKS_OF_CASE = (
    select(HumanTask)
    .where(HumanTask.case_id == bindparam("case_id"), HumanTask.status == "open")
    .order_by(HumanTask.created_at, HumanTask.id)
)


def case_view(
    ctx: EngineContext,
    session: Session,
    case: Case,
    open_tasks: list[HumanTask] | None = None,
    whole: bool = True,
) -> dict:
    """The case as the API returns it; pass `open_tasks` when the act just produced them.

    `whole=False` masks the personal fields (DOMAIN §8) for a reader who does not work the case.
    """
    if open_tasks is None:
        open_tasks = list(session.execute(_OPEN_TASKS_OF_CASE, {"case_id": case.id}).scalars())
    escalations: Iterable[Escalation] = ()
    if case.escalated:
        escalations = session.execute(
            select(Escalation).where(Escalation.case_id == case.id).order_by(Escalation.id)
        ).scalars()
    view = case_summary(ctx, case, ctx.definitions.version_of(session, case.definition_id))
    far = datetime.max.replace(tzinfo=UTC)
    first_due = min(open_tasks, key=lambda t: (t.due_at or far, t.created_at, t.id), default=None)
    view.update(
        {
            "customer_name": customer_name(case, whole),
            "current_step": step_view(ctx, first_due),
            "data": case.data if whole else masked(case.data),
            "tasks": [task_view(ctx, t) for t in open_tasks],
            "timers": [
                {"name": t["name"], "due_at": ctx.local(datetime.fromisoformat(t["due_at"]))}
                for t in case.timers or []
            ],
            "escalations": [
                {"clock": e.clock, "at": ctx.local(e.at), "name": (e.detail or {}).get("name")}
                for e in escalations
            ],
            "error": local_times(ctx, case.error),
            "links": links_of(session, case.id) if case.linked else [],
        }
    )
    return view


# ---- personal data (DOMAIN §8): who sees a case whole, and what the others see

# The personal fields of case data, by kind. Keys are compared in lower case. Inside the
# `customer` object: these names; anywhere in the data: a key ending in one of PERSONAL_SUFFIXES
# (`contact_phone`, `delivery_address`, ...). The customer's id, the product and the problem are
# not personal: they are what the work is about.
CUSTOMER_FIELDS = {
    "name": "name",
    "phone": "phone",
    "mobile": "phone",
    "telephone": "phone",
    "tel": "phone",
    "email": "email",
    "address": "address",
    "id_card": "phone",
    "id_number": "phone",
}
PERSONAL_SUFFIXES = {
    "phone": "phone",
    "mobile": "phone",
    "telephone": "phone",
    "email": "email",
    "address": "address",
    "customer_name": "name",
    "contact_name": "name",
    "caller_name": "name",
}
# Groups that may open any case whole (the read of one they do not work is recorded).
OVERSEERS = ("supervisors", "admins")
# The case's owner (首问负责): the first-contact owner, or whoever a supervisor reassigned it to.
OWNER_FIELD = "first_contact_owner"


def mask_text(kind: str, value: Any) -> Any:
    """One personal value as someone who does not work the case sees it.

    `13800000000` → `138****0000`; `张三` → `张*`; an address keeps its first few characters (the
    city), an e-mail its first character and domain. Anything else becomes `***`.
    """
    if value is None or value == "":
        return value
    if not isinstance(value, str):
        return "***"
    if kind == "name":
        return value[0] + "*" * max(1, len(value) - 1)
    if kind == "phone":
        if len(value) >= 8:
            return value[:3] + "*" * (len(value) - 7) + value[-4:]
        return "*" * len(value)
    if kind == "email":
        local, at, domain = value.partition("@")
        return (local[:1] + "***" + at + domain) if at else "***"
    if kind == "address":
        keep = min(6, len(value) // 3)
        return value[:keep] + "****"
    return "***"


def _personal_kind(key: str, in_customer: bool) -> str | None:
    lowered = key.lower()
    if in_customer and lowered in CUSTOMER_FIELDS:
        return CUSTOMER_FIELDS[lowered]
    for suffix, kind in PERSONAL_SUFFIXES.items():
        if lowered.endswith(suffix):
            return kind
    return None


def masked(value: Any, in_customer: bool = False) -> Any:
    """A copy of case data (or an event's detail) with every personal field masked."""
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            kind = _personal_kind(str(key), in_customer)
            if kind is not None and not isinstance(item, dict | list):
                result[key] = mask_text(kind, item)
            else:
                result[key] = masked(item, in_customer=str(key).lower() == "customer")
        return result
    if isinstance(value, list):
        return [masked(item, in_customer) for item in value]
    return value


def integration_only(actor: Actor) -> bool:
    """An integration (and nothing else) sees only the cases it started."""
    return actor.in_any("integrations") and not (actor.groups - {"integrations"})


def owner_of(case: Case) -> str | None:
    """The case's owner: `data.first_contact_owner`, which a reassignment moves.

    The one owner field of the service: a field that happens to be called `owner` (a vehicle's
    owner, say) names nobody who works the case.
    """
    owner = (case.data or {}).get(OWNER_FIELD)
    return owner if isinstance(owner, str) else None


def cases_worked_by(session: Session, actor: Actor, cases: list[Case]) -> set[str]:
    """The ids of those cases the actor works (DOMAIN §8), in one query for a whole page.

    They work a case when they started it or own it, hold or completed one of its tasks, or one
    of its open unclaimed tasks is offered to one of their groups (approvers of its applications
    included: a sign-off is such a task).
    """
    worked = {c.id for c in cases if actor.username in (c.created_by, owner_of(c))}
    rest = [c.id for c in cases if c.id not in worked]
    if not rest:
        return worked
    groups = sorted(actor.groups)
    query = (
        select(HumanTask.case_id)
        .where(HumanTask.case_id.in_(rest))
        .where(
            (HumanTask.assignee == actor.username)
            | (HumanTask.completed_by == actor.username)
            | (
                (HumanTask.status == "open")
                & HumanTask.assignee.is_(None)
                & HumanTask.candidate_group.in_(groups)
            )
        )
        .distinct()
    )
    worked.update(session.execute(query).scalars())
    return worked


def sees_case_whole(session: Session, actor: Actor, case: Case) -> bool:
    """Whether the actor sees this one case whole (DOMAIN §8): an overseer, or one who works it.

    The same rule for the case view and for its evidence (attachments); for a page of cases use
    `cases_worked_by` once.
    """
    return actor.in_any(*OVERSEERS) or case.id in cases_worked_by(session, actor, [case])


def current_steps(session: Session, case_ids: list[str]) -> dict[str, HumanTask]:
    """The open task that is due first (else the oldest) of each case, in one query."""
    if not case_ids:
        return {}
    rows = session.execute(
        select(HumanTask).where(HumanTask.case_id.in_(case_ids), HumanTask.status == "open")
    ).scalars()
    best: dict[str, HumanTask] = {}
    far = datetime.max.replace(tzinfo=UTC)
    for row in rows:
        key = (row.due_at or far, row.created_at, row.id)
        held = best.get(row.case_id)
        if held is None or key < (held.due_at or far, held.created_at, held.id):
            best[row.case_id] = row
    return best


def step_view(ctx: EngineContext, row: HumanTask | None) -> dict | None:
    """A summary's `current_step`: the task, its name and who holds it, and when it is due."""
    if row is None:
        return None
    return {
        "task_id": row.id,
        "name": row.name,
        "element_id": row.element_id,
        "assignee": row.assignee,
        "due_at": ctx.local(row.due_at),
    }


def customer_name(case: Case, whole: bool) -> str | None:
    """The customer's name for a summary: whole, or masked (`张*`) for those who do not work it."""
    customer = (case.data or {}).get("customer")
    name = customer.get("name") if isinstance(customer, dict) else None
    if not isinstance(name, str):
        return None
    return name if whole else mask_text("name", name)


def local_times(ctx: EngineContext, value: Any) -> Any:
    """A stored detail (an event's, a case's error) with every moment in the service's offset.

    Moments are written as ISO 8601 text in UTC by whichever part recorded them; readers get
    them in the service's timezone, like every other time in a response. Only values under keys
    named `at`, `*_at` or `due` are touched, and only when they parse as a moment with an offset.
    """
    if not isinstance(value, dict):
        return value
    result = dict(value)
    for key, item in value.items():
        if isinstance(item, str) and (key in ("at", "due") or key.endswith("_at")):
            try:
                moment = datetime.fromisoformat(item)
            except ValueError:
                continue
            if moment.tzinfo is not None:
                result[key] = ctx.local(moment).isoformat()
    return result
