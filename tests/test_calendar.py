"""Working days of mainland China: holidays, adjusted working weekends (调休), the 2027 fallback."""

from __future__ import annotations

import logging
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from engine.calendar import WorkingCalendar
from engine.script_helpers import make_helpers

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def calendar() -> WorkingCalendar:
    return WorkingCalendar("Asia/Shanghai")


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 9, 30), True),  # Wednesday before National Day
        (date(2026, 10, 1), False),  # National Day
        (date(2026, 10, 7), False),
        (date(2026, 10, 8), True),
        (date(2026, 10, 10), True),  # Saturday worked in exchange (调休)
        (date(2026, 10, 11), False),  # Sunday
        (date(2026, 9, 20), True),  # Sunday worked in exchange
        (date(2026, 9, 25), False),  # Mid-autumn Festival
    ],
)
def test_working_days_of_2026(calendar, day, working):
    assert calendar.is_working_day(day) is working


def test_two_working_days_across_national_day(calendar):
    assert calendar.add_working_days(at(2026, 9, 30, 10, 0), 2) == at(2026, 10, 9, 10, 0)


def test_an_adjusted_working_saturday_counts(calendar):
    assert calendar.add_working_days(at(2026, 10, 9, 15, 0), 1) == at(2026, 10, 10, 15, 0)
    assert calendar.add_working_days(at(2026, 10, 9, 15, 0), 2) == at(2026, 10, 12, 15, 0)


def test_a_start_on_a_holiday_counts_from_the_next_opening(calendar):
    assert calendar.add_working_days(at(2026, 10, 3, 10, 0), 1) == at(2026, 10, 9, 9, 0)
    assert calendar.add_working_days(at(2026, 9, 29, 20, 0), 1) == at(2026, 10, 8, 9, 0)  # after hours


def test_working_hours_carry_over_to_the_next_working_day(calendar):
    assert calendar.add_working_hours(at(2026, 9, 30, 17, 0), 2) == at(2026, 10, 8, 10, 0)
    assert calendar.add_working_hours(at(2026, 10, 8, 9, 30), 3) == at(2026, 10, 8, 12, 30)


def test_year_boundary_falls_back_to_monday_to_friday_and_logs_once(calendar, caplog):
    with caplog.at_level(logging.WARNING, logger="engine.calendar"):
        # 2026-12-31 is a Thursday; without holiday data 2027-01-01 (Friday) is taken as working.
        assert calendar.add_working_days(at(2026, 12, 31, 10, 0), 2) == at(2027, 1, 4, 10, 0)
        assert calendar.is_working_day(date(2027, 1, 9)) is False  # Saturday
        assert calendar.is_working_day(date(2027, 1, 11)) is True
    fallback_lines = [r for r in caplog.records if "2027" in r.getMessage()]
    assert len(fallback_lines) == 1


def test_a_holidays_file_fills_in_later_years(tmp_path):
    holidays = tmp_path / "holidays.yaml"
    holidays.write_text("holidays: [2027-01-01]\nworkdays: [2027-01-09]\n", encoding="utf-8")
    calendar = WorkingCalendar("Asia/Shanghai", holidays)
    assert calendar.add_working_days(at(2026, 12, 31, 10, 0), 2) == at(2027, 1, 5, 10, 0)
    assert calendar.is_working_day(date(2027, 1, 9)) is True  # a Saturday declared worked
    assert calendar.is_working_day(date(2026, 10, 1)) is False  # package data still applies


def test_helpers_for_diagrams_take_and_give_iso_text(calendar):
    helpers = make_helpers(calendar)
    assert helpers["add_working_days"]("2026-09-30T10:00:00+08:00", 2) == "2026-10-09T10:00:00+08:00"
    assert helpers["add_hours"]("2026-09-30T10:00:00+08:00", 48) == "2026-10-02T10:00:00+08:00"
    assert helpers["add_days"]("2026-09-30T10:00:00+08:00", 7) == "2026-10-07T10:00:00+08:00"
    assert helpers["days_between"]("2026-11-01", "2026-11-20") == 19
    assert helpers["months_between"]("2026-08-20", "2026-11-20") == 3
    assert helpers["months_between"]("2026-08-21", "2026-11-20") == 2
    assert helpers["is_working_day"]("2026-10-10") is True
    assert helpers["duration_hours"](2) == "PT2H" and helpers["duration_hours"](1.5) == "PT1H30M"
    assert helpers["add_hours"]("2026-09-30T02:00:00Z", 1) == "2026-09-30T11:00:00+08:00"
