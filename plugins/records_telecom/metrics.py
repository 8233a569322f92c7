"""Evaluation metrics of SPEC.md's "Evaluation metrics" table (§1.3, §1.5, §4.1-§4.5, §5.1, §5.2).

Each is a declaration the store computes with its own aggregate queries. Satisfaction counts a
rating of 4 or 5 (of 5) as satisfied. Where the specification gives two targets, the stricter is
the default and the other is an ``alternative``, one ``RECORDS_METRIC_TARGETS`` setting away.

The §4.1 figures come from the files, as operators report them: service availability from the
outages emergency files record (start, end, service type), the service error rate from the
handled files whose handler recorded that the service itself failed the customer
(``service_failed``). Delivery acceptance (§4.2) gives first-time acceptance; §4.3's limits give
delivery feedback on time.
"""

from __future__ import annotations

from records import hookimpl
from records.metrics import Criteria, Measure, Metric, Subject, Target
from records.models import Kind

RESPONSE = ["response_general", "response_urgent", "response_major"]
DELIVERY_FEEDBACK = ["delivery_feedback_response", "delivery_feedback_handling"]
COMPLETION = ["result_feedback", "major_processing", "major_completion", "emergency_processing", "review_confirmation"]
SATISFIED = 4


@hookimpl(trylast=True)
def records_register_metrics(register) -> None:  # type: ignore[no-untyped-def]
    register(Metric(
        name="satisfaction_rate", title="Customer satisfaction rate", title_zh="客户满意度", source="SPEC §1.3 (≥ 90%); §4.1, §5.2 say ≥ 85%",
        description="Files whose customer rated 4 or 5, of the files with a rating.",
        denominator=Criteria(has_feedback=True), numerator=Criteria(satisfaction_at_least=SATISFIED),
        target=Target(comparison=">=", value=0.90, source="SPEC §1.3"),
        alternatives=[Target(comparison=">=", value=0.85, source="SPEC §4.1, §5.2")],
    ))
    register(Metric(
        name="service_availability", title="Service availability", title_zh="服务可用性", source="SPEC §4.1",
        description="Minutes the service was up, of the minutes in the period: 1 − the outages emergency files "
                    "record (overlapping outages once; by service type with service_type).",
        measure=Measure.availability, target=Target(comparison=">=", value=0.999, source="SPEC §4.1"),
    ))
    register(Metric(
        name="service_error_rate", title="Service error rate", title_zh="服务差错率", source="SPEC §4.1",
        description="Handled files (with a result) in which the service itself failed the customer, as the "
                    "handler recorded (service_failed), of all handled files.",
        denominator=Criteria(has_result=True), numerator=Criteria(service_failed=True),
        target=Target(comparison="<=", value=0.001, source="SPEC §4.1"),
    ))
    register(Metric(
        name="first_time_acceptance", title="Delivery accepted at the first test", title_zh="一次验收通过率",
        source="SPEC §4.2, §4.5",
        description="Delivering work orders whose first acceptance test passed, of those accepted.",
        denominator=Criteria(kinds=[Kind.work_order], delivery_accepted=True), numerator=Criteria(delivery_first_time=True),
    ))
    register(Metric(
        name="delivery_feedback_on_time", title="Feedback after delivery on time", title_zh="交付反馈及时率",
        source="SPEC §4.3",
        description="§4.3's deadlines (answered within 24 h, handled within 72 h of the accepted delivery) met on "
                    "time, of those met or past due.",
        subject=Subject.deadlines, denominator=Criteria(deadline_names=DELIVERY_FEEDBACK, deadline_settled=True),
        numerator=Criteria(deadline_on_time=True),
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
