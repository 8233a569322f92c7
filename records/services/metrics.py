"""Computing evaluation metrics over the store (``records.charts`` draws them)."""

from __future__ import annotations

import math
from datetime import date, datetime, time

from records.clock import as_utc, utcnow
from records.errors import InvalidInput, MetricNotFound
from records.metrics import (
    Measure,
    MetricBucket,
    MetricQuery,
    MetricRegistry,
    MetricSummary,
    MetricValues,
    Period,
    availability_buckets,
    bucket,
)
from records.models import Channel, Kind, ServiceType
from records.ports import RecordRepository
from records.registries import RegistriesInForce


def _bound(value: str | date | datetime | None, field: str) -> datetime | None:
    """A date (midnight UTC) or an ISO 8601 time; naive times are UTC."""
    if value is None:
        return None
    try:
        if isinstance(value, str):
            text = value.strip()
            value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        return as_utc(value if isinstance(value, datetime) else datetime.combine(value, time(0)))
    except ValueError as exc:
        raise InvalidInput(f"{field}: not a date (2026-11-01) or an ISO 8601 time: {exc}", field=field) from None


class MetricService:
    def __init__(self, records: RecordRepository, registries: RegistriesInForce) -> None:
        self._records = records
        self._registries = registries

    @property
    def registry(self) -> MetricRegistry:
        """The metrics in force (applying plugins swaps them)."""
        return self._registries.metrics

    def list(self) -> list[MetricSummary]:
        return [MetricSummary(**m.model_dump(include=set(MetricSummary.model_fields))) for m in
                (self.registry.metrics[n] for n in sorted(self.registry.metrics))]

    async def compute(self, name: str, received_from: str | date | datetime | None = None, received_to: str | date | datetime | None = None,
                      kind: Kind | None = None, channel: Channel | None = None, group_by: Period | None = None,
                      service_type: ServiceType | None = None) -> MetricValues:
        metric = self.registry.metrics.get(name)
        if metric is None:
            raise MetricNotFound(f"no metric is called {name!r}; GET /api/v1/metrics lists them")
        start, end = _bound(received_from, "from"), _bound(received_to, "to")
        if start is not None and end is not None and start >= end:
            raise InvalidInput("`from` must be before `to`", field="from")
        now = utcnow()
        query = MetricQuery(received_from=start, received_to=end, kind=kind, channel=channel, service_type=service_type,
                            group_by=group_by, now=now)
        if metric.measure is Measure.availability:
            values = await self._availability(query)
        elif service_type is not None:
            raise InvalidInput("service_type selects outages: it applies to availability metrics only", field="service_type")
        else:
            values = await self._records.aggregate(metric, query)
        total = bucket(None, math.fsum(v.numerator for v in values), sum(v.denominator for v in values))
        return MetricValues(
            name=metric.name, title=metric.title, title_zh=metric.title_zh, measure=metric.measure, target=metric.target, group_by=group_by,
            received_from=start, received_to=end, kind=kind, channel=channel, service_type=service_type,
            values=values if group_by else [],
            total=total, meets_target=metric.target.met_by(total.value) if metric.target else None,
        )


    async def _availability(self, query: MetricQuery) -> list[MetricBucket]:
        """Availability is over a period of time, not over files received in it: ``from`` is
        required, ``to`` defaults to now, and only outages recorded on emergency files count."""
        if query.received_from is None:
            raise InvalidInput("availability is measured over a period: give `from` (and `to`, default now)", field="from")
        if query.channel is not None or query.kind not in (None, Kind.emergency):
            raise InvalidInput("availability is computed from emergency files' outages: kind and channel do not apply",
                               field="kind" if query.channel is None else "channel")
        end = query.received_to or query.now
        outages = await self._records.outages(query.received_from, end,
                                              query.service_type.value if query.service_type else None)
        return availability_buckets(outages, query.received_from, end, query.now, query.group_by)
