"""beanie documents: one collection per kind of stored thing, a named index for every query.

Times are kept as ``records.clock.to_text`` strings (microsecond precision, text order = time
order), exactly as the SQLite adapter keeps them, because BSON dates stop at milliseconds and a
list cursor compares microseconds. Where a metric needs arithmetic on times, integer
microseconds since the epoch sit beside the text.
"""

from __future__ import annotations

from typing import Any

from beanie import Document
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel


def stored(document: Document) -> dict[str, Any]:
    """What a write stores: the document as its class below declares it (its fields, validated on
    construction), so these classes are the one schema whether beanie or pymongo writes it. The
    adapters write with pymongo inside their transactions where beanie cannot say whether a
    conditional update matched, nor insert many documents in one call within a session."""
    return document.model_dump(by_alias=True)


def _newest(*fields: str, name: str) -> IndexModel:
    """An index that serves one list filter in the list's order (newest first by created_at, id)."""
    return IndexModel([*[(f, ASCENDING) for f in fields], ("created_at", DESCENDING), ("record_id", DESCENDING)], name=name)


class DeadlineState(BaseModel):
    """A deadline's copy inside its record's document, for list filters and metrics."""

    name: str
    due_at: str
    met_at: str | None = None
    open: bool  # not met yet: a boolean, because null inside $elemMatch is unreliable across servers
    late: bool  # met after it was due


class RecordDocument(Document):
    id: str  # type: ignore[assignment]  # the record's id is the document's _id
    # A copy of _id for compound indexes and sorts: some wire-compatible servers (nx-27017)
    # cannot put _id inside a compound index, and the same indexes must work everywhere.
    record_id: str
    reference: str
    kind: str
    status: str
    channel: str
    urgency: str
    owner: str
    created_by: str
    complexity: str | None = None
    satisfaction: int | None = None
    classification: list[str] = Field(default_factory=list)
    created_at: str
    received_at: str
    updated_at: str
    result_at: str | None = None
    archived_at: str | None = None
    destroyed_at: str | None = None
    # Governance facts the SPEC §4.1/§4.2 metrics count (delivery acceptance, service failures, outages).
    service_failed: bool | None = None
    delivery_failures: int | None = None
    delivery_accepted_at: str | None = None
    incident_started_at: str | None = None
    incident_ended_at: str | None = None
    incident_open: bool = False  # an outage with no end yet: a boolean, because matching null is unreliable
    incident_service: str | None = None
    # Metric helpers: periods as labels and times as microseconds, so the pipeline needs no date operators.
    received_day: str
    received_week: str
    received_month: str
    received_us: int
    created_us: int
    result_us: int | None = None
    archived_us: int | None = None
    version: int
    customer_phone_idx: str | None = None
    customer_account_idx: str | None = None
    deadlines: list[DeadlineState] = Field(default_factory=list)
    doc: dict[str, Any]  # the whole StoredRecord (protected fields sealed), as JSON

    class Settings:
        name = "records"
        # A write from a stale copy must fail instead of overwriting. Every change bumps the
        # record's own ``version``, so the replace filters on it: the compare-and-swap that
        # beanie's ``use_revision`` would do with a second, UUID-valued revision, which
        # wire-compatible servers such as nx-27017 cannot match (they drop the UUID subtype).
        use_revision = False
        indexes = [
            IndexModel([("reference", ASCENDING)], name="records_reference_unique", unique=True),
            IndexModel([("created_at", DESCENDING), ("record_id", DESCENDING)], name="records_by_created"),
            _newest("kind", name="records_by_kind"),
            _newest("status", name="records_by_status"),
            _newest("channel", name="records_by_channel"),
            _newest("urgency", name="records_by_urgency"),
            _newest("owner", name="records_by_owner"),
            _newest("classification", name="records_by_classification"),
            _newest("customer_phone_idx", name="records_by_phone"),
            _newest("customer_account_idx", name="records_by_account"),
            # List filters that pair, or that name a received range, in the list's order too: a
            # received range is read as the months it covers (received_month $in), whose index
            # ranges MongoDB merges newest first instead of sorting every file in the range.
            _newest("kind", "urgency", name="records_by_kind_urgency"),
            _newest("owner", "status", name="records_by_owner_status"),
            _newest("received_month", name="records_by_received_month"),
            _newest("kind", "received_month", name="records_by_kind_received_month"),
            _newest("classification", "received_month", name="records_by_classification_received_month"),
            # sla=breached: each branch of its $or read in list order, then merged.
            _newest("deadlines.late", name="records_by_late_newest"),
            _newest("deadlines.open", name="records_by_open_newest"),
            IndexModel([("received_at", ASCENDING)], name="records_by_received"),
            IndexModel([("kind", ASCENDING), ("received_at", ASCENDING)], name="records_by_kind_received"),
            IndexModel([("deadlines.open", ASCENDING), ("deadlines.due_at", ASCENDING)], name="records_by_open_deadline"),
            IndexModel([("deadlines.late", ASCENDING)], name="records_by_late_deadline"),
            IndexModel([("incident_started_at", ASCENDING)], name="records_by_incident"),
            # Retention's reconciliation: archived, undestroyed records by id, a page at a time.
            IndexModel([("status", ASCENDING), ("destroyed_at", ASCENDING), ("record_id", ASCENDING)],
                       name="records_by_status_id"),
        ]


