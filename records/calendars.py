"""Business calendars: which days are working days, for limits counted in working days.

Calendars come from plugins (``records_register_calendars``). A calendar answers
``is_working_day(day)`` with True, False, or None when its data does not reach that day (the
official holiday table of a future year is published late each year). A deadline must never
fail for that reason: the day is then counted Monday to Friday and the deadline says so
(``calendar_fallback``), so people see that it is an estimate. Operators load the missing
year themselves with a holiday table (``RECORDS_HOLIDAY_FILE``), which overrides any
calendar's data for the days it lists and covers the years it declares.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, ValidationError

from records.clock import as_utc
from records.errors import InvalidConfiguration
from records.redaction import traceback_without_messages

log = logging.getLogger("records.calendars")
# Limits are days, not years: a loop bound that keeps a broken calendar from spinning forever.
MAX_SCAN_DAYS = 3660


class BusinessCalendar(Protocol):
    name: str
    timezone: str  # IANA zone in which its days begin and end

    def is_working_day(self, day: date) -> bool | None:
        """True or False; None when the calendar has no data for ``day``."""


@dataclass(frozen=True)
class WeekdayCalendar:
    """Monday to Friday, every week, no holidays."""

    name: str = "weekdays"
    timezone: str = "UTC"

    def is_working_day(self, day: date) -> bool | None:
        return day.weekday() < 5


class HolidayTable(BaseModel):
    """An operator's own table: ``RECORDS_HOLIDAY_FILE`` (TOML)::

        years = [2027]                       # years this table fully describes
        holidays = ["2027-01-01"]            # days off, even on a weekday
        working_days = ["2027-02-20"]        # adjusted working days, even on a weekend
    """

    model_config = {"extra": "forbid"}

    years: list[int] = Field(default_factory=list)
    holidays: list[date] = Field(default_factory=list)
    working_days: list[date] = Field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> HolidayTable:
        try:
            table = cls.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
        except OSError as exc:
            raise InvalidConfiguration(f"holiday file {path}: cannot read it: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise InvalidConfiguration(f"holiday file {path}: not valid TOML: {exc}") from None
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise InvalidConfiguration(f"holiday file {path}: {problems}") from None
        both = set(table.holidays) & set(table.working_days)
        if both:
            raise InvalidConfiguration(f"holiday file {path}: {min(both)} is listed both as a holiday and a working day")
        return table

    def answer(self, day: date) -> bool | None:
        if day in self.holidays:
            return False
        if day in self.working_days:
            return True
        if day.year in self.years:
            return day.weekday() < 5
        return None


@dataclass(frozen=True)
class WorkingDayDeadline:
    due_at: datetime
    calendar: str
    fallback: bool  # some day was counted Monday to Friday for want of calendar data


@dataclass
class CalendarRegistry:
    calendars: dict[str, BusinessCalendar] = field(default_factory=dict)
    default: str = "weekdays"
    table: HolidayTable | None = None

    @classmethod
    def from_plugins(cls, hook, default: str, table_file: Path | None = None) -> CalendarRegistry:  # type: ignore[no-untyped-def]
        registry = cls(default=default, table=HolidayTable.load(table_file) if table_file else None)

        def register(calendar: BusinessCalendar) -> None:
            try:
                ZoneInfo(calendar.timezone)
            except (ZoneInfoNotFoundError, ValueError, TypeError):
                raise InvalidConfiguration(f"calendar {calendar.name!r}: unknown time zone {calendar.timezone!r}") from None
            registry.calendars.setdefault(calendar.name, calendar)  # first registration wins

        hook.records_register_calendars(register=register)
        registry.calendars.setdefault("weekdays", WeekdayCalendar())
        if default not in registry.calendars:
            raise InvalidConfiguration(
                f"business calendar {default!r} is not registered; calendars: {', '.join(sorted(registry.calendars))}"
            )
        return registry

    def get(self, name: str | None) -> BusinessCalendar:
        return self.calendars.get(name or self.default) or self.calendars[self.default]

    def _is_working_day(self, calendar: BusinessCalendar, day: date) -> tuple[bool, bool]:
        """(working?, fell back?). The operator's table first, then the calendar, then Mon-Fri."""
        if self.table is not None:
            answer = self.table.answer(day)
            if answer is not None:
                return answer, False
        try:
            answer = calendar.is_working_day(day)
        except Exception as exc:  # noqa: BLE001 - a calendar plugin's failure must never fail a request
            log.error("calendar %s failed for %s; counting Monday to Friday\n%s", calendar.name, day,
                      traceback_without_messages(exc))
            answer = None
        if answer is None:
            return day.weekday() < 5, True
        return bool(answer), False

    def add_working_days(self, start: datetime, days: int, name: str | None = None) -> WorkingDayDeadline:
        """The end of the ``days``-th working day after the day of ``start`` (in the calendar's
        zone): a request received on Wednesday with 2 working days is due by the end of Friday."""
        calendar = self.get(name)
        zone = ZoneInfo(calendar.timezone)
        day = as_utc(start).astimezone(zone).date()
        fallback = False
        counted = 0
        for _ in range(MAX_SCAN_DAYS):
            if counted == days:
                break
            day += timedelta(days=1)
            working, fell_back = self._is_working_day(calendar, day)
            fallback |= fell_back
            counted += working
        else:
            raise InvalidConfiguration(f"calendar {calendar.name!r} has no working day in {MAX_SCAN_DAYS} days")
        if fallback:
            log.warning("calendar %s lacks data up to %s; counted Monday to Friday where it had none", calendar.name, day)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
        return WorkingDayDeadline(as_utc(end), calendar.name, fallback)
