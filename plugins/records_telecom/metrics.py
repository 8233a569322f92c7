"""Evaluation metrics of SPEC.md's "Evaluation metrics" table (§1.3, §1.5, §4.1, §4.5, §5.1, §5.2).

Each is a declaration the store computes with its own aggregate queries. Satisfaction counts a
rating of 4 or 5 (of 5) as satisfied. Where the specification gives two targets, the stricter is
the default and the other is named in ``source``.

Not here, because customer-service files cannot measure them: service error rate (≤ 0.1%, §4.1)
and service availability (≥ 99.9%, §4.1) are properties of the network and the service platform.
"""

from __future__ import annotations

from records import hookimpl
from records.metrics import Criteria, Measure, Metric, Subject, Target
from records.models import Kind

RESPONSE = ["response_general", "response_urgent", "response_major"]
COMPLETION = ["result_feedback", "major_processing", "major_completion", "emergency_processing", "review_confirmation"]
SATISFIED = 4


@hookimpl(trylast=True)
def records_register_metrics(register) -> None:  # type: ignore[no-untyped-def]
    register(Metric(
        name="satisfaction_rate", title="Customer satisfaction rate", title_zh="客户满意度", source="SPEC §1.3 (≥ 90%); §4.1, §5.2 say ≥ 85%",
        description="Files whose customer rated 4 or 5, of the files with a rating.",
        denominator=Criteria(has_feedback=True), numerator=Criteria(satisfaction_at_least=SATISFIED),
        target=Target(comparison=">=", value=0.90, source="SPEC §1.3"),
    ))
    register(Metric(
        name="complaint_rate", title="Complaint rate", title_zh="投诉率", source="SPEC §5.2",
        description="Complaints, of all files received.",
        numerator=Criteria(kinds=[Kind.complaint]), target=Target(comparison="<", value=0.005, source="SPEC §5.2"),
    ))
    register(Metric(
        name="response_within_limit", title="Response within its limit", title_zh="及时响应率", source="SPEC §4.5, §2.2",
        description="Response deadlines met on time, of those met or past due.",
        subject=Subject.deadlines, denominator=Criteria(deadline_names=RESPONSE, deadline_settled=True),
        numerator=Criteria(deadline_on_time=True),
    ))
    register(Metric(
        name="on_time_completion", title="On-time completion (time-limited completion)", title_zh="限时办结率",
        source="SPEC §5.1, §5.2", description="Completion deadlines met on time, of those met or past due.",
        subject=Subject.deadlines, denominator=Criteria(deadline_names=COMPLETION, deadline_settled=True),
        numerator=Criteria(deadline_on_time=True),
    ))
    register(Metric(
        name="completion_rate", title="Completion rate", title_zh="办结率", source="SPEC §5.2",
        description="Files with a result given to the customer, of all files received.",
        numerator=Criteria(has_result=True),
    ))
    register(Metric(
        name="first_contact_resolution", title="First-contact resolution", title_zh="首问负责解决率", source="SPEC §5.1, §5.2",
        description="Files resolved by the agent who first took them (never reassigned), of the files with a result.",
        denominator=Criteria(has_result=True), numerator=Criteria(kept_by_first_owner=True),
    ))
    register(Metric(
        name="processing_time", title="Processing time (hours, mean)", title_zh="平均处理时长", source="SPEC §4.5, §5.1",
        description="Mean hours from receipt to the result, over files with a result.",
        measure=Measure.mean_hours, between=("received_at", "result_at"),
    ))
    register(Metric(
        name="complaint_satisfaction", title="Complaint-handling satisfaction", title_zh="投诉处理满意度",
        source="SPEC §1.5 (national figure 91.8%, 2023)",
        description="Complaints whose customer rated 4 or 5, of the complaints with a rating.",
        denominator=Criteria(kinds=[Kind.complaint], has_feedback=True), numerator=Criteria(satisfaction_at_least=SATISFIED),
    ))