class DeadlineDocument(Document):
    """One deadline of one record, with whether its breach was reported: the sweep claims these."""

    id: str  # type: ignore[assignment]  # "<record id>/<deadline name>"
    record_id: str
    name: str
    reference: str
    kind: str
    due_at: str
    met_at: str | None = None
    open: bool
    late: bool
    record_destroyed: bool = False
    breach_reported_at: str | None = None

    class Settings:
        name = "record_deadlines"
        indexes = [
            IndexModel([("record_id", ASCENDING)], name="deadlines_by_record"),
            IndexModel([("breach_reported_at", ASCENDING), ("due_at", ASCENDING)], name="deadlines_unreported_by_due"),
        ]


class DataKeyDocument(Document):
    id: str  # type: ignore[assignment]  # the record's id: one data key per record
    key_version: int
    kek_id: str
    wrapped: bytes
    created_at: str
    doomed_at: str | None = None  # its destruction was decided (RetentionRepository.decide_destruction)

    class Settings:
        name = "data_keys"
        indexes = [IndexModel([("kek_id", ASCENDING)], name="data_keys_by_kek"),
                   IndexModel([("doomed_at", ASCENDING)], name="data_keys_doomed")]


class TokenDocument(Document):
    id: str  # type: ignore[assignment]  # the SHA-256 of the secret
    name: str
    role: str
    created_at: str
    revoked_at: str | None = None
    # "active:<name>" while active, "revoked:<hash>" after: one unique index then allows one active
    # token per name on every server (unique indexes treat nulls differently across servers).
    name_slot: str

    class Settings:
        name = "api_tokens"
        indexes = [
            IndexModel([("name_slot", ASCENDING)], name="tokens_active_name_unique", unique=True),
            IndexModel([("revoked_at", ASCENDING), ("role", ASCENDING)], name="tokens_by_state_role"),
            IndexModel([("created_at", ASCENDING), ("name", ASCENDING)], name="tokens_by_created"),
            IndexModel([("name", ASCENDING)], name="tokens_by_name"),  # a name, once used, is never reissued
        ]


class SequenceDocument(Document):
    id: str  # type: ignore[assignment]
    value: int

    class Settings:
        name = "sequences"


class AuditEventDocument(Document):
    id: int  # type: ignore[assignment]  # the sequence number
    seq: int  # the same, for compound indexes (see RecordDocument.record_id)
    at: str
    actor: str | None = None
    role: str | None = None
    action: str
    outcome: str
    request_id: str | None = None
    targets: list[str] = Field(default_factory=list)
    canonical: bytes

    class Settings:
        name = "audit_events"
        indexes = [
            IndexModel([("actor", ASCENDING), ("seq", ASCENDING)], name="audit_by_actor"),
            IndexModel([("role", ASCENDING), ("seq", ASCENDING)], name="audit_by_role"),
            IndexModel([("action", ASCENDING), ("seq", ASCENDING)], name="audit_by_action"),
            IndexModel([("outcome", ASCENDING), ("seq", ASCENDING)], name="audit_by_outcome"),
            IndexModel([("targets", ASCENDING), ("seq", ASCENDING)], name="audit_by_target"),
            IndexModel([("at", ASCENDING)], name="audit_by_time"),
        ]


