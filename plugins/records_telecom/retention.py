"""Default retention schedules of the operator's specification (SPEC.md "Archives, retention
and destruction", §2.5, §3.1, §8.1, §8.5).

- consultation: kept at least 3 years (§2.5, a legal floor no edit may go below), counted from
  the end of the year it was archived in, then destroyed.
- work order, complaint: periods "set by the operator" (§2.5); the defaults keep them 3 years
  after the end of the archiving year too, then put them to an archivist for review (a complaint
  may become evidence; a work order may matter for billing disputes).
- emergency: incident records and their response are the operator's institutional memory
  (§6, §5.1): transferred to the archive of record 10 years after the end of the archiving year.

Each default is stored once, when no schedule of its name exists; archivists change them with
``PATCH /api/v1/retention/schedules/{id}``, and a deployment may replace this plugin.
"""

from __future__ import annotations

from records import hookimpl

# (schedule, legal minimum, where the minimum comes from)
DEFAULTS = [
    ({"name": "Consultations (SPEC §2.5)", "kinds": ["consultation"], "trigger": "archived", "period": "P3Y",
      "cutoff": "year", "action": "destroy"}, "P3Y", "SPEC §2.5"),
    ({"name": "Work orders", "kinds": ["work_order"], "trigger": "archived", "period": "P3Y", "cutoff": "year",
      "action": "review"}, None, None),
    ({"name": "Complaints", "kinds": ["complaint"], "trigger": "archived", "period": "P3Y", "cutoff": "year",
      "action": "review"}, None, None),
    ({"name": "Emergencies", "kinds": ["emergency"], "trigger": "archived", "period": "P10Y", "cutoff": "year",
      "action": "transfer"}, None, None),
]


@hookimpl(trylast=True)
def records_register_retention_schedules(register) -> None:  # type: ignore[no-untyped-def]
    for schedule, minimum, source in DEFAULTS:
        register(schedule, minimum_period=minimum, minimum_source=source)
