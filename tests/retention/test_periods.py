"""Retention arithmetic: ISO 8601 periods, cutoff rounding, retain-until."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from records.retention.periods import cutoff, parse_period, retain_until


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize("text", ["P3Y", "P18M", "P2W", "P30D", "P0D", "P1Y6M"])
def test_calendar_periods_parse(text):
    parse_period(text)


@pytest.mark.parametrize("text", ["", "P", "3Y", "PT5H", "P1DT2H", "-P1D", "P1.5Y", "P2000Y", "forever"])
def test_other_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_period(text)


@pytest.mark.parametrize(("trigger", "rule", "start"), [
    (at(2026, 3, 4, 15), None, at(2026, 3, 4, 15)),
    (at(2026, 3, 4, 15), "month", at(2026, 4, 1)),
    (at(2026, 12, 31, 23, 59), "month", at(2027, 1, 1)),
    (at(2026, 3, 4), "year", at(2027, 1, 1)),
    (at(2026, 1, 1), "year", at(2027, 1, 1)),
])
def test_cutoff_rounds_up_to_the_end_of_the_period(trigger, rule, start):
    assert cutoff(trigger, rule) == start


@pytest.mark.parametrize(("trigger", "start"), [
    (at(2026, 3, 31), at(2026, 4, 1)),  # fiscal year April-March: March is its last month
    (at(2026, 4, 1), at(2027, 4, 1)),
    (at(2026, 12, 5), at(2027, 4, 1)),
])
def test_fiscal_year_cutoff(trigger, start):
    assert cutoff(trigger, "fiscal_year", fiscal_year_start_month=4) == start


def test_years_and_months_count_on_the_calendar():
    assert retain_until(at(2026, 3, 4), "P3Y", "year") == at(2030, 1, 1)
    assert retain_until(at(2024, 1, 31), "P1M", None) == at(2024, 2, 29)  # clamped to the month's last day
    assert retain_until(at(2024, 2, 29), "P1Y", None) == at(2025, 2, 28)
    assert retain_until(at(2026, 3, 4, 10), "P0D", None) == at(2026, 3, 4, 10)
