"""Metric declarations translated into one grouped SQL aggregate over the indexed columns.

Only fixed column names and placeholders reach the SQL text: every value a plugin or a client
gives is a bound parameter.
"""

from __future__ import annotations

from records.clock import to_text
from records.metrics import Criteria, Measure, Metric, MetricBucket, MetricQuery, Period, Subject, bucket

# Periods are UTC calendar days; a week is labelled by its Monday.
PERIODS = {
    None: "NULL",
    Period.day: "substr(r.received_at, 1, 10)",
    Period.week: "date(substr(r.received_at, 1, 10), 'weekday 0', '-6 days')",
    Period.month: "substr(r.received_at, 1, 7)",
}


def _in(column: str, values: list[str]) -> tuple[str, list[object]]:
    return f"{column} IN ({', '.join('?' * len(values))})", list(values)


def _conditions(c: Criteria, now: str) -> tuple[list[str], list[object]]:
    sql: list[str] = []
    args: list[object] = []
    for column, values in (("r.kind", c.kinds), ("r.urgency", c.urgencies), ("r.complexity", c.complexities),
                           ("r.status", c.statuses), ("d.name", c.deadline_names)):
        if values is not None:
            if not values:
                sql.append("0")
                continue
            clause, more = _in(column, [str(v) for v in values])
            sql.append(clause)
            args.extend(more)
    for flag, column in ((c.archived, "r.archived_at"), (c.has_result, "r.result_at"), (c.has_feedback, "r.satisfaction")):
        if flag is not None:
            sql.append(f"{column} IS {'NOT ' if flag else ''}NULL")
    if c.satisfaction_at_least is not None:
        sql.append("r.satisfaction >= ?")
        args.append(c.satisfaction_at_least)
    if c.kept_by_first_owner is not None:
        sql.append("r.owner = r.created_by" if c.kept_by_first_owner else "r.owner <> r.created_by")
    for flag, true_when in ((c.service_failed, "COALESCE(r.service_failed, 0) = 1"),
                            (c.delivery_accepted, "r.delivery_accepted_at IS NOT NULL"),
                            (c.delivery_first_time, "COALESCE(r.delivery_failures, 0) = 0")):
        if flag is not None:
            sql.append(true_when if flag else f"NOT ({true_when})")
    if c.deadline_settled is not None:
        settled = "(d.met_at IS NOT NULL OR d.due_at < ?)"
        sql.append(settled if c.deadline_settled else f"NOT {settled}")
        args.append(now)
    if c.deadline_on_time is not None:
        on_time = "(d.met_at IS NOT NULL AND d.met_at <= d.due_at)"
        sql.append(on_time if c.deadline_on_time else f"NOT {on_time}")
    return sql, args


def aggregate_sql(metric: Metric, query: MetricQuery) -> tuple[str, list[object]]:
    now = to_text(query.now)
    where, args = _conditions(metric.denominator, now)
    for column, value in (("r.kind", query.kind), ("r.channel", query.channel)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value.value)
    if query.received_from is not None:
        where.append("r.received_at >= ?")
        args.append(to_text(query.received_from))
    if query.received_to is not None:
        where.append("r.received_at < ?")
        args.append(to_text(query.received_to))
    numerator, numerator_args = _conditions(metric.numerator, now)
    if metric.measure is Measure.mean_hours:
        assert metric.between is not None
        start, end = (f"r.{name}" for name in metric.between)
        where.append(f"{end} IS NOT NULL")
        hours = f"(julianday({end}) - julianday({start})) * 24.0"
        counted = f"SUM(CASE WHEN {' AND '.join(numerator)} THEN {hours} ELSE 0 END)" if numerator else f"SUM({hours})"
        denominator = f"SUM(CASE WHEN {' AND '.join(numerator)} THEN 1 ELSE 0 END)" if numerator else "COUNT(*)"
        args = numerator_args + numerator_args + args
    else:
        counted = f"SUM(CASE WHEN {' AND '.join(numerator)} THEN 1 ELSE 0 END)" if numerator else "COUNT(*)"
        denominator = "COUNT(*)"
        args = numerator_args + args
    source = "records r"
    if metric.subject is Subject.deadlines:
        source = "record_deadlines d JOIN records r ON r.id = d.record_id"
    period = PERIODS[query.group_by]
    sql = f"SELECT {period} AS period, {counted}, {denominator} FROM {source}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " GROUP BY period ORDER BY period"
    return sql, args


def bucket_rows(rows: list[tuple]) -> list[MetricBucket]:
    return [bucket(period, float(numerator or 0), int(denominator or 0)) for period, numerator, denominator in rows]


def outage_sql(start: str, end: str, service_type: str | None) -> tuple[str, list[object]]:
    """Outages recorded on emergency files that overlap [start, end), open ones (no end) included."""
    sql = ("SELECT incident_started_at, incident_ended_at FROM records WHERE incident_started_at IS NOT NULL"
           " AND incident_started_at < ? AND (incident_ended_at IS NULL OR incident_ended_at > ?)")
    args: list[object] = [end, start]
    if service_type is not None:
        sql += " AND incident_service = ?"
        args.append(service_type)
    return sql, args
