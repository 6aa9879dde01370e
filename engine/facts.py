"""Cross-case facts that classification needs and a single case cannot know.

Answered by indexed queries and handed to the urgency decision table as plain inputs
(`facts` in the case data):
- `repeat`: the same customer raised the same issue code in a complaint that was closed
  (completed) within the last 3 calendar months;
- `batch_ordinary_complaints`: complaints (宗) from ordinary-tier customers with the same issue
  code within the last 60 minutes, this one included;
- `batch_vip_customers`: distinct VIP-tier customers (`vip`, `important`, `sensitive`) who raised
  the same issue code within the last 60 minutes, this one included.
"""

from __future__ import annotations

from calendar import monthrange
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import distinct, func, or_, select
from sqlalchemy.orm import Session

from .store.models import Case

BATCH_WINDOW = timedelta(minutes=60)
REPEAT_MONTHS = 3
# Tiers that count as VIP in a batch (DOMAIN.md §2).
VIP_TIERS = ("vip", "important", "sensitive")


def section(data: dict[str, Any], key: str) -> dict[str, Any]:
    """The object at `key` of case data (`customer`, `problem`), or an empty one when it is not an object."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (clamped to the month's end)."""
    month_index = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(month_index, 12)
    day = min(moment.day, monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def repeated_case(
    session: Session, process_key: str, data: dict[str, Any], now: datetime
) -> tuple[str, str] | None:
    """(id, business key) of the closed complaint this one repeats: the same customer and issue
    code, closed within the last 3 calendar months (the most recently closed one), else None."""
    customer = section(data, "customer")
    problem = section(data, "problem")
    customer_id = customer.get("id")
    issue_code = problem.get("issue_code")
    if not customer_id or not issue_code:
        return None
    row = session.execute(
        select(Case.id, Case.business_key)
        .where(
            Case.customer_id == customer_id,
            Case.issue_code == issue_code,
            Case.process_key == process_key,
            Case.status == "completed",
            Case.ended_at >= months_before(now, REPEAT_MONTHS),
        )
        .order_by(Case.ended_at.desc(), Case.id)
        .limit(1)
    ).first()
    return (row[0], row[1]) if row is not None else None


def batch_counts(
    session: Session,
    process_key: str,
    issue_code: str,
    customer_id: str | None,
    tier: str | None,
    now: datetime,
) -> tuple[int, int]:
    """(complaints from ordinary customers, distinct VIP-tier customers) with this issue code in
    the last 60 minutes, the complaint being counted included."""
    window = (
        Case.issue_code == issue_code,
        Case.process_key == process_key,
        Case.created_at > now - BATCH_WINDOW,
    )
    ordinary = session.execute(
        select(func.count(Case.id)).where(
            *window, or_(Case.customer_tier.is_(None), Case.customer_tier.not_in(VIP_TIERS))
        )
    ).scalar_one()
    vip = session.execute(
        select(func.count(distinct(Case.customer_id))).where(
            *window,
            Case.customer_tier.in_(VIP_TIERS),
            Case.customer_id.is_not(None),
            Case.customer_id != (customer_id or ""),
        )
    ).scalar_one()
    if tier in VIP_TIERS:
        vip += 1
    else:
        ordinary += 1
    return ordinary, vip


def case_facts(session: Session, process_key: str, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    customer = section(data, "customer")
    problem = section(data, "problem")
    issue_code = problem.get("issue_code")
    repeat = repeated_case(session, process_key, data, now) is not None
    ordinary = vip = 0
    if issue_code:
        ordinary, vip = batch_counts(
            session, process_key, issue_code, customer.get("id"), customer.get("tier"), now
        )
    return {
        "repeat": repeat,
        "batch_ordinary_complaints": ordinary,
        "batch_vip_customers": vip,
    }
