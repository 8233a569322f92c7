"""Evaluation metrics: declared by plugins, computed by the store's aggregate queries.

A metric is data, not code: which files (or which of their deadlines) make its denominator, which
of those also count in its numerator, and its target. Adapters translate that declaration into
one grouped aggregate query (SQL ``GROUP BY``, a MongoDB ``$group``), so computing a metric over a
million files never loads one of them into Python, and a plugin cannot run code per record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field, field_serializer, model_validator

from records.models import Channel, Complexity, Kind, Urgency


class Subject(StrEnum):
    records = "records"  # one count per file
    deadlines = "deadlines"  # one count per service-level deadline


class Measure(StrEnum):
    share = "share"  # numerator count / denominator count
    mean_hours = "mean_hours"  # sum of hours between two times / count of files that have both


class Period(StrEnum):
    day = "day"
    week = "week"  # ISO weeks, labelled by their Monday
    month = "month"


class Criteria(BaseModel):
    """Conditions on a file's governance fields; all given ones must hold."""

    model_config = {"extra": "forbid"}

    kinds: list[Kind] | None = None
    urgencies: list[Urgency] | None = None
    complexities: list[Complexity] | None = None
    statuses: list[str] | None = None
    archived: bool | None = None
    has_result: bool | None = None
    has_feedback: bool | None = None
    satisfaction_at_least: int | None = Field(None, ge=1, le=5)
    kept_by_first_owner: bool | None = Field(None, description="Never reassigned: first-contact responsibility.")
    deadline_names: list[str] | None = Field(None, description="Deadlines subject: only these service levels.")
    deadline_settled: bool | None = Field(None, description="Deadlines subject: met, or past due now.")
    deadline_on_time: bool | None = Field(None, description="Deadlines subject: met no later than due.")


class Target(BaseModel):
    comparison: Literal[">=", ">", "<=", "<"]
    value: float
    source: str | None = Field(None, description="Where the target comes from, e.g. 'SPEC §1.3'.")

    def met_by(self, value: float | None) -> bool | None:
        if value is None:
            return None
        return {">=": value >= self.value, ">": value > self.value,
                "<=": value <= self.value, "<": value < self.value}[self.comparison]


class Metric(BaseModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    title_zh: str | None = None
    description: str = ""
    source: str | None = None
    subject: Subject = Subject.records
    measure: Measure = Measure.share
    denominator: Criteria = Field(default_factory=Criteria)
    numerator: Criteria = Field(default_factory=Criteria, description="Applied on top of the denominator's criteria.")
    between: tuple[Literal["received_at", "created_at"], Literal["result_at", "archived_at"]] | None = Field(
        None, description="mean_hours: from which time to which."
    )
    target: Target | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Metric:
        if self.measure is Measure.mean_hours and (self.between is None or self.subject is not Subject.records):
            raise ValueError(f"metric {self.name}: mean_hours needs `between` and the records subject")
        uses_deadlines = any(
            getattr(c, f) is not None for c in (self.denominator, self.numerator)
            for f in ("deadline_names", "deadline_settled", "deadline_on_time")
        )
        if uses_deadlines and self.subject is not Subject.deadlines:
            raise ValueError(f"metric {self.name}: deadline criteria need the deadlines subject")
        return self


class MetricSummary(BaseModel):
    name: str
    title: str
    title_zh: str | None = None
    description: str = ""
    source: str | None = None
    measure: Measure
    target: Target | None = None


class MetricQuery(BaseModel):
    """What to compute over: files received in [from, to), of a kind and channel, grouped or not."""

    received_from: datetime | None = None
    received_to: datetime | None = None
    kind: Kind | None = None
    channel: Channel | None = None
    group_by: Period | None = None
    now: datetime


class MetricBucket(BaseModel):
    period: str | None = Field(None, description="`2026-11-02` (day, or the Monday of a week), `2026-11` (month); null when not grouped.")
    numerator: float
    denominator: int
    value: float | None = Field(None, description="numerator / denominator; null when nothing was counted.")

    # Rounded only on the way out: a total is summed from its periods' exact numerators, so grouping by
    # day, week or month never changes it in the sixth decimal (rounding each period first did).
    @field_serializer("numerator", "value")
    def _six_decimals(self, number: float | None) -> float | None:
        return None if number is None else round(number, 6)


class MetricValues(BaseModel):
    name: str
    title: str
    measure: Measure
    target: Target | None
    group_by: Period | None
    received_from: datetime | None
    received_to: datetime | None
    kind: Kind | None
    channel: Channel | None
    values: list[MetricBucket]
    total: MetricBucket
    meets_target: bool | None = Field(None, description="Whether the total meets the target; null without one or without data.")


def bucket(period: str | None, numerator: float, denominator: int) -> MetricBucket:
    value = numerator / denominator if denominator else None
    return MetricBucket(period=period, numerator=numerator, denominator=denominator, value=value)


@dataclass
class MetricRegistry:
    metrics: dict[str, Metric] = field(default_factory=dict)

    @classmethod
    def from_plugins(cls, hook) -> MetricRegistry:  # type: ignore[no-untyped-def]
        registry = cls()
        hook.records_register_metrics(register=lambda m: registry.metrics.setdefault(m.name, m))
        return registry
