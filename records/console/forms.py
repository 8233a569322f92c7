"""Reading console forms into the API's input models: text fields, dates typed in the
installation's zone, and a refusal turned into the message shown beside its field.

A page validates a form by building the same model the API route takes (``HoldIn``,
``ScheduleIn``…), so a rule stays in the model; this module only carries form values there and
the model's or service's refusal back to the field it concerns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from records.errors import InvalidInput, RecordsError

MAX_FIELD = 20_000  # as long as any model's text; a list typed as text (record ids) says its own limit


def text(form: Any, name: str, limit: int | None = MAX_FIELD) -> str | None:
    """A text field, stripped; None when absent or blank. Longer than ``limit`` is refused, never
    cut short: a cut list of record ids would hold fewer files than were typed, or name a
    fragment. ``limit=None`` for a field the request's body limit and its model bound."""
    value = form.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    if limit is not None and len(value) > limit:
        raise InvalidInput(f"{name} may be at most {limit} characters", field=name)
    return value or None


def values_of(form: Any, *names: str) -> dict[str, str]:
    """What was typed, to show the form again (never the CSRF token)."""
    return {name: value for name in names if isinstance(value := form.get(name), str)}


def local_moment(value: str | None, name: str, zone: str) -> datetime | None:
    """A date (``2026-03-01``, the start of that day) or date and time typed in the installation's
    zone, as an aware datetime; a clear refusal naming the field when it is neither."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} is not a date; write it as 2026-03-01 (or 2026-03-01T09:30)", field=name) from None
    return moment.replace(tzinfo=ZoneInfo(zone)) if moment.tzinfo is None else moment


@dataclass(frozen=True)
class FormError:
    """A refusal as a form shows it: the status the API answers, the message, and the field."""

    status: int
    message: str
    field: str | None = None
    code: str = "invalid_input"

    @classmethod
    def of(cls, exc: RecordsError, fields: dict[str, str] | None = None) -> FormError:
        field = exc.extra.get("field")
        field = (fields or {}).get(field, field) if isinstance(field, str) else None
        return cls(exc.status, exc.detail, field, exc.code)

    @classmethod
    def of_validation(cls, exc: ValidationError, fields: dict[str, str] | None = None) -> FormError:
        """The model's first complaint; ``fields`` maps a location (``query.customer_phone``) to the
        form field that shows it."""
        err = exc.errors()[0]
        location = ".".join(str(p) for p in err["loc"] if not isinstance(p, int))
        message = str(err["msg"]).removeprefix("Value error, ")
        return cls(422, f"{location}: {message}" if location else message,
                   (fields or {}).get(location, location or None), "validation_failed")
