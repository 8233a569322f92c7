"""The storage ports every adapter implements: records, tokens and blobs.

Services depend on these protocols only. The embedded adapters (SQLite, local disk) live in
``records.storage``; production adapters (MongoDB through beanie, S3 through minio) implement the
same protocols. Every operation is async so that network-backed adapters fit without change.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from records.audit.events import AuditEventDraft
from records.audit.log import AuditLogStore
from records.crypto.envelope import WrappedDataKey
from pydantic import BaseModel

from records.metrics import Metric, MetricBucket, MetricQuery
from records.models import RecordQuery
from records.roles import Role
from records.stored import StoredRecord


@dataclass(frozen=True, slots=True)
class StoredBlob:
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token as stored: only the SHA-256 of the secret is kept."""

    name: str
    role: Role
    secret_hash: str
    created_at: datetime
    revoked_at: datetime | None = None


class BreachClaim(BaseModel):
    """A deadline found breached, claimed for reporting."""

    record_id: str
    reference: str
    kind: str
    name: str
    due_at: datetime
    met_at: datetime | None = None


class RecordRepository(Protocol):
    """Records in their sealed at-rest form; adapters never see personal data in clear."""

    async def add(self, record: StoredRecord, data_key: WrappedDataKey, events: Sequence[AuditEventDraft] = ()) -> None:
        """Store a new record, its wrapped data key and the audit events of the change durably,
        all or nothing.
        Raises ``Conflict`` if its id or reference exists."""

    async def get(self, record_id: str) -> StoredRecord | None: ...

    async def replace(self, record: StoredRecord, expected_version: int, events: Sequence[AuditEventDraft] = ()) -> bool:
        """Compare-and-swap: store ``record`` (and append ``events`` in the same transaction) only
        if the stored version is still ``expected_version``. Returns False (and changes nothing)
        when it is not."""

    async def find(self, query: RecordQuery) -> list[StoredRecord]:
        """Records matching ``query``, newest first by (created_at, id), after ``query.after``,
        at most ``query.limit`` of them."""

    async def next_sequence(self, name: str) -> int:
        """Atomically increment and return the counter called ``name`` (starts at 1)."""

    async def aggregate(self, metric: Metric, query: MetricQuery) -> list[MetricBucket]:
        """The metric's numerator and denominator per period (or one bucket when not grouped),
        computed by the store's own aggregation, periods in ascending order."""

    async def claim_breaches(
        self, now: datetime, limit: int, events: Callable[[list[BreachClaim]], Sequence[AuditEventDraft]]
    ) -> list[BreachClaim]:
        """Atomically mark up to ``limit`` unreported breached deadlines as reported (appending
        ``events(claims)`` in the same transaction) and return them: each breach is claimed once."""


class DataKeyRepository(Protocol):
    """Each record's wrapped data key. Destroying one is crypto-shredding."""

    async def get(self, record_id: str) -> WrappedDataKey | None: ...

    async def get_many(self, record_ids: list[str]) -> dict[str, WrappedDataKey]: ...

    async def not_under(self, kek_id: str, limit: int) -> list[WrappedDataKey]:
        """Up to ``limit`` keys wrapped by any KEK other than ``kek_id`` (those a rotation must move)."""

    async def rewrap(self, new: WrappedDataKey, expected_kek_id: str) -> bool:
        """Replace a wrapping if it is still under ``expected_kek_id``; False otherwise."""

    async def count_by_kek(self) -> dict[str, int]: ...

    async def destroy(self, record_id: str) -> bool:
        """Erase the key so that no copy remains in the live store; False if there was none."""


class TokenRepository(Protocol):
    async def add(self, token: ApiToken, events: Sequence[AuditEventDraft] = ()) -> None:
        """Raises ``TokenNameTaken`` when an unrevoked token has the same name. ``events`` commit with it."""

    async def by_secret_hash(self, secret_hash: str) -> ApiToken | None:
        """The unrevoked token with this hash, if any."""

    async def list(self, include_revoked: bool = False) -> list[ApiToken]: ...

    async def revoke(self, name: str, at: datetime, events: Sequence[AuditEventDraft] = ()) -> bool:
        """Revoke the unrevoked token called ``name`` (with ``events``); False when there is none.
        Raises ``LastAdminToken``, in the same transaction, rather than revoke the last admin."""


class BlobStore(Protocol):
    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> StoredBlob:
        """Stream ``chunks`` into a new blob. The blob becomes visible under ``key`` only once
        every byte is durably written; if the stream fails nothing is left behind."""

    async def open(self, key: str) -> AsyncIterator[bytes]:
        """Open a blob and return an iterator over its bytes. Raises ``NotFound`` here, before
        a byte is read, when there is no such blob (so an HTTP response is not yet started)."""

    async def discard_incomplete(self) -> int:
        """Remove what interrupted writes left behind (after a crash); returns how many.
        Only the process that serves writes calls this, at start-up."""

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove a blob; removing a missing blob is not an error."""


class Leases(Protocol):
    """Leases with expiry shared by every instance on one store: which instance runs a singleton
    job (the audit sealer) now. A holder that stops renewing loses its lease after the ttl."""

    async def acquire(self, name: str, ttl_seconds: float) -> bool:
        """Take or renew the lease ``name``; False while another instance holds it unexpired."""

    async def release(self, name: str) -> None:
        """Give the lease up (if held by this instance) so another can take it at once."""


class Storage(Protocol):
    """One opened set of adapters."""

    name: str
    records: RecordRepository
    tokens: TokenRepository
    data_keys: DataKeyRepository
    audit: AuditLogStore
    blobs: BlobStore
    # None where one process serves the store (embedded); shared stores coordinate instances with it.
    leases: Leases | None

    async def ping(self) -> None:
        """Raise ``StorageUnavailable`` unless the backends answer."""

    async def close(self) -> None: ...
