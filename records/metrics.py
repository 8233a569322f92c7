"""Evaluation metrics: declared by plugins, computed by the store's aggregate queries.

A metric is data, not code: which files (or which of their deadlines) make its denominator, which
of those also count in its numerator, and its target. Adapters translate that declaration into
one grouped aggregate query (SQL ``GROUP BY``, a MongoDB ``$group``), so computing a metric over a
million files never loads one of them into Python, and a plugin cannot run code per record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field, field_serializer, model_validator

from records.models import Channel, Complexity, Kind, ServiceType, Urgency


class Subject(StrEnum):
    records = "records"  # one count per file
    deadlines = "deadlines"  # one count per service-level deadline


class Measure(StrEnum):
    share = "share"  # numerator count / denominator count
    mean_hours = "mean_hours"  # sum of hours between two times / count of files that have both
    # minutes the service was up / minutes in the period, from the outages emergency files record
    availability = "availability"


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
    service_failed: bool | None = Field(None, description="The handler recorded that the service itself failed the customer.")
    delivery_accepted: bool | None = Field(None, description="A delivery's acceptance test passed.")
    delivery_first_time: bool | None = Field(None, description="No acceptance test of the delivery failed.")


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
    alternatives: list[Target] = Field(
        default_factory=list, description="Other targets the source gives; RECORDS_METRIC_TARGETS switches to one.")

    @model_validator(mode="after")
    def _consistent(self) -> Metric:
        if self.measure is Measure.mean_hours and (self.between is None or self.subject is not Subject.records):
            raise ValueError(f"metric {self.name}: mean_hours needs `between` and the records subject")
        if self.measure is Measure.availability and (
                self.subject is not Subject.records or self.denominator != Criteria() or self.numerator != Criteria()):
            raise ValueError(f"metric {self.name}: availability is computed from outages, with no criteria")
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
    alternatives: list[Target] = Field(default_factory=list)


class MetricQuery(BaseModel):
    """What to compute over: files received in [from, to), of a kind and channel, grouped or not."""

    received_from: datetime | None = None
    received_to: datetime | None = None
    kind: Kind | None = None
    channel: Channel | None = None
    service_type: ServiceType | None = Field(None, description="Availability: outages of this service type only.")
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
    title_zh: str | None = None
    measure: Measure
    target: Target | None
    group_by: Period | None
    received_from: datetime | None
    received_to: datetime | None
    kind: Kind | None
    channel: Channel | None
    service_type: ServiceType | None = None
    values: list[MetricBucket]
    total: MetricBucket
    meets_target: bool | None = Field(None, description="Whether the total meets the target; null without one or without data.")


def bucket(period: str | None, numerator: float, denominator: int) -> MetricBucket:
    value = numerator / denominator if denominator else None
    return MetricBucket(period=period, numerator=numerator, denominator=denominator, value=value)


TARGET = re.compile(r"^\s*(>=|>|<=|<)\s*([0-9]+(?:\.[0-9]+)?)\s*(%?)\s*$")


def parse_target(text: str, source: str | None = None) -> Target:
    """``">= 0.85"`` or ``">= 85%"`` as a Target. Raises ValueError."""
    match = TARGET.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a target such as '>= 0.85' or '>= 85%'")
    comparison, number, percent = match.groups()
    return Target(comparison=comparison, value=float(number) / (100 if percent else 1), source=source)  # type: ignore[arg-type]


def _floor(moment: datetime, period: Period) -> datetime:
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period is Period.day:
        return day
    if period is Period.week:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next(start: datetime, period: Period) -> datetime:
    if period is Period.day:
        return start + timedelta(days=1)
    if period is Period.week:
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def _label(start: datetime, period: Period) -> str:
    return start.strftime("%Y-%m") if period is Period.month else start.date().isoformat()


def _merged(windows: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def availability_buckets(outages: list[tuple[datetime, datetime | None]], start: datetime, end: datetime,
                         now: datetime, group_by: Period | None) -> list[MetricBucket]:
    """Service availability over [start, end) (SPEC §4.1): per period, minutes the service was
    up (numerator) of the minutes in the period (denominator).

    Outages that overlap count once (two files about one outage, or two services down at once
    when no service type is asked for); one still open lasts until ``now``. The period ends at
    ``now`` at the latest: minutes that have not happened are neither up nor down. Periods are
    UTC days, ISO weeks (labelled by their Monday) and months, like every metric's."""
    end = min(end, now)
    if end <= start:
        return []
    lost = _merged([(max(s, start), min(e or now, end)) for s, e in outages if s < end and (e or now) > start])
    spans = [(start, end, None)]
    if group_by is not None:
        spans, cursor = [], _floor(start, group_by)
        while cursor < end:
            following = _next(cursor, group_by)
            spans.append((max(cursor, start), min(following, end), _label(cursor, group_by)))
            cursor = following
    buckets = []
    for span_start, span_end, label in spans:
        seconds = (span_end - span_start).total_seconds()
        down = sum(max(0.0, (min(e, span_end) - max(s, span_start)).total_seconds()) for s, e in lost)
        minutes = seconds / 60
        buckets.append(MetricBucket(period=label, numerator=(seconds - down) / 60, denominator=round(minutes),
                                    value=(seconds - down) / seconds if seconds else None))
    return buckets


@dataclass
class MetricRegistry:
    metrics: dict[str, Metric] = field(default_factory=dict)

    @classmethod
    def from_plugins(cls, hook, targets: dict[str, str] | None = None,  # type: ignore[no-untyped-def]
                     plugin_settings: dict[str, dict] | None = None) -> MetricRegistry:
        """The metrics plugins register, with targets switched by ``RECORDS_METRIC_TARGETS``
        (``{"satisfaction_rate": ">= 0.85"}``). Raises ValueError naming what is wrong."""
        registry = cls()
        hook.records_register_metrics(register=lambda m: registry.metrics.setdefault(m.name, m),
                                      plugin_settings=plugin_settings or {})
        for name, text in (targets or {}).items():
            metric = registry.metrics.get(name)
            if metric is None:
                raise ValueError(f"metric_targets names {name!r}, which no plugin registers; known: {', '.join(sorted(registry.metrics))}")
            if metric.measure is Measure.mean_hours:
                raise ValueError(f"metric_targets.{name}: a mean in hours has no rate target")
            try:
                chosen = parse_target(text, source="RECORDS_METRIC_TARGETS")
            except ValueError as exc:
                raise ValueError(f"metric_targets.{name}: {exc}") from None
            # The alternative the source gives keeps its citation when it is the one chosen.
            cited = next((t for t in metric.alternatives + [metric.target] if t is not None
                          and (t.comparison, t.value) == (chosen.comparison, chosen.value)), chosen)
            others = [t for t in metric.alternatives + ([metric.target] if metric.target else []) if t is not cited]
            registry.metrics[name] = metric.model_copy(update={"target": cited, "alternatives": others})
        return registry