class AuditNodeDocument(Document):
    id: str  # type: ignore[assignment]  # "<level>:<index>"
    hash: bytes

    class Settings:
        name = "audit_nodes"


class AuditCheckpointDocument(Document):
    id: int  # type: ignore[assignment]  # the tree size
    tree_size: int  # the same, sorted on: some wire-compatible servers (nx-27017) order `_id` as text
    root_hash: str
    timestamp: str
    key_id: str
    signature: str

    class Settings:
        name = "audit_checkpoints"
        indexes = [IndexModel([("tree_size", ASCENDING)], name="checkpoints_by_size", unique=True)]


class LeaseDocument(Document):
    id: str  # type: ignore[assignment]  # what is leased, e.g. "audit-sealer"
    holder: str
    expires_us: int

    class Settings:
        name = "leases"


class PluginInstallDocument(Document):
    id: str  # type: ignore[assignment]  # the canonical distribution name
    doc: dict[str, Any]  # the whole InstalledPlugin

    class Settings:
        name = "plugin_installs"


class PluginDisabledBuiltinDocument(Document):
    id: str  # type: ignore[assignment]  # the built-in plugin's name
    disabled_at: str

    class Settings:
        name = "plugin_disabled_builtins"


class TrustedKeyDocument(Document):
    id: str  # type: ignore[assignment]  # the key's name
    fingerprint: str
    doc: dict[str, Any]  # the whole TrustedKey

    class Settings:
        name = "plugin_trusted_keys"
        indexes = [IndexModel([("fingerprint", ASCENDING)], name="trusted_keys_fingerprint_unique", unique=True)]


class RetentionScheduleDocument(Document):
    id: str  # type: ignore[assignment]  # "<schedule id>:<version>"
    schedule_id: str
    version: int
    name: str
    latest: bool  # the newest version of its schedule
    # "latest:<name>" on the newest version, "old:<_id>" on the others: one unique index then
    # keeps the names of current schedules apart (see TokenDocument.name_slot).
    name_slot: str
    created_at: str
    doc: dict[str, Any]

    class Settings:
        name = "retention_schedules"
        indexes = [
            IndexModel([("schedule_id", ASCENDING), ("version", DESCENDING)], name="schedules_by_id_version"),
            IndexModel([("latest", ASCENDING), ("name", ASCENDING), ("schedule_id", ASCENDING)], name="schedules_latest_by_name"),
            IndexModel([("name_slot", ASCENDING)], name="schedules_current_name_unique", unique=True),
        ]


class RetentionAssignmentDocument(Document):
    id: str  # type: ignore[assignment]  # the record's id
    record_id: str
    schedule_id: str | None = None
    retain_until: str | None = None
    batch_id: str | None = None
    disposed: bool
    # retain_until set, in no batch, not disposed of: what the due query scans (booleans rather
    # than nulls in indexes, which servers treat differently).
    pending: bool
    doc: dict[str, Any]

    class Settings:
        name = "retention_assignments"
        indexes = [
            IndexModel([("pending", ASCENDING), ("retain_until", ASCENDING), ("record_id", ASCENDING)], name="retention_due"),
            IndexModel([("schedule_id", ASCENDING), ("disposed", ASCENDING), ("record_id", ASCENDING)],
                       name="retention_by_schedule"),
        ]


class RetentionEventDocument(Document):
    id: str  # type: ignore[assignment]  # "<event name>/<record id>"
    name: str
    record_id: str
    occurred_at: str

    class Settings:
        name = "retention_events"


