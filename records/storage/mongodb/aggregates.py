"""Metric declarations translated into one MongoDB aggregation pipeline ($match, $unwind, $group).

The declaration is data (``records.metrics``); only fixed field paths come from this module and
every value a plugin or a client gives is a literal inside the pipeline, never a field path or
an operator. Periods and times come precomputed on each document (``received_day``/``_week``/
``_month``, ``*_us``), so the pipeline needs no date operators and groups exactly as SQLite does.
"""

from __future__ import annotations

from typing import Any

from records.clock import to_text
from records.metrics import Criteria, Measure, Metric, MetricQuery, Period, Subject
from records.storage.mongodb.compat import all_of, sum_where

PERIODS: dict[Period | None, Any] = {
    None: None,
    Period.day: "$received_day",
    Period.week: "$received_week",  # the Monday of the ISO week
    Period.month: "$received_month",
}
_MICROS_PER_HOUR = 3_600_000_000


def _literal(value: Any) -> Any:
    """A value that can never be read as a field path or an operator."""
    return {"$literal": value}


def _is_set(path: str) -> dict[str, Any]:
    return {"$ne": [{"$ifNull": [path, None]}, None]}


def conditions(c: Criteria, now: str) -> list[dict[str, Any]]:
    """The criteria as aggregation expressions, all of which must hold."""
    found: list[dict[str, Any]] = []
    for path, values in (("$kind", c.kinds), ("$urgency", c.urgencies), ("$complexity", c.complexities),
                         ("$status", c.statuses), ("$deadlines.name", c.deadline_names)):
        if values is not None:
            found.append({"$in": [path, _literal([str(v) for v in values])]})
    for flag, path in ((c.archived, "$archived_at"), (c.has_result, "$result_at"), (c.has_feedback, "$satisfaction")):
        if flag is not None:
            found.append(_is_set(path) if flag else {"$not": [_is_set(path)]})
    if c.satisfaction_at_least is not None:
        found.append({"$and": [_is_set("$satisfaction"), {"$gte": ["$satisfaction", _literal(c.satisfaction_at_least)]}]})
    if c.kept_by_first_owner is not None:
        same = {"$eq": ["$owner", "$created_by"]}
        found.append(same if c.kept_by_first_owner else {"$not": [same]})
    for flag, true_when in ((c.service_failed, {"$eq": [{"$ifNull": ["$service_failed", False]}, True]}),
                            (c.delivery_accepted, _is_set("$delivery_accepted_at")),
                            (c.delivery_first_time, {"$eq": [{"$ifNull": ["$delivery_failures", 0]}, 0]})):
        if flag is not None:
            found.append(true_when if flag else {"$not": [true_when]})
    if c.deadline_settled is not None:
        settled = {"$or": [_is_set("$deadlines.met_at"), {"$lt": ["$deadlines.due_at", _literal(now)]}]}
        found.append(settled if c.deadline_settled else {"$not": [settled]})
    if c.deadline_on_time is not None:
        on_time = {"$and": [_is_set("$deadlines.met_at"), {"$lte": ["$deadlines.met_at", "$deadlines.due_at"]}]}
        found.append(on_time if c.deadline_on_time else {"$not": [on_time]})
    return found




def metric_pipeline(metric: Metric, query: MetricQuery) -> list[dict[str, Any]]:
    now = to_text(query.now)
    # Plain equality and ranges first: the indexes on kind and received_at serve them.
    match: dict[str, Any] = {}
    if query.kind is not None:
        match["kind"] = query.kind.value
    if query.channel is not None:
        match["channel"] = query.channel.value
    received = {op: to_text(v) for op, v in (("$gte", query.received_from), ("$lt", query.received_to)) if v is not None}
    if received:
        match["received_at"] = received
    pipeline: list[dict[str, Any]] = [{"$match": match}]
    if metric.subject is Subject.deadlines:
        pipeline.append({"$unwind": "$deadlines"})
    denominator = conditions(metric.denominator, now)
    numerator = conditions(metric.numerator, now)
    if metric.measure is Measure.mean_hours:
        assert metric.between is not None
        start, end = (f"${name.removesuffix('_at')}_us" for name in metric.between)
        denominator.append(_is_set(end))
        hours = {"$divide": [{"$subtract": [end, start]}, _MICROS_PER_HOUR]}
        counted, total = sum_where(numerator, hours), sum_where(numerator, 1)
    else:
        counted, total = sum_where(numerator, 1), {"$sum": 1}
    if denominator:
        pipeline.append({"$match": {"$expr": all_of(denominator)}})
    pipeline.append({"$group": {"_id": PERIODS[query.group_by], "numerator": counted, "denominator": total}})
    pipeline.append({"$sort": {"_id": 1}})
    return pipeline


def outage_filter(start: str, end: str, service_type: str | None) -> dict[str, Any]:
    """Outages recorded on emergency files that overlap [start, end), open ones (no end) included."""
    # One condition per clause under $and, and a boolean for "still down": wire-compatible
    # servers differ on several operators in one field's document and on matching null.
    clauses: list[dict[str, Any]] = [
        {"incident_started_at": {"$type": "string"}},
        {"incident_started_at": {"$lt": end}},
        {"$or": [{"incident_open": True}, {"incident_ended_at": {"$gt": start}}]},
    ]
    if service_type is not None:
        clauses.append({"incident_service": service_type})
    return {"$and": clauses}
