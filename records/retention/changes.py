"""How a retention change names itself in the access log: the event of the trail in force (a
request's, the scheduler's or a plugin's seed), committed with the change it describes."""

from __future__ import annotations

from records.audit.events import AuditEventDraft
from records.audit.trail import AuditTrail, committed
from records.audit.trail import current as current_trail
from records.roles import Principal

PAGE = 500  # records read per page by sweeps, re-applications and reconciliations
SYSTEM = Principal("system:retention", "system")  # type: ignore[arg-type]  # the scheduler's own name


def change_events(*targets: str, action: str | None = None) -> list[AuditEventDraft]:
    """The current trail's event for one change, naming exactly ``targets`` (plus what the request
    itself named): per-item events of a batch must not accumulate every earlier item's target."""
    trail = current_trail()
    if trail is None:
        return []
    status = trail.success_status if action is None else None
    return [trail.draft(action=action, status=status, targets=[*trail.targets, *targets])]


def committed_request_event(events: list[AuditEventDraft]) -> None:
    """The request's own event (no explicit action) went in with the change."""
    if events:
        committed()


def system_trail(action: str, actor: Principal | None = None, like: AuditTrail | None = None) -> AuditTrail:
    if like is not None:
        return AuditTrail(action=action, actor=like.actor, role=like.role, request_id=like.request_id,
                          client=like.client, purpose=like.purpose)
    who = actor or SYSTEM
    return AuditTrail(action=action, actor=who.name, role=str(who.role))
