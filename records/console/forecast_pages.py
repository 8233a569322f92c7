"""What falls due in the next 30, 90 and 365 days: the sweep's forecast (``POST
/api/v1/retention/sweeps`` with a future ``as_of``, which stores nothing), by kind of file and by
schedule, as a table and a chart.

Each horizon is its own forecast sweep, exactly as the API computes it (legal minimums and holds
included), so the page's numbers are the API's; the page admits the sweep's roles and is audited
as ``retention.sweep``, as the API call is.
"""

from __future__ import annotations

import base64
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from litestar import Controller, Request, get
from litestar.di import NamedDependency, Provide
from litestar.response import Template

from records.api.auth import admits
from records.api.dependencies import provide_retention_service
from records.api.retention import RETENTION_MANAGERS
from records.charts import count_bars_svg
from records.clock import utcnow
from records.console import i18n
from records.console.i18n import N_
from records.console.records_pages import KIND_LABELS
from records.console.rendering import language_of, page
from records.models import Kind
from records.retention.models import SweepIn, SweepResult
from records.retention.service import RetentionService

HORIZONS = (30, 90, 365)
# The most a forecast lists (SweepIn's own bound); beyond it the counts by kind and schedule are
# of the files listed, and the page says so. The totals are always the sweep's.
LISTED: int = next(m.le for m in SweepIn.model_fields["limit"].metadata if hasattr(m, "le"))
HORIZON_LABEL = N_("next %(days)s days")
BY_KIND, BY_SCHEDULE, NOTHING_DUE = N_("Files falling due, by kind"), N_("Files falling due, by schedule"), N_("Nothing falls due")


@dataclass
class Horizon:
    """One forecast sweep's answer, counted by kind and by schedule."""

    days: int
    as_of: datetime
    due: int
    held: int
    truncated: bool
    by_kind: Counter[Kind] = field(default_factory=Counter)
    by_schedule: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, days: int, result: SweepResult) -> tuple[Horizon, dict[str, tuple[int, str]]]:
        horizon = cls(days, result.as_of, result.due, result.held, any(b.truncated for b in result.batches))
        names: dict[str, tuple[int, str]] = {}  # schedule id → (version, name) of the latest version seen
        for batch in result.batches:
            for item in batch.items:
                horizon.by_kind[item.kind] += 1
                horizon.by_schedule[item.schedule.id] += 1
                if item.schedule.version >= names.get(item.schedule.id, (0, ""))[0]:
                    names[item.schedule.id] = (item.schedule.version, item.schedule.name)
        return horizon, names


def _chart(title: str, horizons: list[str], rows: list[tuple[str, list[int]]], empty: str) -> str:
    """The chart as a ``data:`` URL: the page's one request draws it from the same sweeps (the
    console's CSP admits ``data:`` images; an SVG shown as an image runs nothing)."""
    svg = count_bars_svg(title, horizons, rows, empty=empty, width=760, height=380)
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


class ForecastPage(Controller):
    path = "/console/retention/forecast"
    include_in_schema = False
    dependencies = {"retention": Provide(provide_retention_service, sync_to_thread=False)}

    @get("/", name="console-forecast", **admits(RETENTION_MANAGERS, audit="retention.sweep"))
    async def forecast(self, request: Request, retention: NamedDependency[RetentionService]) -> Template:
        now = utcnow()
        horizons: list[Horizon] = []
        names: dict[str, tuple[int, str]] = {}
        for days in HORIZONS:
            result = await retention.sweep(request.user, as_of=now + timedelta(days=days), forecast_limit=LISTED)
            horizon, seen = Horizon.of(days, result)
            horizons.append(horizon)
            for schedule_id, (version, name) in seen.items():
                if version >= names.get(schedule_id, (0, ""))[0]:
                    names[schedule_id] = (version, name)
        translate = i18n.gettext_for(language_of(request))
        kinds = [(kind, [h.by_kind[kind] for h in horizons]) for kind in Kind]
        schedules = sorted(((names[s][1], [h.by_schedule[s] for h in horizons]) for s in names), key=lambda r: r[0].casefold())
        columns = [translate(HORIZON_LABEL) % {"days": h.days} for h in horizons]
        return page(
            request, "retention/forecast.html", horizons=horizons, kinds=kinds, schedules=schedules, columns=columns,
            kind_labels=KIND_LABELS, listed=LISTED,
            kind_chart=_chart(translate(BY_KIND), columns, [(translate(KIND_LABELS[k]), c) for k, c in kinds],
                              translate(NOTHING_DUE)),
            schedule_chart=_chart(translate(BY_SCHEDULE), columns, schedules, translate(NOTHING_DUE)) if schedules else None,
        )


FORECAST_PAGES = [ForecastPage]
