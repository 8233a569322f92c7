"""Stages of the four kinds of file, from the operator's specification (SPEC.md "Workflow stages").

- consultation, §2.2: consult → accept (first judgement) → classify → process → feedback and record
- work order, §3.2: pending → processing → processed → feedback given → archived
- delivery acceptance, §4.2, for work orders of a service type that delivers (activation,
  installation, plan change): processing → delivery preparation (§4.2.1) → acceptance test
  (§4.2.2) → passed (the customer's signed confirmation, §4.2.3) → processed, or failed (say why,
  §4.2.3) → rectification → delivery preparation again, each attempt kept on the timeline; after
  feedback given, a follow-up (§4.4) before archiving. The plugin setting
  ``telecom.delivering_service_types`` (``RECORDS_PLUGIN_SETTINGS``) names the service types that
  deliver; default: network and voice (lines, broadband and their activation are installed and
  accepted; billing changes are not delivered to the customer's premises).
- complaint, §1.5: accepted → investigating → handling (remedy) → feedback (customer rates it) → archived
- emergency, §6.1-6.5 and the closed loop of §3.5: receive → assign (one named owner) → process →
  feedback → archive ("process first, feedback after")

Guards carry the rules the specification states: a complaint does not reach feedback without a
result, nor close without the customer's feedback (§1.5); only the owner or a supervisor moves
a work order (§3.2 first-contact responsibility). Archiving (§8.1) is for archivists,
supervisors and admins.
"""

from __future__ import annotations

from collections.abc import Callable

from records import hookimpl
from records.models import Kind, Record, ServiceType
from records.roles import Principal, Role
from records.workflow import Acceptance, Stage, Transition, Workflow

HANDLERS = [Role.agent, Role.supervisor, Role.admin]
ARCHIVERS = [Role.archivist, Role.supervisor, Role.admin]
SECTION = "telecom"
DELIVERING_DEFAULT = (ServiceType.network, ServiceType.voice)
WORK_ORDER = ["pending", "processing", "processed", "feedback_given", "archived"]
# Stages only a delivering work order passes through (§4.2, §4.4).
DELIVERY = ["delivery_preparation", "acceptance_test", "delivery_passed", "delivery_failed", "rectification", "followed_up"]


# What the specification calls each stage, in English and in Chinese (SPEC §1.5, §2.2, §3.2,
# §3.5, §4.2, §4.4; the Chinese from the operator's original, seed/…zh.txt).
STAGE_TITLES: dict[str, tuple[str, str]] = {
    "received": ("Received", "已接收"), "accepted": ("Accepted", "已受理"), "classified": ("Classified", "已分类"),
    "processing": ("Processing", "处理中"), "answered": ("Answered", "已答复"), "archived": ("Archived", "已归档"),
    "pending": ("Pending", "待处理"), "processed": ("Processed", "已处理"), "feedback_given": ("Feedback given", "已反馈"),
    "delivery_preparation": ("Delivery preparation", "交付准备"), "acceptance_test": ("Acceptance test", "验收测试"),
    "delivery_passed": ("Passed acceptance", "验收合格"), "delivery_failed": ("Failed acceptance", "验收不合格"),
    "rectification": ("Rectification", "整改"), "followed_up": ("Followed up", "已跟进"),
    "investigating": ("Investigating", "投诉调查"), "handling": ("Handling (remedy)", "投诉处理"),
    "feedback": ("Feedback", "结果反馈"), "assigned": ("Assigned", "已派单"),
}


def _stage(name: str, final: bool = False) -> Stage:
    title, title_zh = STAGE_TITLES[name]
    return Stage(name=name, final=final, title=title, title_zh=title_zh)


def delivering_service_types(plugin_settings: dict[str, dict] | None) -> frozenset[ServiceType]:
    """The service types whose work orders are delivered and accepted (plugin setting
    ``telecom.delivering_service_types``). Raises ValueError on an unknown type."""
    names = (plugin_settings or {}).get(SECTION, {}).get("delivering_service_types")
    if names is None:
        return frozenset(DELIVERING_DEFAULT)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("telecom.delivering_service_types must be a list of service types")
    try:
        return frozenset(ServiceType(n) for n in names)
    except ValueError:
        raise ValueError(f"telecom.delivering_service_types: known service types are "
                         f"{', '.join(t.value for t in ServiceType)}") from None


def _chain(stages: list[str], guards: dict[tuple[str, str], list[str]] | None = None,
           extra: list[Transition] | None = None, handler_guards: list[str] | None = None) -> list[Transition]:
    """Forward transitions along ``stages``; the last step (to archived) is for archivers."""
    guards = guards or {}
    moves = []
    for a, b in zip(stages, stages[1:], strict=False):
        roles = ARCHIVERS if b == "archived" else HANDLERS
        moves.append(Transition(from_=a, to=b, roles=roles, guards=guards.get((a, b), []) + (
            handler_guards or [] if b != "archived" else [])))
    return moves + (extra or [])


