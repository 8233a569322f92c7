"""Business calendars: working-day limits across China's public holidays, and visible fallbacks.

SPEC §3.1 and §3.4 count some limits in working days. The default calendar (`cn`, built-in plugin
`records_telecom.calendars`) follows China's official holidays and adjusted working days; where it
has no data (a year not yet announced), the day is counted Monday to Friday and the deadline says
so, and a request never fails for it. Operators add a year with `RECORDS_HOLIDAY_FILE`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from records import hookimpl
from records.calendars import CalendarRegistry, HolidayTable
from records.errors import InvalidConfiguration
from records.plugins.manager import plugin_manager
from records.settings import load_settings


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(scope="module")
def hook():
    return plugin_manager().hook


@pytest.fixture(scope="module")
def cn(hook) -> CalendarRegistry:
    return CalendarRegistry.from_plugins(hook, "cn")


def write(tmp_path: Path, text: str, name: str = "holidays.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the China calendar ---------------------------------------------------------------------


def test_two_working_days_across_national_day_land_on_9_october(cn):
    # 30 September 2026 (Wednesday, 10:00 in Shanghai); 1-7 October is the National Day holiday,
    # 8 and 9 October are the first working days after it: due at the end of 9 October, Shanghai.
    deadline = cn.add_working_days(utc(2026, 9, 30, 2, 0), 2)
    assert deadline.due_at == utc(2026, 10, 9, 16, 0)
    assert deadline.calendar == "cn"
    assert deadline.fallback is False


def test_the_weekdays_calendar_ignores_the_holiday(cn):
    deadline = cn.add_working_days(utc(2026, 9, 30, 2, 0), 2, "weekdays")
    assert deadline.due_at == utc(2026, 10, 2, 16, 0)  # Thursday 1 and Friday 2 October
    assert deadline.calendar == "weekdays"
    assert deadline.fallback is False


def test_an_adjusted_working_saturday_counts(cn):
    # Received Friday 9 October 2026; Saturday 10 October is an adjusted working day (调休),
    # Sunday 11 is not: the 2nd working day is Monday 12 October.
    deadline = cn.add_working_days(utc(2026, 10, 9, 2, 0), 2)
    assert deadline.due_at == utc(2026, 10, 12, 16, 0)
    # The plain weekday calendar skips that Saturday: Monday 12 and Tuesday 13.
    assert cn.add_working_days(utc(2026, 10, 9, 2, 0), 2, "weekdays").due_at == utc(2026, 10, 13, 16, 0)


def test_one_working_day_from_the_eve_of_the_saturday(cn):
    deadline = cn.add_working_days(utc(2026, 10, 9, 2, 0), 1)
    assert deadline.due_at == utc(2026, 10, 10, 16, 0)  # the working Saturday itself


def test_days_begin_in_shanghai_not_utc(cn):
    # 8 October 17:00 UTC is already 9 October 01:00 in Shanghai: the day of receipt is the 9th,
    # so two working days are Saturday 10 and Monday 12 October.
    deadline = cn.add_working_days(utc(2026, 10, 8, 17, 0), 2)
    assert deadline.due_at == utc(2026, 10, 12, 16, 0)


def test_zero_working_days_end_with_the_day_of_receipt(cn):
    assert cn.add_working_days(utc(2026, 10, 9, 2, 0), 0).due_at == utc(2026, 10, 9, 16, 0)


def test_cn_is_the_registered_default_and_weekdays_is_always_there(hook):
    registry = CalendarRegistry.from_plugins(hook, "cn")
    assert {"cn", "weekdays"} <= set(registry.calendars)
    assert registry.get(None).name == "cn"
    assert registry.calendars["cn"].timezone == "Asia/Shanghai"


# --- no data: fall back visibly, never fail ---------------------------------------------------


def test_a_year_without_data_falls_back_to_monday_to_friday(cn):
    # chinese-calendar 1.11 has no 2027 table: Wednesday 3 March 2027 + 2 → end of Friday 5 March.
    deadline = cn.add_working_days(utc(2027, 3, 3, 2, 0), 2)
    assert deadline.due_at == utc(2027, 3, 5, 16, 0)
    assert deadline.fallback is True
    assert deadline.calendar == "cn"


def test_a_deadline_running_into_a_year_without_data_is_flagged(cn):
    # Received 30 December 2026 with data; the limit runs into 2027, which has none.
    deadline = cn.add_working_days(utc(2026, 12, 30, 2, 0), 5)
    assert deadline.fallback is True
    assert deadline.due_at > utc(2027, 1, 1)


def test_far_future_and_long_limits_never_raise(cn):
    deadline = cn.add_working_days(utc(2031, 6, 1, 2, 0), 365)
    assert deadline.fallback is True
    assert deadline.due_at > utc(2032, 6, 1)


def test_within_known_data_there_is_no_fallback(cn):
    assert cn.add_working_days(utc(2026, 11, 2, 2, 0), 3).fallback is False


# --- an operator's holiday table --------------------------------------------------------------


TABLE_2027 = """
years = [2027]
holidays = ["2027-03-04"]
working_days = ["2027-03-06"]
"""


def test_a_holiday_table_covers_a_missing_year(hook, tmp_path):
    registry = CalendarRegistry.from_plugins(hook, "cn", write(tmp_path, TABLE_2027))
    # Wednesday 3 March 2027: Thursday 4 is a holiday in the table, Friday 5 counts, Saturday 6 is
    # an adjusted working day in the table: due at the end of Saturday 6 March, and not an estimate.
    deadline = registry.add_working_days(utc(2027, 3, 3, 2, 0), 2)
    assert deadline.due_at == utc(2027, 3, 6, 16, 0)
    assert deadline.fallback is False


def test_a_holiday_table_covers_plain_weeks_of_its_years(hook, tmp_path):
    registry = CalendarRegistry.from_plugins(hook, "cn", write(tmp_path, TABLE_2027))
    # A week in 2027 with nothing listed: Monday to Friday, from the table, no fallback.
    deadline = registry.add_working_days(utc(2027, 6, 4, 2, 0), 2)  # Friday 4 June 2027
    assert deadline.due_at == utc(2027, 6, 8, 16, 0)
    assert deadline.fallback is False


def test_a_holiday_table_does_not_claim_years_it_does_not_declare(hook, tmp_path):
    registry = CalendarRegistry.from_plugins(hook, "cn", write(tmp_path, TABLE_2027))
    assert registry.add_working_days(utc(2028, 3, 1, 2, 0), 2).fallback is True


def test_a_holiday_table_overrides_the_calendar_for_the_days_it_lists(hook, tmp_path):
    # 8 October 2026 is a working day in the official calendar; an operator's table closes it.
    path = write(tmp_path, 'holidays = ["2026-10-08"]\n')
    registry = CalendarRegistry.from_plugins(hook, "cn", path)
    deadline = registry.add_working_days(utc(2026, 9, 30, 2, 0), 2)
    assert deadline.due_at == utc(2026, 10, 10, 16, 0)  # 9 October, then the working Saturday
    assert deadline.fallback is False


def test_the_holiday_table_loads_the_documented_example(tmp_path):
    table = HolidayTable.load(write(tmp_path, (
        'years = [2027]                                  # years this table fully describes\n'
        'holidays = ["2027-01-01", "2027-02-16"]         # days off, even on weekdays\n'
        'working_days = ["2027-02-20"]                   # adjusted working days, even on weekends\n'
    )))
    assert table.answer(date(2027, 1, 1)) is False
    assert table.answer(date(2027, 2, 20)) is True  # a Saturday
    assert table.answer(date(2027, 2, 21)) is False  # a plain Sunday of a described year
    assert table.answer(date(2027, 2, 22)) is True
    assert table.answer(date(2028, 1, 3)) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("years = [2027\n", "not valid TOML"),
        ('years = [2027]\nholidays = ["2027-01-01"]\nclosed = ["2027-01-02"]\n', "closed"),
        ('holidays = ["2027-02-20"]\nworking_days = ["2027-02-20"]\n', "2027-02-20"),
        ('holidays = ["not a date"]\n', "holidays"),
        ('years = "2027"\n', "years"),
    ],
    ids=["invalid-toml", "unknown-key", "holiday-and-working-day", "bad-date", "bad-years"],
)
def test_a_bad_holiday_file_is_refused_with_a_clear_message(hook, tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(InvalidConfiguration) as caught:
        CalendarRegistry.from_plugins(hook, "cn", path)
    message = str(caught.value)
    assert str(path) in message
    assert expected in message


def test_a_day_both_holiday_and_working_day_is_named_as_such(tmp_path):
    path = write(tmp_path, 'holidays = ["2027-02-20"]\nworking_days = ["2027-02-20"]\n')
    with pytest.raises(InvalidConfiguration, match="both"):
        HolidayTable.load(path)


def test_a_missing_holiday_file_is_refused(hook, tmp_path):
    missing = tmp_path / "nowhere" / "holidays.toml"
    with pytest.raises(InvalidConfiguration) as caught:
        CalendarRegistry.from_plugins(hook, "cn", missing)
    assert str(missing) in str(caught.value)
    assert "cannot read" in str(caught.value)


# --- calendar plugins -------------------------------------------------------------------------


@dataclass(frozen=True)
class FlakyCalendar:
    name: str = "flaky"
    timezone: str = "Asia/Shanghai"

    def is_working_day(self, day: date) -> bool | None:
        raise RuntimeError("holiday service unreachable")


@dataclass(frozen=True)
class ClosedMondays:
    name: str = "cn"
    timezone: str = "Asia/Shanghai"

    def is_working_day(self, day: date) -> bool | None:
        return day.weekday() in (1, 2, 3, 4)


class CalendarPlugin:
    def __init__(self, *calendars) -> None:  # type: ignore[no-untyped-def]
        self.calendars = calendars

    @hookimpl
    def records_register_calendars(self, register):
        for calendar in self.calendars:
            register(calendar)


def test_a_calendar_that_raises_is_counted_monday_to_friday(caplog):
    pm = plugin_manager()
    pm.register(CalendarPlugin(FlakyCalendar()), name="flaky-calendar")
    registry = CalendarRegistry.from_plugins(pm.hook, "flaky")
    deadline = registry.add_working_days(utc(2026, 9, 30, 2, 0), 2)  # would be 9 October with cn
    assert deadline.due_at == utc(2026, 10, 2, 16, 0)
    assert deadline.fallback is True
    assert deadline.calendar == "flaky"
    assert "holiday service unreachable" in caplog.text


def test_an_installed_calendar_replaces_a_built_in_of_the_same_name():
    pm = plugin_manager()
    pm.register(CalendarPlugin(ClosedMondays()), name="closed-mondays")
    registry = CalendarRegistry.from_plugins(pm.hook, "cn")
    assert isinstance(registry.calendars["cn"], ClosedMondays)
    # Friday 9 October 2026 + 2: Saturday, Sunday and Monday closed → Tuesday 13, Wednesday 14.
    assert registry.add_working_days(utc(2026, 10, 9, 2, 0), 2).due_at == utc(2026, 10, 14, 16, 0)


def test_a_calendar_with_an_unknown_time_zone_is_refused():
    pm = plugin_manager()
    pm.register(CalendarPlugin(FlakyCalendar(name="mars", timezone="Mars/Olympus_Mons")), name="mars")
    with pytest.raises(InvalidConfiguration, match="Mars/Olympus_Mons"):
        CalendarRegistry.from_plugins(pm.hook, "cn")


def test_an_unknown_default_calendar_is_refused(hook):
    with pytest.raises(InvalidConfiguration) as caught:
        CalendarRegistry.from_plugins(hook, "atlantis")
    assert "atlantis" in str(caught.value)
    assert "cn" in str(caught.value) and "weekdays" in str(caught.value)  # says which exist


def test_blocking_the_calendar_plugin_leaves_only_weekdays():
    pm = plugin_manager(block=["telecom-calendars"])
    with pytest.raises(InvalidConfiguration, match="'cn'"):
        CalendarRegistry.from_plugins(pm.hook, "cn")
    registry = CalendarRegistry.from_plugins(pm.hook, "weekdays")
    assert set(registry.calendars) == {"weekdays"}


# --- the service refuses a bad configuration ----------------------------------------------------


def _open(settings):  # type: ignore[no-untyped-def]
    from records.installation import Installation

    async def run():
        installation = await Installation.open(settings)
        await installation.close()

    asyncio.run(run())


def test_the_installation_refuses_a_bad_holiday_file(tmp_path, monkeypatch):
    bad = write(tmp_path, 'holidays = ["2027-02-20"]\nworking_days = ["2027-02-20"]\n')
    monkeypatch.setenv("RECORDS_HOLIDAY_FILE", str(bad))
    settings = load_settings(data_dir=tmp_path / "data")
    assert settings.holiday_file == bad
    with pytest.raises(InvalidConfiguration, match="2027-02-20"):
        _open(settings)


def test_the_installation_uses_a_good_holiday_file(tmp_path, monkeypatch):
    from records.installation import Installation

    monkeypatch.setenv("RECORDS_HOLIDAY_FILE", str(write(tmp_path, TABLE_2027)))
    settings = load_settings(data_dir=tmp_path / "data")

    async def run():
        installation = await Installation.open(settings)
        try:
            return installation.records.service_levels.calendars.add_working_days(utc(2027, 3, 3, 2, 0), 2)
        finally:
            await installation.close()

    deadline = asyncio.run(run())
    assert deadline.due_at == utc(2027, 3, 6, 16, 0) and deadline.fallback is False


def test_an_unknown_business_calendar_setting_refuses_to_start(tmp_path, monkeypatch):
    monkeypatch.setenv("RECORDS_BUSINESS_CALENDAR", "atlantis")
    with pytest.raises(InvalidConfiguration, match="atlantis"):
        _open(load_settings(data_dir=tmp_path / "data"))


def test_records_serve_refuses_a_bad_holiday_file(tmp_path, monkeypatch):
    import uvicorn
    from click.testing import CliRunner

    from records.cli import main

    served = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, *a, **k: served.append(True))
    bad = write(tmp_path, "years = [2027\n")
    result = CliRunner().invoke(main, ["serve", "--data-dir", str(tmp_path / "data"), "--port", "8765"],
                                env={"RECORDS_HOLIDAY_FILE": str(bad)})
    assert result.exit_code != 0
    assert not served, "the server started with a broken holiday file"
    assert "invalid_configuration" in result.output
    assert "not valid TOML" in result.output
