"""Escalation, as a team would add it without redeploying the service.

- a classification scheme ``escalation`` (English and Chinese labels, a hierarchy), so files can
  be marked with how far they were escalated (SPEC §1.5: complaints may go to the regulator);
- a metric ``major_complaint_share``: major complaints, of all complaints (SPEC §5.2 reports);
- a lifecycle notification: every breached deadline is logged for the supervisors' dashboard.
"""

from __future__ import annotations

import logging

from records import hookimpl
from records.classification import ClassificationScheme, SchemeCode
from records.metrics import Criteria, Metric, Target
from records.models import Kind, Urgency

log = logging.getLogger("records.plugins.escalation")
BREACHES: list[str] = []  # references of breached files seen by this process (for the dashboard)


@hookimpl
def records_register_classification_schemes(register) -> None:  # type: ignore[no-untyped-def]
    register(ClassificationScheme(
        name="escalation", title_en="Escalation", title_zh="升级",
        codes=[
            SchemeCode(code="internal", label_en="Escalated internally", label_zh="内部升级"),
            SchemeCode(code="internal.supervisor", label_en="To a supervisor", label_zh="升级至主管", parent="internal"),
            SchemeCode(code="external", label_en="Escalated outside", label_zh="外部升级"),
            SchemeCode(code="external.regulator", label_en="To the regulator", label_zh="升级至监管部门", parent="external"),
        ],
    ))


@hookimpl
def records_register_metrics(register) -> None:  # type: ignore[no-untyped-def]
    register(Metric(
        name="major_complaint_share", title="Major complaints, of all complaints", title_zh="重大投诉占比",
        source="SPEC §5.2", denominator=Criteria(kinds=[Kind.complaint]), numerator=Criteria(urgencies=[Urgency.major]),
        target=Target(comparison="<", value=0.05, source="example team target"),
    ))


@hookimpl
def records_lifecycle(event) -> None:  # type: ignore[no-untyped-def]
    if event.name == "deadline_breached":
        BREACHES.append(event.reference)
        log.warning("%s breached %s (due %s)", event.reference, event.detail.get("deadline"), event.detail.get("due_at"))
