"""Many cases, fast: start a few real cases through the engine, then clone their rows with SQL.

A template is one real case (its row, open tasks and audit events), captured as one text with
holes. Each clone fills them in:
- every UUID (the case id, and SpiffWorkflow's task ids, which are also the open tasks' ids)
  keeps its first 24 characters and gets a suffix of its own, so ids never collide;
- the business key, the customer, the issue code and the first-contact owner (the agent the
  case's tasks go to) are the clone's own;
- for timers, the acknowledgement due time (in the state's timer, the data, the task and the
  `next_timer_at` column) and the time the complaint was received.
Rows are written by bulk INSERTs in one transaction, so a worker sees all of a batch or none.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from engine.core import Engine
from engine.store.models import Case, CaseEvent, HumanTask

from .common import START, Step

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DATETIME_COLUMNS = {
    "cases": ("created_at", "updated_at", "ended_at", "next_timer_at"),
    "human_tasks": ("created_at", "due_at", "completed_at"),
    "case_events": ("at",),
}
CHUNK = 2000
TEMPLATE_OWNER = "li.na"
_suffixes = itertools.count(random.SystemRandom().randrange(1 << 40))


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__}")


def _columns(row: Any) -> dict[str, Any]:
    return {c.name: getattr(row, c.key) for c in row.__table__.columns}


class Template:
    """One captured case, ready to be cloned any number of times.

    `holes` maps texts of the case to the names of the values that replace them in a clone;
    the owner's username is a hole (`owner`) wherever it is a whole JSON string.
    """

    def __init__(self, document: dict[str, Any], holes: dict[str, str], owner: str = TEMPLATE_OWNER):
        text = json.dumps(document, ensure_ascii=False, default=_json_default)
        text = text.replace("{", "{{").replace("}", "}}")  # the text becomes a format string
        # A whole JSON string, in the rows or inside the state (itself JSON text in a string).
        owner_pattern = rf'(?<="){re.escape(owner)}(?=\\?")'
        patterns = [UUID.pattern, owner_pattern, *(re.escape(literal) for literal in holes)]

        def hole(match: re.Match) -> str:
            found = match.group(0)
            if UUID.fullmatch(found):
                return found[:24] + "{suffix}"
            return "{" + holes.get(found, "owner") + "}"

        self.format = re.sub("|".join(patterns), hole, text)
        missing = [name for name in ["owner", *holes.values()] if "{" + name + "}" not in self.format]
        if missing:
            raise ValueError(f"the template case holds no {', '.join(missing)} to replace")

    @classmethod
    def capture(cls, engine: Engine, case_id: str, holes: dict[str, str]) -> Template:
        with engine.db.unit_of_work(write=False) as uow:
            session = uow.session
            case = session.get(Case, case_id)
            tasks = session.execute(
                select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.status == "open")
            ).scalars()
            events = session.execute(select(CaseEvent).where(CaseEvent.case_id == case_id)).scalars()
            document = {
                "cases": [_columns(case)],
                "human_tasks": [_columns(task) for task in tasks],
                "case_events": [{k: v for k, v in _columns(e).items() if k != "id"} for e in events],
            }
        return cls(document, holes)

    def clone(self, **values: str) -> dict[str, list[dict[str, Any]]]:
        """The rows of one clone, by table; `values` fill the holes (all but `suffix`)."""
        rows = json.loads(self.format.format(suffix=f"{next(_suffixes):012x}", **values))
        for table, columns in DATETIME_COLUMNS.items():
            for row in rows[table]:
                for column in columns:
                    if row[column] is not None:
                        row[column] = datetime.fromisoformat(row[column])
        return rows


TABLES = {"cases": Case.__table__, "human_tasks": HumanTask.__table__, "case_events": CaseEvent.__table__}


def insert_clones(engine: Engine, clones: Iterator[dict[str, list[dict]]]) -> int:
    """Write the clones' rows in one transaction; returns how many cases were written."""
    pending: dict[str, list[dict]] = {name: [] for name in TABLES}
    count = 0
    with engine.db.write_engine.begin() as connection:
        for rows in clones:
            count += 1
            for name in TABLES:
                pending[name].extend(rows[name])
            if len(pending["cases"]) >= CHUNK:
                _flush(connection, pending)
        _flush(connection, pending)
    return count


def _flush(connection, pending: dict[str, list[dict]]) -> None:
    for name, table in TABLES.items():  # parents first: tasks and events refer to cases
        if pending[name]:
            connection.execute(insert(table), pending[name])
            pending[name] = []


# ---- real cases to capture


def template_start(n: int) -> dict[str, Any]:
    """Start data whose customer and issue code are found nowhere else in the case's rows."""
    data = json.loads(json.dumps(START))
    data["customer"]["id"] = f"TPL-CUSTOMER-{n:06d}"
    data["problem"]["issue_code"] = f"TPL-ISSUE-{n:06d}"
    return data


def start_case(engine: Engine, steps: list[Step], n: int, owner: str = TEMPLATE_OWNER) -> dict:
    """Real case `n`, started by `owner` and moved on by `steps`."""
    users = engine.ctx.directory.users
    case, _ = engine.cases.start(users[owner], "complaint", template_start(n))
    for element, user, data in steps:
        task = next(t for t in case["tasks"] if t["element_id"] == element)
        case = engine.tasks.complete(users[user], task["id"], data)
    return case


def case_holes(case: dict, n: int) -> dict[str, str]:
    """The holes of real case `n` (see `start_case`): its business key, customer and issue code."""
    data = template_start(n)
    return {
        case["business_key"]: "business_key",
        data["customer"]["id"]: "customer",
        data["problem"]["issue_code"]: "issue",
    }


def due_holes(case: dict, n: int) -> dict[str, str]:
    """`case_holes`, and those of the acknowledgement timer the case waits on."""
    local_due = case["data"]["ack_due"]
    due = datetime.fromisoformat(local_due)
    received = (due - timedelta(hours=24)).isoformat(timespec="seconds")
    return {
        **case_holes(case, n),
        local_due: "due_local",
        due.astimezone(UTC).isoformat(timespec="seconds"): "due_utc",
        received: "received_local",
    }


def due_values(due: datetime, timezone) -> dict[str, str]:
    """Fill-ins for `due_holes`: a due moment (whole seconds, as diagrams write them)."""
    due = due.replace(microsecond=0)
    return {
        "due_local": due.astimezone(timezone).isoformat(timespec="seconds"),
        "due_utc": due.astimezone(UTC).isoformat(timespec="seconds"),
        "received_local": (due - timedelta(hours=24)).astimezone(timezone).isoformat(timespec="seconds"),
    }


def identity_values(prefix: str, index: int, owners: int = 200, issues: int = 500) -> dict[str, str]:
    """Fill-ins for `case_holes`: clone `index` of a run, spread over owners and issue codes."""
    return {
        "business_key": f"{prefix}-{index:07d}",
        "customer": f"C-{prefix}-{index:07d}",
        "issue": f"ISSUE-{index % issues:04d}",
        "owner": f"agent-{index % owners:03d}",
    }


def clones(
    template: Template, count: int, values: Callable[[int], dict[str, str]]
) -> Iterator[dict[str, list[dict]]]:
    for index in range(count):
        yield template.clone(**values(index))
