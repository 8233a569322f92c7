"""Time in one place: UTC, microsecond precision, and a fixed text form that sorts correctly."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


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
