"""The disposition review forms turned into the API's bodies: a batch page's into ``POST
/api/v1/retention/batches/{id}/decisions`` (``DecisionsIn``), the reviews page's into ``POST
/api/v1/reviews/decisions`` (``ReviewDecisionIn``). The API's own models check them, so what an
approve, reject or extend needs is said in one place.

The console asks one thing more than the API: a reason for every decision, approvals included,
so that whoever reads the batch later sees why each item went (the API leaves an approval's
reason optional for scripts that approve whole batches by rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from records.errors import InvalidInput, ValidationFailed
from records.retention.models import DecisionsIn, DispositionBatch
from records.retention.review import ReviewDecisionIn
from records.retention.service import RetentionService
from records.roles import Principal

DECISIONS = ("approve", "reject", "extend")
# Which form control a message of the model is about (its ``loc`` names the model's fields).
_FIELDS = {"record_id": "record_id", "decision": "decision", "reason": "reason", "until": "until",
           "batch_id": "item", "items": "item"}


@dataclass
class ReviewForm:
    """What the viewer typed and ticked, kept to show the form again after a refusal."""

    decision: str = ""
    reason: str = ""
    until: str = ""
    scope: str = "selected"
    selected: set[str] = field(default_factory=set)


def read_form(form: Any, name: str = "record_id") -> ReviewForm:
    """The form's fields; ``name`` is the checkboxes' (a record id each, or ``batch:record``)."""
    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    picked = {v for v in form.getall(name, []) if isinstance(v, str)} if hasattr(form, "getall") else set()
    return ReviewForm(decision=text("decision"), reason=text("reason"), until=text("until"),
                      scope=text("scope") or "selected", selected=picked)


def _until(value: str, zone: str) -> datetime | None:
    """The date picked (the installation's calendar): kept until the start of that day there.
    Given to the model as a datetime, not as text: before 1901 the zone's offset has seconds
    (Shanghai's local mean time), which ISO text cannot carry, and the model says what is wrong
    with such a year instead of failing to read it."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("the new retain-until date must be a date (YYYY-MM-DD)", field="until") from None
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(zone))


def _refusal(exc: ValidationError) -> ValidationFailed:
    err = exc.errors()[0]
    names = [str(p) for p in err.get("loc", ()) if isinstance(p, str)]
    message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    target = next((_FIELDS[n] for n in reversed(names) if n in _FIELDS), None)
    if target is None:  # a rule over several fields: the message names the one it wants
        target = next((f for f in ("until", "reason") if f in message), "decision")
    return ValidationFailed(f"{target}: {message}" if target in _FIELDS else message, field=target)


def decisions_of(form: ReviewForm, batch: DispositionBatch, retention: RetentionService, viewer: Principal,
                 zone: str) -> DecisionsIn:
    """The API's body for what the form asks, or ``InvalidInput`` naming the control to correct."""
    if form.decision not in DECISIONS:
        raise InvalidInput("choose approve, reject or extend", field="decision")
    if not form.reason:
        raise InvalidInput("give the reason for this decision", field="reason")
    if form.scope == "waiting":
        ids = [i.record_id for i in retention.waiting_for(batch, viewer)]
        if not ids:
            raise InvalidInput("no item of this batch waits for your decision", field="record_id")
    elif form.scope == "selected":
        ids = sorted(form.selected)
        if not ids:
            raise InvalidInput("select at least one item, or choose every item waiting for you", field="record_id")
    else:
        raise InvalidInput("choose the selected items or every item waiting for you", field="scope")
    until = _until(form.until, zone) if form.decision == "extend" else None
    body = {"decisions": [{"record_id": i, "decision": form.decision, "reason": form.reason, "until": until}
                          for i in ids]}
    try:
        return DecisionsIn.model_validate(body)
    except ValidationError as exc:
        raise _refusal(exc) from None


def review_decision_of(form: ReviewForm, zone: str) -> ReviewDecisionIn:
    """The body of ``POST /api/v1/reviews/decisions`` for the items ticked (``batch:record``)."""
    if form.decision not in DECISIONS:
        raise InvalidInput("choose approve, reject or extend", field="decision")
    if not form.reason:
        raise InvalidInput("give the reason for this decision", field="reason")
    if not form.selected:
        raise InvalidInput("select at least one item", field="item")
    items = []
    for value in sorted(form.selected):
        batch_id, _, record_id = value.partition(":")
        items.append({"batch_id": batch_id, "record_id": record_id})
    until = _until(form.until, zone) if form.decision == "extend" else None
    try:
        return ReviewDecisionIn.model_validate({"decision": form.decision, "reason": form.reason, "until": until,
                                                "items": items})
    except ValidationError as exc:
        raise _refusal(exc) from None
