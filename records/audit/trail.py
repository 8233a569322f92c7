"""The audit trail of one request or command: who acts, from where, why, and what was recorded.

It travels in a context variable so that services reached from a request or a command record
their events into the same transaction as their changes without every signature carrying it.
The HTTP middleware opens one per request; CLI commands open one per command.
"""

from __future__ import annotations

import getpass
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field

from records.audit.events import AuditEventDraft, Outcome
from records.clock import utcnow

_current: ContextVar[AuditTrail | None] = ContextVar("records_audit_trail", default=None)


@dataclass
class AuditTrail:
    action: str
    actor: str | None = None
    role: str | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    client: str | None = None
    purpose: str | None = None
    targets: list[str] = field(default_factory=list)
    recorded: bool = False  # an event was committed with the action itself
    success_status: int | None = None  # what the route answers when the change succeeds
    purpose_too_long: bool = False  # X-Purpose exceeded its limit: refuse once the caller is known

    def draft(self, outcome: Outcome = Outcome.allowed, status: int | None = None, action: str | None = None,
              targets: list[str] | None = None) -> AuditEventDraft:
        return AuditEventDraft(
            at=utcnow(), actor=self.actor, role=self.role, action=action or self.action,
            targets=list(dict.fromkeys(targets if targets is not None else self.targets)), outcome=outcome,
            status=status, request_id=self.request_id, client=self.client, purpose=self.purpose,
        )

    def target(self, *targets: str) -> None:
        self.targets.extend(targets)


def current() -> AuditTrail | None:
    return _current.get()


def begin(trail: AuditTrail) -> object:
    return _current.set(trail)


def end(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


def drafts_for_change(*targets: str, action: str | None = None) -> list[AuditEventDraft]:
    """The event a change commits with (the current trail's). Outside any trail (library use)
    nothing is recorded. Call ``committed()`` once the change's transaction has committed."""
    trail = current()
    if trail is None:
        return []
    trail.target(*targets)
    return [trail.draft(action=action, status=trail.success_status)]


def committed() -> None:
    """The change and its event are durable: nothing more to record for this request."""
    trail = current()
    if trail is not None:
        trail.recorded = True


def cli_trail(action: str, purpose: str | None = None) -> AuditTrail:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return AuditTrail(action=action, actor=f"cli:{user}", role="operator", purpose=purpose)
