"""Audit events and their canonical encoding, the bytes that become Merkle leaves.

Canonical encoding (documented in README): the event as a JSON object with exactly the keys
``seq, at, actor, role, action, targets, outcome, status, request_id, client, purpose``, keys
sorted, no insignificant whitespace, UTF-8 without escaping non-ASCII, ``at`` as
``YYYY-MM-DDTHH:MM:SS.ffffffZ``, absent values as ``null``. The leaf hash is
SHA-256(0x00 || those bytes) (RFC 9162 §2.1.1).
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from records.clock import to_text


class Outcome(StrEnum):
    allowed = "allowed"
    denied = "denied"  # refused: no or bad token, wrong role, not the owner
    failed = "failed"  # admitted but did not complete: bad input, not found, conflict, error


class AuditEventDraft(BaseModel):
    """An event before the log gives it its sequence number."""

    at: datetime
    actor: str | None = Field(None, description="Token name, `cli:<user>` for commands, null when unauthenticated.")
    role: str | None = None
    action: str = Field(description="What was attempted, e.g. `record.read`, `token.create`.")
    targets: list[str] = Field(default_factory=list, description="`record:<id>`, `attachment:<id>`, `token:<name>`…")
    outcome: Outcome
    status: int | None = Field(None, description="HTTP status of the response, for requests.")
    request_id: str | None = None
    client: str | None = Field(None, description="Client address, for requests.")
    purpose: str | None = Field(None, description="Why, as the caller said in X-Purpose.")


class AuditEvent(AuditEventDraft):
    seq: int = Field(description="Position in the log, from 0; also the Merkle leaf index.")

    def canonical(self) -> bytes:
        return canonical_bytes(self)


def canonical_bytes(event: AuditEvent) -> bytes:
    body = event.model_dump(mode="json")
    body["at"] = to_text(event.at)
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def parse_canonical(data: bytes) -> AuditEvent:
    return AuditEvent.model_validate_json(data)
