"""Time in one place: UTC, microsecond precision, and a fixed text form that sorts correctly."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Aware datetimes convert to UTC; naive ones are taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_text(value: datetime) -> str:
    """Fixed-width ISO 8601 in UTC, so that text order is time order (used for indexed columns)."""
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
