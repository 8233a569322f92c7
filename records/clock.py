"""Time in one place: UTC, microsecond precision, and a fixed text form that sorts correctly.

``utcnow`` reads the clock through ``clock_source`` so that tests (and a retention forecast)
can set the time: retention decides what may be destroyed by the date, and a test of "not a day
early" needs a clock it controls. Modules import ``utcnow`` by name; replacing the source here
reaches all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime


def _system_clock() -> datetime:
    return datetime.now(UTC)


clock_source: Callable[[], datetime] = _system_clock


def utcnow() -> datetime:
    return clock_source()


def set_clock(source: Callable[[], datetime] | None) -> None:
    """Read time from ``source`` from now on (None: the system clock again)."""
    global clock_source
    clock_source = source or _system_clock


@contextmanager
def frozen_at(moment: datetime) -> Iterator[None]:
    """The clock reads ``moment`` inside the block (tests)."""
    previous = clock_source
    set_clock(lambda: moment)
    try:
        yield
    finally:
        set_clock(previous)


def as_utc(value: datetime) -> datetime:
    """Aware datetimes convert to UTC; naive ones are taken to be UTC already. Times outside the
    years 1000-9998 are refused (ValueError): they are typing mistakes, and near the ends of the
    calendar a time-zone shift overflows."""
    if not 1000 <= value.year <= 9998:
        raise ValueError("must be between the years 1000 and 9998")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_text(value: datetime) -> str:
    """Fixed-width ISO 8601 in UTC, so that text order is time order (used for indexed columns)."""
    v = as_utc(value)
    return f"{v.year:04d}-{v:%m-%dT%H:%M:%S.%f}Z"


def parse_text(text: str) -> datetime:
    """The inverse of ``to_text`` (and of any ISO 8601 time a store hands back)."""
    return as_utc(datetime.fromisoformat(text))
