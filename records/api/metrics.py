"""``/api/v1/metrics`` and ``/api/v1/service-levels``: evaluation and time limits from plugins."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from litestar import Controller, Response, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, QueryParameter
from pydantic import BaseModel, Field

from records.api.auth import admits
from records.api.dependencies import provide_metric_service, provide_record_service
from records.api.problems import problem_responses
from records.charts import chart_text, metric_svg
from records.metrics import MetricSummary, MetricValues, Period
from records.models import Channel, Kind, ServiceType
from records.roles import Role
from records.services.metrics import MetricService
from records.services.records import RecordService

# Metrics are aggregates: no personal data, useful to everyone who runs or oversees the service.
METRIC_READERS = frozenset({Role.admin, Role.supervisor, Role.archivist, Role.compliance_officer, Role.agent})


class MetricList(BaseModel):
    items: list[MetricSummary]


class ServiceLevelInfo(BaseModel):
    name: str
    title: str
    source: str | None
    kinds: list[Kind]
    met_on: list[str]
    limit_seconds: int | None = Field(None, description="An elapsed-time limit, in seconds.")
    working_days: int | None = Field(None, description="A limit in working days of `calendar`.")
    calendar: str | None = None
    conditional: bool = Field(description="Applies only to some files of its kinds (urgency, complexity…).")


class ServiceLevelList(BaseModel):
    items: list[ServiceLevelInfo]
    default_calendar: str


class MetricController(Controller):
    path = "/api/v1/metrics"
    tags = ["metrics"]
    dependencies = {"metrics": Provide(provide_metric_service, sync_to_thread=False)}

    @get("/", operation_id="listMetrics", summary="Evaluation metrics and their targets",
         responses=problem_responses(401, 403), **admits(METRIC_READERS, audit="metric.list"))
    async def list_metrics(self, metrics: NamedDependency[MetricService]) -> MetricList:
        return MetricList(items=metrics.list())

    @get("/{metric:str}", operation_id="getMetric", summary="A metric's values over files received in a period",
         description=(
             "Numerator, denominator and value per period of `received_at` (UTC days; weeks start on Monday), and in "
             "total, with the plugin's target. `from` is included, `to` excluded. `format=svg` draws the series (rates on a 0–100% axis, the target dashed; `lang=zh` in Chinese)."
         ),
         responses={**problem_responses(400, 401, 403, 404, 422)}, **admits(METRIC_READERS, audit="metric.read"))
    async def get_metric(
        self,
        metrics: NamedDependency[MetricService],
        metric: FromPath[str],
        received_from: Annotated[
            str | None, QueryParameter(name="from", max_length=40, description="Received at or after: a date or an ISO 8601 time.")
        ] = None,
        received_to: Annotated[
            str | None, QueryParameter(name="to", max_length=40, description="Received before: a date or an ISO 8601 time.")
        ] = None,
        kind: FromQuery[Kind | None] = None,
        channel: FromQuery[Channel | None] = None,
        group_by: FromQuery[Period | None] = None,
        service_type: Annotated[ServiceType | None, QueryParameter(
            description="Availability metrics: outages of this service type only.")] = None,
        format: Annotated[Literal["json", "svg"], QueryParameter(description="`svg` for a chart.")] = "json",
        lang: Annotated[Literal["en", "zh"], QueryParameter(description="The chart's language.")] = "en",
    ) -> Response[MetricValues] | Response[bytes]:
        values = await metrics.compute(metric, received_from, received_to, kind, channel, group_by, service_type)
        if format == "svg":
            return Response(metric_svg(values, chart_text(values, lang, values.title_zh)), media_type="image/svg+xml")
        return Response(values)


class ServiceLevelController(Controller):
    path = "/api/v1/service-levels"
    tags = ["metrics"]
    dependencies = {"records": Provide(provide_record_service, sync_to_thread=False)}

    @get("/", operation_id="listServiceLevels", summary="Time limits files are under, from plugins and settings",
         responses=problem_responses(401, 403), **admits(*Role, audit="service_level.list"))
    async def list_service_levels(self, records: NamedDependency[RecordService]) -> ServiceLevelList:
        levels = records.service_levels
        items = [
            ServiceLevelInfo(
                name=p.name, title=p.title, source=p.source, kinds=p.kinds, met_on=p.met_on,
                limit_seconds=int(p.limit / timedelta(seconds=1)) if p.limit is not None else None,
                working_days=p.working_days,
                calendar=(p.calendar or levels.calendars.default) if p.working_days is not None else None,
                conditional=p.applies is not None,
            )
            for p in (levels.policies[n] for n in sorted(levels.policies))
        ]
        return ServiceLevelList(items=items, default_calendar=levels.calendars.default)
