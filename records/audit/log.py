"""The audit log's storage port and the shapes it stores."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pydantic import BaseModel

from records.audit.events import AuditEvent, AuditEventDraft, Outcome


class Checkpoint(BaseModel):
    """A signed statement of the log's size and root (hashes in lowercase hex)."""

    tree_size: int
    root_hash: str
    timestamp: str
    key_id: str
    signature: str  # base64 Ed25519 signature over ``signed_message()``

    def signed_message(self) -> bytes:
        return checkpoint_message(self.tree_size, self.root_hash, self.timestamp)


def checkpoint_message(tree_size: int, root_hash: str, timestamp: str) -> bytes:
    """What a checkpoint's signature covers, one field per line (like CT's signed notes)."""
    return f"records audit checkpoint v1\ntree_size {tree_size}\nroot_hash {root_hash}\ntimestamp {timestamp}\n".encode()


class StoredEvent(BaseModel):
    """An event as stored: the hashed canonical bytes and the copies kept for queries."""

    seq: int
    canonical: bytes
    at: str
    actor: str | None
    role: str | None
    action: str
    outcome: str
    request_id: str | None
    targets: list[str]


class EventQuery(BaseModel):
    target: str | None = None
    actor: str | None = None
    role: str | None = None
    action: str | None = None
    outcome: Outcome | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int | None = None
    limit: int = 100


class AuditLogStore(Protocol):
    async def append(self, drafts: list[AuditEventDraft]) -> list[AuditEvent]:
        """Append in one durable transaction; sequence numbers are contiguous from the log's size."""

    async def size(self) -> int: ...

    async def entries(self, start: int, end: int) -> list[StoredEvent]: ...

    async def nodes(self, keys: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]: ...

    async def seal(self, nodes: list[tuple[int, int, bytes]], checkpoint: Checkpoint | None) -> None:
        """Store new Merkle nodes and (when given) the checkpoint over them, together."""

    async def checkpoints(self) -> list[Checkpoint]: ...

    async def head(self) -> tuple[int, list[Checkpoint]]:
        """Size and checkpoints from one consistent view of the log."""

    async def latest_checkpoint(self) -> Checkpoint | None: ...

    async def find(self, query: EventQuery) -> list[AuditEvent]: ...
