"""Service levels: every time limit of SPEC.md's "Time limits" table, as defaults.

Clocks start when the request was received. Where the specification disagrees with itself, the
default and the alternative are named here; ``RECORDS_SERVICE_LEVEL_LIMITS`` switches to the
alternative without code (e.g. ``{"response_general": "PT10M"}`` for §1.3's 10 minutes).

| name | limit | met when the file enters | § |
|---|---|---|---|
| response_general | 20 min | any stage after intake | §2.2 (also §4.1, §5.1; §1.3 says 10 min) |
| response_urgent | 10 min | any stage after intake | §2.2 "complex or urgent" |
| response_major | 1 h | any stage after intake | §2.2 "major event or complaint" |
| registration | 2 working days | investigating | §3.1 "accepted and registered" (complaints) |
| work_order_tracking | 24 h | processing | §3.2 "tracking starts within 24 h" |
| result_feedback | 2 working days | the stage where the result is given | §3.1, §3.4 |
| major_processing | 24 h | the result stage | §3.3 "processing: major" |
| major_completion | 72 h | archived | §3.1, §3.3 "major issue completed" |
| emergency_processing | 12 h | feedback | §3.3 "processing: emergency" |
| review_confirmation | 48 h | the result stage, complex files | §3.3 "review and confirmation" |
| delivery_feedback_response | 24 h from the passed acceptance | processed (the customer's feedback answered) | §4.3 |
| delivery_feedback_handling | 72 h from the passed acceptance | feedback_given (handled, fed back) | §4.3 |
| delivery_follow_up | 5 working days from feedback given | followed_up | §4.4 (no figure in the source: the operator's, by setting) |

Emergencies are excepted from the response limits (§1.3, §4.1). The §3.1/§3.3 "service response
24 h" and "major issue response 48 h" are looser than the §2.2 response limits that already
cover the same files, so they are not separate deadlines. The §4.3 "feedback after delivery"
limits start when a delivering work order's acceptance test passes (§4.2.3), and §4.4's
follow-up when its feedback is given; the specification sets no figure for the follow-up, so
five working days is a default to change with ``RECORDS_SERVICE_LEVEL_LIMITS``.
"""

from __future__ import annotations

from datetime import timedelta

from records import hookimpl
from records.models import Complexity, Kind, Record, Urgency
from records.service_levels import ServiceLevel

AFTER_INTAKE = {
    Kind.consultation: ["accepted"],
    Kind.work_order: ["processing"],
    Kind.complaint: ["investigating"],
}
RESULT_STAGE = ["answered", "processed", "feedback"]  # consultation, work order, complaint/emergency
RESPONDED = sorted({stage for stages in AFTER_INTAKE.values() for stage in stages})
ALL_BUT_EMERGENCY = [Kind.consultation, Kind.work_order, Kind.complaint]


def _urgent_or_complex(record: Record) -> bool:
    return record.urgency is Urgency.urgent or (record.complexity is Complexity.complex and record.urgency is not Urgency.major)


def _general(record: Record) -> bool:
    return record.kind is not Kind.complaint and record.urgency is Urgency.general and record.complexity is not Complexity.complex


def _major_or_complaint(record: Record) -> bool:
    return record.kind is Kind.complaint or record.urgency is Urgency.major


@hookimpl(trylast=True)
def records_register_service_levels(register) -> None:  # type: ignore[no-untyped-def]
    register(ServiceLevel(name="response_general", title="Response, general consultation", title_zh="一般咨询响应", source="SPEC §2.2, §4.1, §5.1",
                          kinds=[Kind.consultation, Kind.work_order], met_on=RESPONDED,
                          limit=timedelta(minutes=20), applies=_general))
    register(ServiceLevel(name="response_urgent", title="Response, complex or urgent", title_zh="复杂或紧急问题响应", source="SPEC §2.2",
                          kinds=[Kind.consultation, Kind.work_order], met_on=RESPONDED,
                          limit=timedelta(minutes=10), applies=lambda r: not _major_or_complaint(r) and _urgent_or_complex(r)))
    register(ServiceLevel(name="response_major", title="Response, major event or complaint", title_zh="重大事件或投诉响应", source="SPEC §2.2",
                          kinds=ALL_BUT_EMERGENCY, met_on=RESPONDED, limit=timedelta(hours=1), applies=_major_or_complaint))
    register(ServiceLevel(name="registration", title="Complaint accepted and registered", title_zh="投诉受理登记", source="SPEC §3.1",
                          kinds=[Kind.complaint], met_on=["investigating"], working_days=2))
    register(ServiceLevel(name="work_order_tracking", title="Tracking starts after the work order is created", title_zh="工单生成后启动跟踪",
                          source="SPEC §3.2", kinds=[Kind.work_order], met_on=["processing"], limit=timedelta(hours=24)))
    register(ServiceLevel(name="result_feedback", title="Result fed back to the customer", title_zh="处理结果反馈客户", source="SPEC §3.1, §3.4",
                          kinds=[Kind.work_order, Kind.complaint], met_on=RESULT_STAGE, working_days=2))
    register(ServiceLevel(name="major_processing", title="Processing, major issue", title_zh="重大问题处理", source="SPEC §3.3",
                          kinds=ALL_BUT_EMERGENCY, met_on=RESULT_STAGE, limit=timedelta(hours=24),
                          applies=lambda r: r.urgency is Urgency.major))
    register(ServiceLevel(name="major_completion", title="Major issue completed", title_zh="重大问题处理完成", source="SPEC §3.1, §3.3",
                          kinds=ALL_BUT_EMERGENCY, met_on=["archived"], limit=timedelta(hours=72),
                          applies=lambda r: r.urgency is Urgency.major))
    register(ServiceLevel(name="emergency_processing", title="Processing, emergency", title_zh="紧急问题处理", source="SPEC §3.3",
                          kinds=[Kind.emergency], met_on=["feedback"], limit=timedelta(hours=12)))
    register(ServiceLevel(name="delivery_feedback_response", title="Feedback after delivery answered", title_zh="交付后反馈响应", source="SPEC §4.3",
                          kinds=[Kind.work_order], starts_on=["delivery_passed"], met_on=["processed"],
                          limit=timedelta(hours=24)))
    register(ServiceLevel(name="delivery_feedback_handling", title="Feedback after delivery handled", title_zh="交付后反馈处理", source="SPEC §4.3",
                          kinds=[Kind.work_order], starts_on=["delivery_passed"], met_on=["feedback_given"],
                          limit=timedelta(hours=72)))
    register(ServiceLevel(name="delivery_follow_up", title="Follow-up after delivery", title_zh="交付后跟进",
                          source="SPEC §4.4 (no figure given: the operator's)", kinds=[Kind.work_order],
                          starts_on=["feedback_given"], met_on=["followed_up"], working_days=5,
                          applies=lambda r: r.delivery is not None and r.delivery.accepted_at is not None))
    register(ServiceLevel(name="review_confirmation", title="Review and confirmation, complex file", title_zh="复杂问题复核确认", source="SPEC §3.3",
                          kinds=ALL_BUT_EMERGENCY, met_on=RESULT_STAGE, limit=timedelta(hours=48),
                          applies=lambda r: r.complexity is Complexity.complex and r.urgency is not Urgency.major))