class LegalHoldDocument(Document):
    id: str  # type: ignore[assignment]
    hold_id: str
    placed_at: str
    released: bool
    has_query: bool
    q_kind: str | None = None
    q_account_idx: str | None = None
    q_phone_idx: str | None = None
    q_from: str | None = None
    q_to: str | None = None
    doc: dict[str, Any]

    class Settings:
        name = "legal_holds"
        indexes = [
            IndexModel([("released", ASCENDING), ("has_query", ASCENDING)], name="holds_active_queries"),
            IndexModel([("placed_at", DESCENDING), ("hold_id", ASCENDING)], name="holds_by_placed"),
        ]


class LegalHoldItemDocument(Document):
    id: str  # type: ignore[assignment]  # "<hold id>/<record id>"
    hold_id: str
    record_id: str

    class Settings:
        name = "legal_hold_items"
        indexes = [IndexModel([("record_id", ASCENDING), ("hold_id", ASCENDING)], name="hold_items_by_record")]


class DispositionBatchDocument(Document):
    id: str  # type: ignore[assignment]
    batch_id: str
    status: str
    created_at: str
    doc: dict[str, Any]  # the batch without its items

    class Settings:
        name = "disposition_batches"
        indexes = [
            IndexModel([("status", ASCENDING), ("created_at", DESCENDING), ("batch_id", ASCENDING)], name="batches_by_status"),
            IndexModel([("created_at", DESCENDING), ("batch_id", ASCENDING)], name="batches_by_created"),
        ]


class DispositionItemDocument(Document):
    id: str  # type: ignore[assignment]  # "<batch id>/<record id>"
    batch_id: str
    position: int
    record_id: str
    state: str
    doc: dict[str, Any]

    class Settings:
        name = "disposition_items"
        indexes = [IndexModel([("batch_id", ASCENDING), ("position", ASCENDING)], name="items_by_batch")]


class TombstoneDocument(Document):
    id: str  # type: ignore[assignment]  # the record's id
    batch_id: str
    doc: dict[str, Any]

    class Settings:
        name = "tombstones"
        indexes = [IndexModel([("batch_id", ASCENDING)], name="tombstones_by_batch")]


class DestructionCertificateDocument(Document):
    id: str  # type: ignore[assignment]
    batch_id: str
    issued_at: str
    doc: dict[str, Any]

    class Settings:
        name = "destruction_certificates"
        indexes = [IndexModel([("batch_id", ASCENDING)], name="certificates_by_batch_unique", unique=True)]


class RetentionFloorDocument(Document):
    id: str  # type: ignore[assignment]
    key: str
    created_at: str
    removed: bool
    doc: dict[str, Any]

    class Settings:
        name = "retention_floors"
        indexes = [IndexModel([("key", ASCENDING)], name="floors_key_unique", unique=True),
                   IndexModel([("created_at", ASCENDING), ("key", ASCENDING)], name="floors_by_created")]


class ConsoleSessionDocument(Document):
    """A console sign-in (``records.storage.mongodb.sessions`` writes it with pymongo)."""

    id: str  # type: ignore[assignment]  # the SHA-256 of the cookie's secret
    token_hash: str
    principal: str
    role: str
    csrf_token: str
    created_at: str
    last_seen_at: str

    class Settings:
        name = "console_sessions"
        indexes = [
            IndexModel([("token_hash", ASCENDING)], name="console_sessions_by_token"),
            IndexModel([("last_seen_at", ASCENDING)], name="console_sessions_by_last_seen"),
            IndexModel([("created_at", ASCENDING)], name="console_sessions_by_created"),
        ]


DOCUMENTS: list[type[Document]] = [
    RecordDocument, DeadlineDocument, DataKeyDocument, TokenDocument, SequenceDocument,
    AuditEventDocument, AuditNodeDocument, AuditCheckpointDocument, LeaseDocument,
    PluginInstallDocument, PluginDisabledBuiltinDocument, TrustedKeyDocument,
    RetentionScheduleDocument, RetentionAssignmentDocument, RetentionEventDocument, LegalHoldDocument,
    LegalHoldItemDocument, DispositionBatchDocument, DispositionItemDocument, TombstoneDocument,
    DestructionCertificateDocument, RetentionFloorDocument, ConsoleSessionDocument,
]
