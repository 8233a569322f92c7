"""The storage ports every adapter implements: records, tokens and blobs.

Services depend on these protocols only. The embedded adapters (SQLite, local disk) live in
``records.storage``; production adapters (MongoDB through beanie, S3 through minio) implement the
same protocols. Every operation is async so that network-backed adapters fit without change.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel

from records.audit.events import AuditEventDraft
from records.audit.log import AuditLogStore
from records.crypto.envelope import WrappedDataKey
from records.metrics import Metric, MetricBucket, MetricQuery
from records.models import RecordQuery
from records.roles import Principal, Role
from records.stored import StoredRecord

if TYPE_CHECKING:
    from records.retention.floors import RetentionFloor
    from records.retention.models import (
        BatchItem,
        DecisionTally,
        DestructionCertificate,
        DispositionBatch,
        ItemFilter,
        ItemPage,
        LegalHold,
        RetentionAssignment,
        RetentionSchedule,
        Tombstone,
        WaitingItems,
    )


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

    async def outages(self, start: datetime, end: datetime, service_type: str | None = None) -> list[tuple[datetime, datetime | None]]:
        """(start, end) of the outages emergency files record that overlap [start, end), of one
        service type when given; end None while the service is still down. Destroyed files count:
        the window is a governance fact, not personal data."""

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

    async def record_ids(self, after: str | None, limit: int) -> list[str]:
        """Ids of the records that have a key, in id order after ``after`` (``records fsck``)."""


class TokenRepository(Protocol):
    async def add(self, token: ApiToken, events: Sequence[AuditEventDraft] = ()) -> None:
        """Raises ``TokenNameTaken`` when an unrevoked token has the same name, ``TokenNameRetired``
        when a revoked one had it (a name is a person for the installation's life). ``events``
        commit with it."""

    async def by_secret_hash(self, secret_hash: str) -> ApiToken | None:
        """The unrevoked token with this hash, if any."""

    async def list(self, include_revoked: bool = False) -> list[ApiToken]: ...

    async def revoke(self, name: str, at: datetime, events: Sequence[AuditEventDraft] = ()) -> bool:
        """Revoke the unrevoked token called ``name`` (with ``events``); False when there is none.
        Raises ``LastAdminToken``, in the same transaction, rather than revoke the last admin."""


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A console sign-in as stored: the SHA-256 of the cookie's secret, never the secret, and the
    SHA-256 of the API token it was opened with (so that revoking the token ends it)."""

    id: str
    token_hash: str
    principal: str
    role: Role
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime


class ConsoleSessionRepository(Protocol):
    async def add(self, session: ConsoleSession, events: Sequence[AuditEventDraft] = ()) -> None:
        """Store a new session and the sign-in's events in one transaction."""

    async def get(self, session_id: str) -> ConsoleSession | None: ...

    async def touch(self, session_id: str, at: datetime) -> None:
        """Note activity on the session (its idle expiry counts from here)."""

    async def remove(self, session_id: str, events: Sequence[AuditEventDraft] = ()) -> bool:
        """End the session (with the sign-out's events); False when it no longer existed."""

    async def remove_for_token(self, token_hash: str) -> int:
        """End every session opened with the token; how many there were."""

    async def remove_expired(self, idle_before: datetime, created_before: datetime) -> int:
        """End sessions idle since before ``idle_before`` or opened before ``created_before``."""


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

    def list_keys(self, prefix: str) -> AsyncIterator[str]:
        """Every blob key that starts with ``prefix``, in no particular order (``records fsck``)."""

    async def count_incomplete(self) -> int:
        """How many interrupted writes are waiting for ``discard_incomplete``."""


@runtime_checkable
class LockingBlobStore(Protocol):
    """An optional capability of a blob store (S3 with Object Lock): the storage itself refuses to
    delete or overwrite a locked blob, whoever asks. Services check ``isinstance(blobs,
    LockingBlobStore)``; stores without it (local disk) are simply not locked."""

    async def set_retention(self, key: str, until: datetime, mode: str | None = None) -> None:
        """Keep every version of the blob until ``until`` (in the store's configured mode)."""

    async def set_legal_hold(self, key: str, on: bool) -> None:
        """Keep every version of the blob, whatever its retention, while ``on``."""

    async def legal_hold(self, key: str) -> bool:
        """Whether the blob's current version is under a legal hold (``records fsck`` checks it)."""


class TrustedKey(BaseModel):
    """A plugin publisher's public key: wheels signed by it may be installed."""

    name: str
    public_key: str  # PEM SubjectPublicKeyInfo
    fingerprint: str
    added_at: datetime
    added_by: str


class InstalledPlugin(BaseModel):
    """A plugin installed through the API or the CLI; the wheel itself is in the blob store."""

    name: str  # canonical distribution name
    display_name: str
    version: str
    filename: str
    sha256: str
    publisher: str  # name of the trusted key that signed it
    entry_points: dict[str, str]
    top_level: list[str]
    enabled: bool = True
    installed_at: datetime
    installed_by: str
    updated_at: datetime
    publisher_fingerprint: str | None = None

    @property
    def stamp(self) -> str:
        """What a change expects to find: the exact row it read (its bytes and when it changed)."""
        return f"{self.sha256}@{self.updated_at.isoformat()}@{self.enabled}"


class PluginRepository(Protocol):
    """The installed plugin set and the trust store, shared by every instance.

    Every change bumps a generation number so that instances notice and reconcile."""

    async def generation(self) -> int: ...

    async def list_installed(self) -> list[InstalledPlugin]: ...

    async def save_installed(self, plugin: InstalledPlugin, expected: str | None,
                             events: Sequence[AuditEventDraft] = ()) -> bool:
        """Insert or replace the plugin's row (install, upgrade, enable, disable) if the stored row
        is still the one read (``expected`` its ``stamp``, None: there was none); False otherwise,
        changing nothing — another instance changed the plugin meanwhile."""

    async def remove_installed(self, name: str, expected: str, events: Sequence[AuditEventDraft] = ()) -> bool:
        """Remove the row if it is still the one read; False otherwise."""

    async def disabled_builtins(self) -> set[str]: ...

    async def set_builtin_disabled(self, name: str, disabled: bool, events: Sequence[AuditEventDraft] = ()) -> None: ...

    async def list_trusted_keys(self) -> list[TrustedKey]: ...

    async def add_trusted_key(self, key: TrustedKey, events: Sequence[AuditEventDraft] = ()) -> None:
        """Raises ``TrustedKeyExists`` when the name or the key is already trusted."""

    async def remove_trusted_key(self, name: str, events: Sequence[AuditEventDraft] = ()) -> bool: ...
class RetentionRepository(Protocol):
    """Retention schedules (versioned), each archived record's assignment, retention events,
    legal holds, disposition batches and their items, tombstones and destruction certificates.

    Every write takes the audit ``events`` of the change and commits them in its transaction.
    Due records are found through an index on the retain-until date, a page at a time."""

    async def add_schedule(self, schedule: RetentionSchedule, events: Sequence[AuditEventDraft] = ()) -> None:
        """Store a new schedule (version 1). Raises ``Conflict`` when its name is taken."""

    async def add_schedule_version(self, schedule: RetentionSchedule, events: Sequence[AuditEventDraft] = ()) -> bool:
        """Store ``schedule`` as the next version; False when that version exists (a concurrent edit)."""

    async def schedule(self, schedule_id: str, version: int | None = None) -> RetentionSchedule | None:
        """The given version, or the latest."""

    async def schedules(self) -> list[RetentionSchedule]:
        """The latest version of every schedule, by name."""

    async def add_floor(self, floor: RetentionFloor, events: Sequence[AuditEventDraft] = ()) -> bool:
        """Store a legal minimum; False (nothing stored) when a floor of its ``key`` exists, removed or not."""

    async def floors(self) -> list[RetentionFloor]:
        """Every floor, removed ones included, oldest first."""

    async def remove_floor(self, floor: RetentionFloor, events: Sequence[AuditEventDraft] = ()) -> bool:
        """Store ``floor`` (with ``removed_at`` set) unless it was removed meanwhile (False)."""

    async def assignment(self, record_id: str) -> RetentionAssignment | None: ...

    async def put_assignment(self, assignment: RetentionAssignment, events: Sequence[AuditEventDraft] = ()) -> None:
        """Create or replace a record's assignment."""

    async def unassigned_archived(self, after: str | None, limit: int) -> list[str]:
        """Ids of archived, undestroyed records without an assignment, by id after ``after``."""

    async def due(self, as_of: datetime, after: tuple[datetime, str] | None, limit: int) -> list[RetentionAssignment]:
        """Assignments due at ``as_of`` (retain_until <= as_of), not in a batch, not disposed of,
        ordered by (retain_until, record_id) after ``after`` (an indexed range scan)."""

    async def assignments_under(self, schedule_id: str, after: str | None, limit: int) -> list[RetentionAssignment]:
        """Undisposed assignments under any version of a schedule, by record id after ``after``."""

    async def record_event(self, name: str, record_id: str, occurred_at: datetime) -> datetime:
        """Record that event ``name`` happened for a record; the first occurrence stays. Returns it."""

    async def event_time(self, name: str, record_id: str) -> datetime | None: ...

    async def add_hold(self, hold: LegalHold, events: Sequence[AuditEventDraft] = ()) -> list[str]:
        """Store the hold; returns those of its ``record_ids`` whose destruction was already decided
        (data key doomed or gone), read in the same transaction."""

    async def hold(self, hold_id: str) -> LegalHold | None: ...

    async def holds(self, active_only: bool = False) -> list[LegalHold]: ...

    async def release_hold(self, hold: LegalHold, events: Sequence[AuditEventDraft] = ()) -> bool:
        """Store the released hold unless it was released meanwhile (False)."""

    async def holds_on(self, record_id: str) -> list[str]:
        """Ids of the active holds covering a record, by name or by saved query."""

    async def retention_of(self, record_ids: list[str]) -> dict[str, tuple[RetentionAssignment, list[str]]]:
        """Each of ``record_ids`` that has an assignment: it and ``holds_on`` the record, in one
        read (a page listing a hundred files asks once, not two hundred times)."""

    async def decide_destruction(self, record_id: str) -> list[str]:
        """The point of no return of a destruction, in one transaction with every hold placement:
        the active holds on the record if there are any (then nothing changes), else the record's
        data key is marked doomed and [] returned. A hold committed after this finds the key
        doomed (``add_hold`` reports it) and no longer stops the destruction: it came second."""

    async def add_batch(self, batch: DispositionBatch, events: Sequence[AuditEventDraft] = ()) -> None:
        """Store a batch with its items and mark their assignments as in it, all or nothing."""

    async def batch(self, batch_id: str) -> DispositionBatch | None: ...

    async def batch_progress(self, batch_id: str) -> DispositionBatch | None:
        """The batch without its items, its ``progress`` counted by the store (what a page
        following an execution asks for every second: it must not read every item)."""

    async def batches(self, status: str | None, limit: int) -> list[DispositionBatch]:
        """Newest first, without their items."""
    async def batch_items(self, batch_id: str, filters: ItemFilter, offset: int, limit: int) -> ItemPage:
        """The batch's items matching ``filters`` (each given part: the decision, the kind, a
        reference starting with it in any case), in the batch's order from ``offset``, at most
        ``limit``, and how many match in all; counted and sliced by the store, not by reading
        every item (a batch holds up to ``retention_batch_max_items``)."""

    async def decision_tally(self, batch_id: str, approvals_needed: int) -> DecisionTally:
        """How the batch's items stand (total, pending, approved but short of ``approvals_needed``
        approvers (``states.short_of_approvals``), approved in full, kept), counted by the store."""

    async def waiting(self, who: Principal, decides_unstaged: bool, batch_id: str | None, limit: int) -> WaitingItems:
        """Items of open batches (of ``batch_id`` only, if given) for which ``states.waits_for``
        holds, each batch's two-person rule giving the approvals it needs, ordered by
        (retain_until, reference, batch id, record id): the first ``limit`` and the total."""


    async def update_batch(self, batch: DispositionBatch, expected_status: str,
                           events: Sequence[AuditEventDraft] = ()) -> bool:
        """Store the batch's own fields (not its items) if its status is still ``expected_status``."""

    async def decide(self, batch_id: str, items: list[BatchItem], assignments: list[RetentionAssignment],
                     events: Sequence[AuditEventDraft] = ()) -> bool:
        """Store decided items and the assignments they change, if the batch is still open."""

    async def claim_item(self, batch_id: str, record_id: str, events: Sequence[AuditEventDraft] = ()) -> str:
        """In one transaction: ``held`` (and the item marked held, its record out of the batch)
        when an active hold covers the record; else ``claimed`` (the item marked executing).
        ``disposed``/``kept``/``held`` when the item was already finished."""

    async def release_item(self, batch_id: str, item: BatchItem, assignments: list[RetentionAssignment],
                           events: Sequence[AuditEventDraft] = ()) -> bool:
        """Store an executing item as kept or held (not disposed of) with the assignments it frees."""

    async def finish_item(self, batch_id: str, item: BatchItem, tombstone: Tombstone,
                          events: Sequence[AuditEventDraft] = ()) -> bool:
        """Mark an executing item disposed, store its tombstone and close its assignment, with
        ``events``; False (and nothing stored) when the item was not executing."""

    async def tombstone(self, record_id: str) -> Tombstone | None: ...

    async def certificate_ids(self) -> list[str]:
        """Ids of every stored destruction certificate, oldest first."""

    async def unlinked_tombstones(self, limit: int) -> list[Tombstone]:
        """Tombstones whose ``certificate_id`` is None or names no stored certificate, by record id."""

    async def restore_evidence(self, batch: DispositionBatch, certificate: DestructionCertificate | None) -> bool:
        """After a restore: store the finished batch (header and items) as given, the certificate if
        it is missing, and link the batch's tombstones to it, in one transaction; True if anything changed."""

    async def put_tombstone(self, tombstone: Tombstone) -> bool:
        """Store a tombstone unless one exists (re-enforcement after a restore); True if stored."""

    async def add_certificate(self, certificate: DestructionCertificate, batch: DispositionBatch,
                              events: Sequence[AuditEventDraft] = ()) -> bool:
        """Store the certificate, name it on the batch's tombstones and mark the batch done."""

    async def certificate(self, certificate_id: str) -> DestructionCertificate | None: ...


# The parts of a store that travel between adapters as stored (``records migrate``), beyond what the
# ports already read and write: what going through a port would change on the way (a revoked token,
# a breach already reported, every version of a schedule, the audit log's tree nodes), and the
# retention and plugin tables whole. In the order an import takes them.
EXPORTED_PARTS = (
    "tokens", "sequences", "breaches_reported",
    "retention_schedules", "retention_assignments", "retention_events", "legal_holds", "legal_hold_items",
    "disposition_batches", "disposition_items", "tombstones", "destruction_certificates", "retention_floors",
    "plugin_installs", "plugin_disabled_builtins", "plugin_trusted_keys",
    "audit_events", "audit_nodes",
)


@dataclass(frozen=True, slots=True)
class ExportedPart:
    """Rows of one of ``EXPORTED_PARTS`` in the domain's form, whatever store they came from: each
    row a dict of plain values, a model in its JSON form under ``doc`` where the part stores one
    whole (``docs/architecture.md`` lists each part's fields)."""

    name: str
    rows: list[dict[str, Any]]


@runtime_checkable
class StoreExport(Protocol):
    """A store read part by part as stored (the source of a migration; it is only read)."""

    async def export_part(self, name: str) -> ExportedPart:
        """Every row of the part ``name`` (one of ``EXPORTED_PARTS`` but ``audit_events``, which
        the audit log's own ``entries`` pages through)."""

    async def count(self, name: str) -> int:
        """How many rows the part holds (a migration's proof compares both sides)."""


@runtime_checkable
class StoreImport(Protocol):
    """A store written part by part as exported (the empty target of a migration)."""

    async def import_part(self, part: ExportedPart) -> None:
        """Store the rows as they were stored, by the rules of no port: history is not re-decided.
        ``breaches_reported`` after the records it names; ``audit_events`` in sequence order,
        a page at a time."""

    async def count(self, name: str) -> int: ...


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
    plugins: PluginRepository
    retention: RetentionRepository
    console_sessions: ConsoleSessionRepository
    # None where one process serves the store (embedded); shared stores coordinate instances with it.
    leases: Leases | None

    async def ping(self) -> None:
        """Raise ``StorageUnavailable`` unless the backends answer."""

    async def close(self) -> None: ...
