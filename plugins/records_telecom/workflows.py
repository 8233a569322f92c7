"""Stages of the four kinds of file, from the operator's specification (SPEC.md "Workflow stages").

- consultation, §2.2: consult → accept (first judgement) → classify → process → feedback and record
- work order, §3.2: pending → processing → processed → feedback given → archived
- complaint, §1.5: accepted → investigating → handling (remedy) → feedback (customer rates it) → archived
- emergency, §6.1-6.5 and the closed loop of §3.5: receive → assign (one named owner) → process →
  feedback → archive ("process first, feedback after")

Guards carry the rules the specification states: a complaint does not reach feedback without a
result, nor close without the customer's feedback (§1.5); only the owner or a supervisor moves
a work order (§3.2 first-contact responsibility). Archiving (§8.1) is for archivists,
supervisors and admins.
"""

from __future__ import annotations

from records import hookimpl
from records.models import Kind, Record
from records.roles import Principal, Role
from records.workflow import Stage, Transition, Workflow

HANDLERS = [Role.agent, Role.supervisor, Role.admin]
ARCHIVERS = [Role.archivist, Role.supervisor, Role.admin]


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
        stages=[Stage(name=s, final=(s == "archived")) for s in stages],
        transitions=_chain(stages, **kwargs),
    )


def has_result(record: Record, transition: Transition, actor: Principal) -> str | None:
    return None if record.result else "record the result given to the customer first (PATCH result)"


def has_feedback(record: Record, transition: Transition, actor: Principal) -> str | None:
    return None if record.feedback else "record the customer's feedback and satisfaction first (PATCH feedback)"


def owner_or_supervisor(record: Record, transition: Transition, actor: Principal) -> str | None:
    if actor.role in (Role.supervisor, Role.admin) or actor.name == record.owner:
        return None
    return f"only the owner ({record.owner}) or a supervisor moves this work order"


@hookimpl(trylast=True)  # built-in: any installed plugin registering the same names wins
def records_register_guards(register) -> None:  # type: ignore[no-untyped-def]
    register("has_result", has_result)
    register("has_feedback", has_feedback)
    register("owner_or_supervisor", owner_or_supervisor)


@hookimpl(trylast=True)
def records_register_workflows(register) -> None:  # type: ignore[no-untyped-def]
    register(_workflow(Kind.consultation, ["received", "accepted", "classified", "processing", "answered", "archived"],
                       guards={("processing", "answered"): ["has_result"]}))
    register(_workflow(Kind.work_order, ["pending", "processing", "processed", "feedback_given", "archived"],
                       guards={("processing", "processed"): ["has_result"], ("processed", "feedback_given"): ["has_feedback"]},
                       handler_guards=["owner_or_supervisor"]))
    register(_workflow(Kind.complaint, ["accepted", "investigating", "handling", "feedback", "archived"],
                       guards={("handling", "feedback"): ["has_result"], ("feedback", "archived"): ["has_feedback"]}))
    register(_workflow(Kind.emergency, ["received", "assigned", "processing", "feedback", "archived"],
                       guards={("processing", "feedback"): ["has_result"]}))
