"""The metrics dashboard: every evaluation metric against its target over a chosen period, its
chart, and the files whose deadlines are breached or due soon.

Values come from ``MetricService.compute`` and the files from ``RecordService.search`` with the
``sla`` filter, as ``GET /api/v1/metrics/{name}`` and ``GET /api/v1/records?sla=`` give them: the
same computation, the same masking, the same audit actions (``metric.list``, ``metric.read``,
``record.list``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from litestar import Controller, Request, Response, get
from litestar.params import Parameter
from litestar.response import Template

from records.api.auth import admits
from records.api.metrics import METRIC_READERS
from records.charts import chart_text, metric_svg
from records.clock import utcnow
from records.console.i18n import N_
from records.console.rendering import language_of, page
from records.errors import RecordsError
from records.metrics import Measure, MetricValues, Period, Target
from records.models import RecordQuery, SlaState
from records.roles import READ_RECORDS

DEFAULT_DAYS = 30
SIGNS = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}
PERIOD_LABELS = {None: N_("whole period"), Period.day: N_("by day"), Period.week: N_("by week"), Period.month: N_("by month")}


def _rate(value: float | None, measure: Measure) -> str:
    if value is None:
        return "—"
    if measure is Measure.mean_hours:
        return f"{value:.1f} h"
    # Availability is judged against 99.9%: it needs the second decimal that a share does not.
    return f"{value:.2%}" if measure is Measure.availability else f"{value:.1%}"


def _target(target: Target | None, measure: Measure) -> str:
    if target is None:
        return ""
    shown = f"{target.value:g} h" if measure is Measure.mean_hours else f"{target.value:.1%}"
    return f"{SIGNS[target.comparison]} {shown}"


@dataclass(frozen=True)
class MetricRow:
    name: str
    title: str
    source: str | None
    value: str
    numerator: float
    denominator: int
    target: str
    target_source: str | None
    alternatives: list[str]
    meets: bool | None
    error: str | None = None


def _period(received_from: str | None, received_to: str | None) -> tuple[str, str]:
    """The period shown: as asked, else the last 30 days (UTC dates, `to` excluded)."""
    today = utcnow().date()
    return received_from or (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(), received_to or (today + timedelta(days=1)).isoformat()


class MetricsPages(Controller):
    path = "/console/metrics"
    include_in_schema = False

    @get("/", name="console-metrics", **admits(METRIC_READERS, audit="metric.list"))
    async def dashboard(
        self, request: Request,
        received_from: Annotated[str | None, Parameter(query="from", max_length=40)] = None,
        received_to: Annotated[str | None, Parameter(query="to", max_length=40)] = None,
        group_by: Period | None = None,
    ) -> Template:
        start, end = _period(received_from, received_to)
        service = request.app.state.metric_service
        zh = language_of(request).startswith("zh")
        rows: list[MetricRow] = []
        problem: str | None = None
        for summary in service.list():
            title = (summary.title_zh if zh and summary.title_zh else summary.title)
            try:
                values: MetricValues = await service.compute(summary.name, start, end)
            except RecordsError as exc:
                # A bad period is the same refusal for every metric: say it once, above the table.
                problem = exc.detail
                break
            rows.append(MetricRow(
                name=summary.name, title=title, source=summary.source, value=_rate(values.total.value, values.measure),
                numerator=values.total.numerator, denominator=values.total.denominator,
                target=_target(values.target, values.measure), target_source=values.target.source if values.target else None,
                alternatives=[f"{_target(t, values.measure)} ({t.source})" if t.source else _target(t, values.measure)
                              for t in summary.alternatives],
                meets=values.meets_target,
            ))
        status = 422 if problem else 200
        return page(request, "metrics/dashboard.html", status_code=status, rows=[] if problem else rows, problem=problem,
                    start=start, end=end, group_by=group_by, periods=PERIOD_LABELS)

    @get("/{metric:str}/chart.svg", name="console-metric-chart", **admits(METRIC_READERS, audit="metric.read"))
    async def chart(
        self, request: Request, metric: str,
        received_from: Annotated[str | None, Parameter(query="from", max_length=40)] = None,
        received_to: Annotated[str | None, Parameter(query="to", max_length=40)] = None,
        group_by: Period | None = None,
    ) -> Response[bytes]:
        start, end = _period(received_from, received_to)
        values = await request.app.state.metric_service.compute(metric, start, end, group_by=group_by)
        svg = metric_svg(values, chart_text(values, language_of(request), values.title_zh), width=720, height=360)
        return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    @get("/deadlines", name="console-deadlines", **admits(READ_RECORDS, audit="record.list"))
    async def deadlines(self, request: Request) -> Template:
        records = request.app.state.record_service
        breached = await records.search(RecordQuery(sla=SlaState.breached), request.user, limit=50)
        due_soon = await records.search(RecordQuery(sla=SlaState.due_soon), request.user, limit=50)
        fragment = request.headers.get("hx-request") == "true"
        template = "metrics/deadlines_fragment.html" if fragment else "metrics/deadlines.html"
        return page(request, template, breached=breached.items, due_soon=due_soon.items, now=utcnow())