def _workflow(kind: Kind, stages: list[str], **kwargs) -> Workflow:  # type: ignore[no-untyped-def]
    return Workflow(
        kind=kind,
        initial=stages[0],
        stages=[_stage(s, final=(s == "archived")) for s in stages],
        transitions=_chain(stages, **kwargs),
    )


def has_result(record: Record, transition: Transition, actor: Principal) -> str | None:
    return None if record.result else "record the result given to the customer first (PATCH result)"


def has_feedback(record: Record, transition: Transition, actor: Principal) -> str | None:
    return None if record.feedback else "record the customer's feedback and satisfaction first (PATCH feedback)"


def delivery_guards(delivering: frozenset[ServiceType]) -> dict[str, Callable[[Record, Transition, Principal], str | None]]:
    """Guards that send a work order through delivery acceptance when its service type delivers."""

    def delivers(record: Record, transition: Transition, actor: Principal) -> str | None:
        if record.service_type in delivering:
            return None
        return (f"only work orders of a delivering service type ({', '.join(sorted(t.value for t in delivering))}) "
                "go through delivery acceptance")

    def not_delivering(record: Record, transition: Transition, actor: Principal) -> str | None:
        if record.service_type not in delivering:
            return None
        return "this work order delivers a service: prepare the delivery and pass its acceptance test first (SPEC §4.2)"

    def followed_up_if_delivered(record: Record, transition: Transition, actor: Principal) -> str | None:
        if record.delivery is None or record.delivery.accepted_at is None:
            return None
        return "a delivered work order is followed up before it is archived (SPEC §4.4): move it to followed_up"

    return {"delivers": delivers, "not_delivering": not_delivering, "followed_up_if_delivered": followed_up_if_delivered}


def has_delivery_confirmation(record: Record, transition: Transition, actor: Principal) -> str | None:
    if record.delivery is not None and record.delivery.confirmation is not None:
        return None
    return "record the customer's signed confirmation first (PATCH delivery_confirmation, SPEC §4.2.3)"


def owner_or_supervisor(record: Record, transition: Transition, actor: Principal) -> str | None:
    if actor.role in (Role.supervisor, Role.admin) or actor.name == record.owner:
        return None
    return f"only the owner ({record.owner}) or a supervisor moves this work order"


@hookimpl(trylast=True)  # built-in: any installed plugin registering the same names wins
def records_register_guards(register, plugin_settings) -> None:  # type: ignore[no-untyped-def]
    register("has_result", has_result)
    register("has_feedback", has_feedback)
    register("owner_or_supervisor", owner_or_supervisor)
    register("has_delivery_confirmation", has_delivery_confirmation)
    for name, guard in delivery_guards(delivering_service_types(plugin_settings)).items():
        register(name, guard)


def _work_order() -> Workflow:
    """§3.2's chain, with §4.2's acceptance and §4.4's follow-up for work orders that deliver."""
    owner = ["owner_or_supervisor"]

    def move(a: str, b: str, *guards: str, requires_note: bool = False, archive: bool = False) -> Transition:
        return Transition(from_=a, to=b, roles=ARCHIVERS if archive else HANDLERS,
                          guards=list(guards) + ([] if archive else owner), requires_note=requires_note)

    return Workflow(
        kind=Kind.work_order,
        initial="pending",
        stages=[_stage(s) for s in WORK_ORDER[:-1] + DELIVERY] + [_stage("archived", final=True)],
        transitions=[
            move("pending", "processing"),
            move("processing", "processed", "not_delivering", "has_result"),
            move("processing", "delivery_preparation", "delivers"),
            move("delivery_preparation", "acceptance_test"),
            move("acceptance_test", "delivery_passed", "has_delivery_confirmation"),
            move("acceptance_test", "delivery_failed", requires_note=True),
            move("delivery_failed", "rectification"),
            move("rectification", "delivery_preparation"),
            move("delivery_passed", "processed", "has_result"),
            move("processed", "feedback_given", "has_feedback"),
            move("feedback_given", "followed_up", "delivers"),
            move("feedback_given", "archived", "followed_up_if_delivered", archive=True),
            move("followed_up", "archived", archive=True),
        ],
        acceptance=Acceptance(passed="delivery_passed", failed="delivery_failed"),
    )


@hookimpl(trylast=True)
def records_register_workflows(register) -> None:  # type: ignore[no-untyped-def]
    register(_workflow(Kind.consultation, ["received", "accepted", "classified", "processing", "answered", "archived"],
                       guards={("processing", "answered"): ["has_result"]}))
    register(_work_order())
    register(_workflow(Kind.complaint, ["accepted", "investigating", "handling", "feedback", "archived"],
                       guards={("handling", "feedback"): ["has_result"], ("feedback", "archived"): ["has_feedback"]}))
    register(_workflow(Kind.emergency, ["received", "assigned", "processing", "feedback", "archived"],
                       guards={("processing", "feedback"): ["has_result"]}))
