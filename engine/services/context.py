"""The engine context every service is handed, paging, the group check, and the act transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, overload

from sqlalchemy import Connection, bindparam, func, select
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
from ..store.models import Case
from ..store.prepared import Prepared

log = logging.getLogger(__name__)

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
    """A list query of plain columns built once: its page (LIMIT and OFFSET bound) and its count,
    same filters, both run as prepared statements (`engine.store.prepared`).

    Compiled once per database, they skip SQLAlchemy's per-call work (cache key, parameter
    processing, result set-up): the inbox is read more than anything else. Values go in as
    bound parameters; a prepared statement takes no expanding (`IN`) parameter, so a list of
    values is one parameter per value, and the query is built once for each length.
    """

    rows: Prepared
    count: Prepared

    @classmethod
    def of(cls, query) -> PagedStatement:
        return cls(
            rows=Prepared(query.limit(bindparam("page_limit")).offset(bindparam("page_offset"))),
            count=Prepared(select(func.count().label("total")).select_from(query.order_by(None).subquery())),
        )


class Record:
    """A row of a list read as attributes (`row.id`), as a view reads an ORM object."""

    def __init__(self, values: dict[str, Any]):
        self.__dict__.update(values)


def paged_statement(
    connection: Connection, statement: PagedStatement, params: dict[str, Any], page: PageRequest, view
) -> dict:
    """`paged` for a statement built once (`PagedStatement`), run on `connection` with no ORM."""
    page = page.clamp()
    bound = {**params, "page_limit": page.per_page, "page_offset": page.offset}
    rows = statement.rows.rows(connection, bound)
    if 0 < len(rows) < page.per_page or (not rows and page.offset == 0):
        total = page.offset + len(rows)
    else:
        total = statement.count.rows(connection, params)[0]["total"]
    return {
        "items": [view(Record(row)) for row in rows],
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
