"""Legal minimum retention ("floors"): the shortest time a file may be kept, whichever schedule
governs it.

A floor names kinds and/or classification codes and a ``minimum_period`` counted from the day a
file is archived. It comes from a plugin (``register(schedule, minimum_period=..., minimum_source=...)``:
the built-in telecom plugin declares consultations "kept for at least 3 years", SPEC §2.5) or from
an archivist (``POST /api/v1/retention/floors``). A floor binds every path that could make a file
due earlier than ``archived_at + minimum_period``:

- creating, amending (period or scope) and re-applying a schedule whose period is shorter than a
  floor its scope overlaps: refused, 422 ``retention_below_minimum``;
- computing a file's retain-until date (triggers other than archiving, schedules older than the
  floor): raised to the floor's date, and the basis says so;
- a sweep, an ``approve`` or ``extend`` decision and the execution itself: a file whose floor date
  is still ahead is not due, cannot be approved and is not destroyed.

Removing a floor is an admin's audited act (``POST /api/v1/retention/floors/{id}/remove`` with a
reason); the floor stays listed with who removed it, when and why, and a plugin's floor removed
this way is not seeded again.

A console page listing floors needs ``RetentionService.floors()`` (each with ``origin``,
``citation``, ``active``) and shows ``describe()`` as the floor's one-line summary.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from records.clock import as_utc
from records.models import ClassificationCode, Kind, Line, Strict
from records.retention.errors import RetentionBelowMinimum
from records.retention.models import DispositionAction, Reason, RetentionSchedule
from records.retention.periods import parse_period

_REFERENCE = datetime(2000, 1, 1, tzinfo=UTC)  # periods are compared as lengths from one fixed day


def codes_overlap(a: list[str], b: list[str]) -> bool:
    """Whether two code scopes can both cover one file: either is unrestricted, or a code of one is
    the other's or a sub-code of it (``content:network_service`` and ``content:network_service.speed``)."""
    if not a or not b:
        return True

    def related(x: str, y: str) -> bool:
        return x == y or x.startswith(y + ".") or y.startswith(x + ".") or x.startswith(y + ":") or y.startswith(x + ":")

    return any(related(x, y) for x in a for y in b)


def code_covered(codes: list[str], scope: list[str]) -> bool:
    """Whether a file with ``codes`` falls in ``scope`` (a scope code also covers its sub-codes)."""
    if not scope:
        return True
    return any(c == s or c.startswith(s + ".") or c.startswith(s + ":") for s in scope for c in codes)


class FloorIn(Strict):
    """The body of ``POST /api/v1/retention/floors``: an archivist's floor for kinds or codes."""

    kinds: list[Kind] | None = Field(None, min_length=1, description="Kinds it binds; all kinds when omitted.")
    classification: list[ClassificationCode] | None = Field(
        None, min_length=1, max_length=50, description="Codes it binds (a code also covers its sub-codes).")
    minimum_period: str = Field(description="ISO 8601 duration counted from archiving, e.g. `P3Y`.")
    citation: Line | None = Field(None, description="The law or clause that imposes it, e.g. `SPEC §2.5`.")
    reason: Reason

    @field_validator("minimum_period")
    @classmethod
    def _period(cls, value: str) -> str:
        parse_period(value)
        return value

    @model_validator(mode="after")
    def _scoped(self) -> FloorIn:
        if not self.kinds and not self.classification:
            raise ValueError("a floor names kinds, classification codes or both")
        return self


class FloorRemoval(Strict):
    reason: Reason


class RetentionFloor(BaseModel):
    id: str
    key: str = Field(description="Unique: `plugin:<name>:<schedule>` for a plugin's floor, else the id.")
    kinds: list[Kind] = Field(default_factory=list, description="Empty: every kind.")
    classification: list[str] = Field(default_factory=list, description="Empty: every code.")
    minimum_period: str
    origin: str = Field(description="`plugin:<name>` or `api`.")
    citation: str | None = Field(None, description="Where the obligation comes from (e.g. `SPEC §2.5`).")
    reason: str | None = None
    created_at: datetime
    created_by: str
    removed_at: datetime | None = None
    removed_by: str | None = None
    removal_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.removed_at is None

    def covers(self, kind: Kind, codes: list[str]) -> bool:
        return (not self.kinds or kind in self.kinds) and code_covered(codes, self.classification)

    def overlaps(self, schedule: RetentionSchedule) -> bool:
        kinds = not self.kinds or bool(set(self.kinds) & set(schedule.kinds))
        return kinds and codes_overlap(self.classification, schedule.classification)

    def earliest(self, archived_at: datetime) -> datetime:
        """The first instant a file archived at ``archived_at`` may be disposed of under this floor."""
        return as_utc(archived_at) + parse_period(self.minimum_period)

    def describe(self) -> str:
        scope = " ".join(filter(None, [", ".join(k.value for k in self.kinds) or "every kind",
                                       ("with " + ", ".join(self.classification)) if self.classification else ""]))
        source = self.origin + (f", {self.citation}" if self.citation else "")
        return f"{scope} kept at least {self.minimum_period} after archiving ({source})"

    def problem_facts(self) -> dict[str, Any]:
        return {"id": self.id, "minimum_period": self.minimum_period, "origin": self.origin, "citation": self.citation,
                "kinds": [k.value for k in self.kinds], "classification": self.classification}


class FloorList(BaseModel):
    items: list[RetentionFloor]


def longer_or_equal(period: str, minimum: str) -> bool:
    return _REFERENCE + parse_period(period) >= _REFERENCE + parse_period(minimum)


def check_schedule(schedule: RetentionSchedule, floors: list[RetentionFloor]) -> None:
    """Refuse (422 ``retention_below_minimum``) a schedule that would let a file it governs be due
    before a floor covering that file allows. Permanent schedules keep for good and always pass."""
    if schedule.action is DispositionAction.permanent:
        return
    period = schedule.period or "P0D"
    for floor in floors:
        if floor.active and floor.overlaps(schedule) and not longer_or_equal(period, floor.minimum_period):
            raise RetentionBelowMinimum(
                f"schedule {schedule.name!r} keeps files {period}, but {floor.describe()}: the earliest date "
                f"allowed is {floor.minimum_period} after each file is archived", field="period",
                floor=floor.problem_facts(), earliest_allowed=f"archived_at + {floor.minimum_period}")


def binding(floors: list[RetentionFloor], kind: Kind, codes: list[str], archived_at: datetime | None,
            ) -> tuple[RetentionFloor, datetime] | None:
    """The floor that keeps a file longest and the date it allows disposal from; None when no
    active floor covers the file (or it is not archived, so no clock runs)."""
    if archived_at is None:
        return None
    found = [(f, f.earliest(archived_at)) for f in floors if f.active and f.covers(kind, codes)]
    return max(found, key=lambda pair: pair[1]) if found else None


def refuse_before(floor: RetentionFloor, earliest: datetime, reference: str, what: str) -> RetentionBelowMinimum:
    """The error for a decision that would dispose of a file before its floor allows."""
    return RetentionBelowMinimum(
        f"{reference}: {what} is refused: {floor.describe()}; the earliest date allowed is {earliest.date().isoformat()}",
        field="decisions", floor=floor.problem_facts(), earliest_allowed=earliest.isoformat())
