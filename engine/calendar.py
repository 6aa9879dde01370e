"""Working days and working hours of mainland China, for deadlines counted in working time.

Holidays and adjusted working weekends (调休) come from the `chinese-calendar` package, whose
data ends with 2026. For later years the calendar falls back to Monday–Friday plus an optional
holiday file (`COMPLAINTS_HOLIDAYS_FILE`), and logs once per year that it does so. The file can
also correct the package for any year:

    holidays: ["2027-01-01", "2027-02-10"]
    workdays: ["2027-02-07"]        # a Saturday worked in exchange (调休)
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import yaml

from .budget import SizeLimit, check_budget

log = logging.getLogger(__name__)

# The most working days (about twenty years) and working hours one addition may count: enough
# for any deadline, and every step still checks the act's budget.
MAX_WORKING_DAYS = 5_000
MAX_WORKING_HOURS = MAX_WORKING_DAYS * 24


class WorkingCalendar:
    """Answers "is this a working day" and adds working days or hours to a moment."""

    def __init__(
        self,
        timezone: str = "Asia/Shanghai",
        holidays_file: str | Path | None = None,
        work_start: time = time(9, 0),
        work_end: time = time(18, 0),
    ):
        if work_end <= work_start:
            raise ValueError("working hours must end after they start")
        self.tz = ZoneInfo(timezone)
        self.work_start = work_start
        self.work_end = work_end
        self.extra_holidays: set[date] = set()
        self.extra_workdays: set[date] = set()
        if holidays_file:
            self._load_file(Path(holidays_file))
        self._fallback_years_logged: set[int] = set()
        self._lock = threading.Lock()

    def _load_file(self, path: Path) -> None:
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        self.extra_holidays = {date.fromisoformat(str(d)) for d in content.get("holidays", [])}
        self.extra_workdays = {date.fromisoformat(str(d)) for d in content.get("workdays", [])}

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_holidays:
            return False
        if day in self.extra_workdays:
            return True
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:
            self._log_fallback(day.year)
            return day.weekday() < 5

    def _log_fallback(self, year: int) -> None:
        with self._lock:
            if year in self._fallback_years_logged:
                return
            self._fallback_years_logged.add(year)
        log.warning(
            "chinese-calendar has no data for %s: using Monday-Friday working days "
            "plus the holidays file (COMPLAINTS_HOLIDAYS_FILE)",
            year,
        )

    def local(self, moment: datetime) -> datetime:
        """The moment in the service's timezone (naive values are taken as already local)."""
        if moment.tzinfo is None:
            return moment.replace(tzinfo=self.tz)
        return moment.astimezone(self.tz)

    def next_working_day(self, day: date) -> date:
        day += timedelta(days=1)
        while not self.is_working_day(day):
            check_budget()
            day += timedelta(days=1)
        return day

    def _clamp_to_working_time(self, moment: datetime) -> datetime:
        """The first working moment at or after `moment` (local time)."""
        day = moment.date()
        if self.is_working_day(day):
            if moment.time() < self.work_start:
                return datetime.combine(day, self.work_start, self.tz)
            if moment.time() < self.work_end:
                return moment
        return datetime.combine(self.next_working_day(day), self.work_start, self.tz)

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """`days` working days after `start`, at the same time of working day.

        A start outside working time counts from the next opening (a request on Saturday
        morning with one working day to answer is due on Tuesday at opening time, when
        Monday is a working day).
        """
        if days < 0:
            raise ValueError("days must not be negative")
        if days > MAX_WORKING_DAYS:
            raise SizeLimit(f"at most {MAX_WORKING_DAYS:,} working days can be added at once")
        moment = self._clamp_to_working_time(self.local(start))
        day = moment.date()
        for _ in range(days):
            check_budget()
            day = self.next_working_day(day)
        return datetime.combine(day, moment.timetz())

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """`hours` of working time (within the working hours of working days) after `start`."""
        if hours < 0:
            raise ValueError("hours must not be negative")
        if hours > MAX_WORKING_HOURS:
            raise SizeLimit(f"at most {MAX_WORKING_HOURS:,} working hours can be added at once")
        remaining = timedelta(hours=hours)
        moment = self._clamp_to_working_time(self.local(start))
        while True:
            check_budget()
            closing = datetime.combine(moment.date(), self.work_end, self.tz)
            if moment + remaining <= closing:
                return moment + remaining
            remaining -= closing - moment
            moment = datetime.combine(self.next_working_day(moment.date()), self.work_start, self.tz)


def utc_now() -> datetime:
    """The current moment, aware, in UTC (the one clock the engine reads; tests move it)."""
    return datetime.now(UTC)
