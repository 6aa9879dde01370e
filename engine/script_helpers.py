"""The functions BPMN scripts, gateway conditions, timer expressions and DMN cells may call.

Every helper takes and returns JSON-friendly values: moments are ISO 8601 strings with the
service's UTC offset (a `datetime` is accepted too), so whatever a script computes can be kept
in case data as it is, and a timer expression can use a helper's result directly:

    add_working_days(now(), 2)     # a timeDate timer: due in two working days
    add_hours(created_at, 24)
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Any

from .calendar import WorkingCalendar, utc_now

Moment = str | datetime | date


def _to_datetime(calendar: WorkingCalendar, value: Moment) -> datetime:
    if isinstance(value, datetime):
        return calendar.local(value)
    if isinstance(value, date):
        return datetime.combine(value, datetime.min.time(), calendar.tz)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        return calendar.local(datetime.fromisoformat(text))
    raise TypeError(f"expected an ISO 8601 date or time, got {type(value).__name__}")


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def make_helpers(calendar: WorkingCalendar) -> dict[str, Any]:
    """The helper namespace for one calendar (timezone, holidays, working hours)."""

    def now() -> str:
        """The current moment."""
        return _iso(calendar.local(utc_now()))

    def today() -> str:
        """Today's date (YYYY-MM-DD) in the service's timezone."""
        return calendar.local(utc_now()).date().isoformat()

    def parse_datetime(value: Moment) -> datetime:
        """A `datetime` for arithmetic and comparison of moments given as text."""
        return _to_datetime(calendar, value)

    def add_hours(start: Moment, hours: float) -> str:
        return _iso(_to_datetime(calendar, start) + timedelta(hours=hours))

    def add_days(start: Moment, days: float) -> str:
        return _iso(_to_datetime(calendar, start) + timedelta(days=days))

    def add_working_days(start: Moment, days: int) -> str:
        return _iso(calendar.add_working_days(_to_datetime(calendar, start), int(days)))

    def add_working_hours(start: Moment, hours: float) -> str:
        return _iso(calendar.add_working_hours(_to_datetime(calendar, start), hours))

    def is_working_day(day: Moment) -> bool:
        return calendar.is_working_day(_to_datetime(calendar, day).date())

    def days_between(start: Moment, end: Moment) -> int:
        """Whole calendar days from `start` to `end` (negative when `end` is earlier)."""
        return (_to_datetime(calendar, end).date() - _to_datetime(calendar, start).date()).days

    def hours_between(start: Moment, end: Moment) -> float:
        delta = _to_datetime(calendar, end) - _to_datetime(calendar, start)
        return delta.total_seconds() / 3600

    def months_between(start: Moment, end: Moment) -> int:
        """Whole calendar months from `start` to `end` (3 when end is the same day 3 months on)."""
        a, b = _to_datetime(calendar, start).date(), _to_datetime(calendar, end).date()
        months = (b.year - a.year) * 12 + (b.month - a.month)
        if b.day < a.day:
            months -= 1
        return months

    def duration_hours(hours: float) -> str:
        """An ISO 8601 duration (`PT2H`) for a number of hours, for duration timers."""
        seconds = round(float(hours) * 3600)
        return f"PT{seconds // 3600}H{(seconds % 3600) // 60}M" if seconds % 3600 else f"PT{seconds // 3600}H"

    return {
        "now": now,
        "today": today,
        "parse_datetime": parse_datetime,
        "add_hours": add_hours,
        "add_days": add_days,
        "add_working_days": add_working_days,
        "add_working_hours": add_working_hours,
        "is_working_day": is_working_day,
        "days_between": days_between,
        "hours_between": hours_between,
        "months_between": months_between,
        "duration_hours": duration_hours,
        "ceil": math.ceil,
        "floor": math.floor,
    }


# Names scripts may read but never assign (checked when a diagram is deployed).
HELPER_NAMES = frozenset(make_helpers(WorkingCalendar()).keys())
