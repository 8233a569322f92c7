"""Business calendars for working-day limits (SPEC.md "Time limits": §3.1, §3.4 count working days).

- ``cn``: China's official calendar — public holidays and the adjusted working days (调休) the
  State Council announces each year — from the ``chinese-calendar`` package, which tracks those
  announcements; days begin in Asia/Shanghai. Its data ends with the last announced year: later
  days answer None and the core counts them Monday to Friday, visibly.
- ``weekdays``: a plain Monday–Friday calendar, also in Asia/Shanghai.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import chinese_calendar

from records import hookimpl
from records.calendars import WeekdayCalendar

SHANGHAI = "Asia/Shanghai"


@dataclass(frozen=True)
class ChinaCalendar:
    name: str = "cn"
    timezone: str = SHANGHAI

    def is_working_day(self, day: date) -> bool | None:
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:  # the package has no data for that year yet
            return None


@hookimpl(trylast=True)
def records_register_calendars(register) -> None:  # type: ignore[no-untyped-def]
    register(ChinaCalendar())
    register(WeekdayCalendar(name="weekdays", timezone=SHANGHAI))
