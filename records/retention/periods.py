"""Retention arithmetic: ISO 8601 periods, cutoff rounding and the retain-until date.

Periods are ISO 8601 durations of whole calendar units ("P3Y", "P18M", "P2W", "P0D"). Why
``isodate``: retention periods are counted in years and months, which ``timedelta`` cannot
express (a year is not 365 days, a month has 28 to 31); isodate parses every ISO 8601 duration
form and adds years and months on the calendar, clamping to the last day of a shorter month
(31 January + P1M = 28 or 29 February), which is what a records officer means by "one month".

Cutoff (DoD 5015.2): the clock starts not at the trigger itself but at the end of the period it
falls in, so that a year's files are disposed of together: ``month`` rounds up to the first
instant of the next month, ``year`` to the next 1 January, ``fiscal_year`` to the start of the
next fiscal year (``RECORDS_RETENTION_FISCAL_YEAR_START_MONTH``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import isodate

from records.clock import as_utc

CUTOFFS = ("month", "year", "fiscal_year")
# Calendar units only: a retention period of hours is a typing mistake.
_SHAPE = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?$")


def parse_period(text: str) -> isodate.Duration | timedelta:
    """An ISO 8601 duration of years, months, weeks and days; ValueError otherwise."""
    if not isinstance(text, str) or not _SHAPE.match(text):
        raise ValueError("must be an ISO 8601 duration of years, months, weeks or days, e.g. P3Y, P18M, P30D, P0D")
    duration = isodate.parse_duration(text)
    years = getattr(duration, "years", 0)
    if years > 1000:
        raise ValueError("must be at most 1000 years; use the action 'permanent' to keep records for good")
    return duration


def period_days_at_least(text: str, minimum: str, at: datetime) -> bool:
    """Whether ``text`` is at least as long as ``minimum`` counted from ``at``."""
    return at + parse_period(text) >= at + parse_period(minimum)


def cutoff(trigger_at: datetime, rule: str | None, fiscal_year_start_month: int = 1) -> datetime:
    """The instant the retention clock starts for a trigger at ``trigger_at`` (UTC)."""
    t = as_utc(trigger_at)
    if rule is None:
        return t
    if rule == "month":
        return datetime(t.year + (t.month == 12), t.month % 12 + 1, 1, tzinfo=UTC)
    if rule == "year":
        return datetime(t.year + 1, 1, 1, tzinfo=UTC)
    if rule == "fiscal_year":
        start = fiscal_year_start_month
        year = t.year + 1 if t.month >= start else t.year
        return datetime(year, start, 1, tzinfo=UTC)
    raise ValueError(f"unknown cutoff {rule!r}; known: {', '.join(CUTOFFS)}")


def retain_until(trigger_at: datetime, period: str, rule: str | None, fiscal_year_start_month: int = 1) -> datetime:
    """The first instant at which a record triggered at ``trigger_at`` may be disposed of."""
    return cutoff(trigger_at, rule, fiscal_year_start_month) + parse_period(period)


def explain(trigger: str, trigger_at: datetime, period: str, rule: str | None, until: datetime,
            fiscal_year_start_month: int = 1) -> str:
    """Why a record is kept until ``until``, in words an auditor reads."""
    start = cutoff(trigger_at, rule, fiscal_year_start_month)
    cut = f", cut off at the end of the {rule.replace('_', ' ')} ({start.date().isoformat()})" if rule else ""
    return f"{period} after {trigger} ({as_utc(trigger_at).date().isoformat()}){cut}: kept until {until.date().isoformat()}"
