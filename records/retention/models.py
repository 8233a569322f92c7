"""What retention and disposition deal in: schedules, assignments, events, legal holds,
disposition batches, tombstones and destruction certificates (storage-agnostic pydantic models)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, computed_field, field_validator, model_validator

from records.clock import utcnow
from records.models import ClassificationCode, Kind, Line, Strict, UtcDatetime, account_number, phone_number
from records.retention.periods import parse_period
from records.retention.review import MAX_STAGES, ReviewStage, StageDecision

TRIGGER_PATTERN = r"^(archived|closed|event:[a-z0-9][a-z0-9_.\-]{0,63})$"
EventName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.\-]*$")]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
RecordId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-]+$")]


class Cutoff(StrEnum):
    month = "month"
    year = "year"
    fiscal_year = "fiscal_year"


class DispositionAction(StrEnum):
    destroy = "destroy"  # crypto-shred, delete blobs, leave a tombstone
    transfer = "transfer"  # BagIt package to the archive of record, then destroy here
    review = "review"  # an archivist decides again when it falls due
    permanent = "permanent"  # never disposed of


def _period(value: str | None) -> str | None:
    if value is not None:
        parse_period(value)
    return value


class _ScheduleFields(Strict):
    kinds: list[Kind] | None = Field(None, min_length=1, description="Kinds of file the schedule governs.")
    classification: list[ClassificationCode] | None = Field(
        None, max_length=50, description="Optional codes (`scheme:code`); a code also covers its sub-codes.")
    trigger: Annotated[str, StringConstraints(pattern=TRIGGER_PATTERN)] | None = Field(
        None, description="`archived`, `closed` (result given, else archived) or `event:<name>`.")
    period: str | None = Field(None, description="ISO 8601 duration, e.g. `P3Y`, `P18M`, `P0D`.")
    cutoff: Cutoff | None = None
    action: DispositionAction | None = None
    review_stages: list[ReviewStage] | None = Field(
        None, max_length=MAX_STAGES, description="Up to five review stages a due file passes before disposal "
                                                 "(records.retention.review); none: one review by the retention managers.")

    _check_period = field_validator("period")(classmethod(lambda cls, v: _period(v)))


class ScheduleIn(_ScheduleFields):
    """The body of ``POST /api/v1/retention/schedules``."""

    name: Line
    kinds: list[Kind] = Field(min_length=1)
    trigger: Annotated[str, StringConstraints(pattern=TRIGGER_PATTERN)] = "archived"
    action: DispositionAction

    @model_validator(mode="after")
    def _period_fits_action(self) -> ScheduleIn:
        if self.action is not DispositionAction.permanent and self.period is None:
            raise ValueError("period is required unless the action is 'permanent'")
        return self


class SchedulePatch(_ScheduleFields):
    """The body of ``PATCH /api/v1/retention/schedules/{id}``: a new version with the fields given."""

    name: Line | None = None
    reason: Reason = Field(description="Why the schedule changes; kept with the version.")


class ReapplyIn(Strict):
    reason: Reason
    allow_shorter: bool = Field(False, description="Also bring retain-until dates forward where the current version is shorter.")
    dry_run: bool = Field(False, description="Only count what would change; nothing is stored.")


class RetentionSchedule(BaseModel):
    id: str
    version: int
    name: str
    kinds: list[Kind]
    classification: list[str] = Field(default_factory=list)
    trigger: str
    period: str | None
    cutoff: Cutoff | None = None
    action: DispositionAction
    review_stages: list[ReviewStage] = Field(default_factory=list)
    minimum_period: str | None = Field(None, description="Legal floor set by the plugin that registered it (SPEC §2.5).")
    origin: str = Field("api", description="`api`, or `plugin:<name>` for defaults a plugin registered.")
    created_at: datetime
    created_by: str
    reason: str | None = None

    def covers(self, kind: Kind, codes: list[str]) -> bool:
        if kind not in self.kinds:
            return False
        if not self.classification:
            return True
        return any(c == s or c.startswith(s + ".") or c.startswith(s + ":") for s in self.classification for c in codes)


class ScheduleList(BaseModel):
    items: list[RetentionSchedule]


class ScheduleRef(BaseModel):
    id: str
    version: int
    name: str


class RetentionAssignment(BaseModel):
    """Which schedule keeps an archived record, until when, and why."""

    record_id: str
    reference: str
    kind: Kind
    schedule: ScheduleRef | None = Field(description="None when no schedule covers the record: it is kept.")
    trigger: str | None = None
    trigger_at: datetime | None = Field(None, description="None while an event trigger has not fired.")
    retain_until: datetime | None = Field(None, description="None: not due (permanent, waiting for its event, or unscheduled).")
    action: DispositionAction | None = None
    basis: str = Field(description="Why: the schedule, period, cutoff and dates, and any extension.")
    batch_id: str | None = None
    disposed_at: datetime | None = None
    history: list[str] = Field(default_factory=list, description="Earlier bases, oldest first.")


class RecordRetention(RetentionAssignment):
    holds: list[str] = Field(default_factory=list, description="Active legal holds on the record.")


class RetentionEventIn(Strict):
    """The body of ``POST /api/v1/retention/events``."""

    name: EventName
    occurred_at: UtcDatetime | None = Field(None, description="When it happened; defaults to now.")
    record_ids: list[RecordId] | None = Field(None, max_length=10_000)
    customer_account: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None = None

    @model_validator(mode="after")
    def _says_which(self) -> RetentionEventIn:
        if not self.record_ids and self.customer_account is None:
            raise ValueError("name the records: record_ids or customer_account")
        return self


class RetentionEventResult(BaseModel):
    name: str
    occurred_at: datetime
    matched: int = Field(description="Records the event was recorded for.")
    clocks_started: int = Field(description="Archived records whose retention clock this event started.")


class HoldQueryIn(Strict):
    """A saved query: the hold covers every record it matches, filed before or after the hold."""

    customer_account: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None = None
    customer_phone: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=32)] | None = None
    kind: Kind | None = None
    received_from: UtcDatetime | None = None
    received_to: UtcDatetime | None = None

    @field_validator("customer_phone")
    @classmethod
    def _phone_shape(cls, value: str | None) -> str | None:
        return None if value is None else phone_number(value)

    @field_validator("customer_account")
    @classmethod
    def _account_shape(cls, value: str | None) -> str | None:
        return None if value is None else account_number(value)

    @model_validator(mode="after")
    def _not_everything(self) -> HoldQueryIn:
        if not self.model_fields_set - {"kind"}:
            raise ValueError("a saved query needs a customer_account, customer_phone or a received_from/received_to range")
        if self.received_from and self.received_to and self.received_from >= self.received_to:
            raise ValueError("received_from must be before received_to")
        return self


class HoldQuery(BaseModel):
    """A saved query as kept: personal data only as blind indexes (to match) and masked (to read)."""

    customer_account_index: str | None = None
    customer_phone_index: str | None = None
    customer_account_masked: str | None = Field(None, description="The account as masked roles see it, e.g. `AC****01`.")
    customer_phone_masked: str | None = Field(None, description="The phone as masked roles see it, e.g. `138****5678`.")
    kind: Kind | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None

    def describe(self) -> str:
        """The scope in words, masked: what an archivist reads instead of an HMAC."""
        parts = []
        if self.customer_phone_index is not None:
            parts.append(f"customer phone {self.customer_phone_masked or '(masked number, placed before masking was kept)'}")
        if self.customer_account_index is not None:
            parts.append(f"customer account {self.customer_account_masked or '(masked account, placed before masking was kept)'}")
        if self.kind is not None:
            parts.append(f"kind {self.kind.value}")
        if self.received_from is not None:
            parts.append(f"received from {self.received_from.isoformat()}")
        if self.received_to is not None:
            parts.append(f"received before {self.received_to.isoformat()}")
        return ", ".join(parts)

    def matches(self, kind: Kind, received_at: datetime, account_index: str | None, phone_index: str | None) -> bool:
        if self.kind is not None and kind is not self.kind:
            return False
        if self.customer_account_index is not None and account_index != self.customer_account_index:
            return False
        if self.customer_phone_index is not None and phone_index != self.customer_phone_index:
            return False
        if self.received_from is not None and received_at < self.received_from:
            return False
        return not (self.received_to is not None and received_at >= self.received_to)


class HoldIn(Strict):
    """The body of ``POST /api/v1/retention/holds``."""

    reason: Reason
    case_reference: Line
    record_ids: list[RecordId] | None = Field(None, max_length=10_000)
    query: HoldQueryIn | None = None

    @model_validator(mode="after")
    def _covers_something(self) -> HoldIn:
        if not self.record_ids and self.query is None:
            raise ValueError("a hold needs record_ids or a query")
        return self


class HoldRelease(Strict):
    reason: Reason


class LegalHold(BaseModel):
    id: str
    reason: str
    case_reference: str
    record_ids: list[str] = Field(default_factory=list)
    query: HoldQuery | None = None
    placed_at: datetime
    placed_by: str
    released_at: datetime | None = None
    released_by: str | None = None
    release_reason: str | None = None
    already_disposed: list[str] = Field(default_factory=list, description=(
        "Named records destroyed, or whose destruction was already decided, when the hold was placed: "
        "the hold does not stop those."))
    covered_at_placement: int | None = Field(None, description="How many files it covered when placed.")
    covered_at_release: int | None = Field(None, description="How many files it covered when released.")

    @computed_field(description="What the hold covers, in words, personal data masked.")  # type: ignore[prop-decorator]
    @property
    def scope(self) -> str:
        parts = []
        if self.record_ids:
            parts.append(f"{len(self.record_ids)} named file(s)")
        if self.query is not None:
            parts.append("every file, filed before or after the hold, with " + self.query.describe())
        return "; ".join(parts)

    @computed_field(description="Placed and released: when, by whom, why, and how many files it covered.")  # type: ignore[prop-decorator]
    @property
    def history(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = [{"at": self.placed_at, "event": "placed", "by": self.placed_by,
                                         "reason": self.reason, "covered": self.covered_at_placement}]
        if self.released_at is not None:
            events.append({"at": self.released_at, "event": "released", "by": self.released_by,
                           "reason": self.release_reason, "covered": self.covered_at_release})
        return events

    @property
    def active(self) -> bool:
        return self.released_at is None

    def with_decided(self, decided: list[str]) -> LegalHold:
        """This hold as stored: ``already_disposed`` also names the records whose destruction was decided."""
        late = [r for r in decided if r not in self.already_disposed]
        return self.model_copy(update={"already_disposed": self.already_disposed + late}) if late else self


class HoldList(BaseModel):
    items: list[LegalHold]


class HeldRecord(BaseModel):
    """One file a hold covers (or covered), governance facts only."""

    record_id: str
    reference: str
    kind: Kind
    received_at: datetime
    named: bool = Field(description="Named in the hold (else matched by its saved query).")
    covered_since: datetime = Field(description="The hold's placement, or the filing of a file it matched later.")
    covered_until: datetime | None = Field(None, description="The hold's release; None while it holds.")
    state: str = Field(description="`held`, `released`, `destroyed` (after the hold was released) or "
                                   "`disposed_before_hold` (its destruction was decided before the hold came).")


class HoldCoverage(BaseModel):
    hold_id: str
    active: bool
    total: int = Field(description="Files the hold covers (covered, if released), all pages together.")
    offset: int
    limit: int
    items: list[HeldRecord]


class SweepIn(Strict):
    as_of: UtcDatetime | None = Field(None, description="Default now; a later time only forecasts.")
    limit: int = Field(1000, ge=1, le=100_000, description="Forecasts: at most this many items are listed.")


class Decision(StrEnum):
    pending = "pending"
    approve = "approve"
    reject = "reject"
    extend = "extend"


class ItemState(StrEnum):
    waiting = "waiting"  # not executed (yet)
    executing = "executing"  # claimed by an execution: resumed after a crash
    disposed = "disposed"  # destroyed or transferred and destroyed
    kept = "kept"  # rejected or extended: the record stays
    held = "held"  # on hold when its turn came: it stays


class BatchItem(BaseModel):
    record_id: str
    reference: str
    kind: Kind
    action: DispositionAction
    retain_until: datetime
    schedule: ScheduleRef
    decision: Decision = Decision.pending
    approvers: list[str] = Field(default_factory=list)
    reason: str | None = None
    until: datetime | None = None
    decided_at: datetime | None = None
    state: ItemState = ItemState.waiting
    disposed_at: datetime | None = None
    content_hash: str | None = None
    transfer: str | None = Field(None, description="Where the BagIt package went.")
    audit_seq: int | None = Field(None, description="Sequence number of the destruction event in the audit log.")
    stages: list[ReviewStage] = Field(default_factory=list, description="Its schedule's review stages when gathered.")
    stage: int = Field(0, description="0-based index of the stage it waits for (while pending).")
    stage_approvers: list[str] = Field(default_factory=list, description="Who approved at the current stage so far.")
    reviews: list[StageDecision] = Field(default_factory=list, description="Every reviewer's act, stage by stage.")


class BatchStatus(StrEnum):
    forecast = "forecast"
    open = "open"
    executing = "executing"
    done = "done"


class Progress(BaseModel):
    total: int
    decided: int
    processed: int
    disposed: int
    kept: int
    held: int


def progress_of(counts: dict[tuple[str, str], int]) -> Progress:
    """A batch's progress from how many of its items are in each (state, decision): what a store
    can count without reading the items (``RetentionRepository.batch_progress``)."""

    def count(states: tuple[ItemState, ...] = tuple(ItemState), decided: bool | None = None) -> int:
        wanted = {s.value for s in states}
        return sum(n for (state, decision), n in counts.items()
                   if state in wanted and (decided is None or (decision != Decision.pending.value) == decided))

    return Progress(total=count(), decided=count(decided=True),
                    processed=count((ItemState.disposed, ItemState.kept, ItemState.held)),
                    disposed=count((ItemState.disposed,)), kept=count((ItemState.kept,)), held=count((ItemState.held,)))


@dataclass(frozen=True, slots=True)
class ItemFilter:
    """Which items of a batch a page lists: a decision, a kind, the start of a reference (any case)."""

    decision: Decision | None = None
    kind: Kind | None = None
    reference: str | None = None


class ItemPage(BaseModel):
    """Items of a batch in their order, ``offset`` on, and how many match the filter in all."""

    items: list[BatchItem]
    matched: int


class DecisionTally(BaseModel):
    """How a batch's items stand, counted by the store (``RetentionRepository.decision_tally``)."""

    total: int
    pending: int = Field(description="Undecided.")
    short: int = Field(description="Approved, still waiting for another approver (items without review stages).")
    approved: int = Field(description="Approved with every approval they need.")
    kept: int = Field(description="Rejected or extended.")


class WaitingItems(BaseModel):
    """Items of open batches waiting for one reviewer (``RetentionRepository.waiting``), the earliest
    due first, each with its batch; ``total`` counts every one, beyond the ``limit`` listed."""

    items: list[tuple[str, BatchItem]]
    total: int


class DispositionBatch(BaseModel):
    id: str | None = Field(description="None for a forecast, which is not stored.")
    status: BatchStatus
    as_of: datetime
    created_at: datetime
    created_by: str
    items: list[BatchItem]
    progress: Progress | None = None
    two_person_rule: bool = False
    executed_by: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    certificate_id: str | None = None
    truncated: bool = Field(False, description="Forecasts: more items are due than listed.")

    def summary(self) -> Progress:
        counts: dict[tuple[str, str], int] = {}
        for i in self.items:
            counts[(i.state.value, i.decision.value)] = counts.get((i.state.value, i.decision.value), 0) + 1
        return progress_of(counts)


class SweepResult(BaseModel):
    as_of: datetime
    forecast: bool
    batches: list[DispositionBatch]
    due: int = Field(description="Due, unheld records gathered (or forecast).")
    held: int = Field(description="Due records left out because a legal hold covers them.")
    assigned: int = Field(0, description="Archived records given their schedule by this sweep's reconciliation.")


class BatchList(BaseModel):
    items: list[DispositionBatch]


class DecisionIn(Strict):
    record_id: RecordId
    decision: Decision
    reason: Reason | None = None
    until: UtcDatetime | None = Field(None, description="For `extend`: the new retain-until date.")

    @model_validator(mode="after")
    def _complete(self) -> DecisionIn:
        if self.decision is Decision.pending:
            raise ValueError("decide approve, reject or extend")
        if self.decision is Decision.extend and self.until is None:
            raise ValueError("extend needs `until`")
        if self.decision is not Decision.extend and self.until is not None:
            raise ValueError("`until` applies only to extend")
        if self.decision in (Decision.reject, Decision.extend) and not self.reason:
            raise ValueError(f"{self.decision.value} needs a reason")
        return self


class DecisionsIn(Strict):
    """The body of ``POST /api/v1/retention/batches/{id}/decisions``."""

    decisions: list[DecisionIn] = Field(min_length=1, max_length=100_000)

    @field_validator("decisions")
    @classmethod
    def _once_each(cls, value: list[DecisionIn]) -> list[DecisionIn]:
        ids = [d.record_id for d in value]
        if len(ids) != len(set(ids)):
            raise ValueError("each record may be decided once per request")
        return value


class DeadlineOutcome(BaseModel):
    name: str
    due_at: datetime
    met_at: datetime | None = None
    on_time: bool | None = Field(None, description="None: neither met nor past due when the file was destroyed.")


class GovernanceFacts(BaseModel):
    """What reports count about a file, kept when it is destroyed (never personal data): a 2026
    report read in 2030 says what it said in 2026."""

    channel: str
    urgency: str
    complexity: str | None = None
    classification: list[str] = Field(default_factory=list)
    service_type: str | None = None
    owner_kept: bool = Field(description="Resolved by its first owner (first-contact responsibility).")
    result_at: datetime | None = None
    satisfaction: int | None = None
    deadlines: list[DeadlineOutcome] = Field(default_factory=list)

    @classmethod
    def of(cls, stored: Any) -> GovernanceFacts:
        destroyed = stored.destroyed_at or utcnow()
        return cls(
            channel=stored.channel.value, urgency=stored.urgency.value,
            complexity=stored.complexity.value if stored.complexity else None, classification=list(stored.classification),
            service_type=stored.service_type.value if stored.service_type else None,
            owner_kept=stored.owner == stored.created_by, result_at=stored.result_at,
            satisfaction=stored.feedback.satisfaction if stored.feedback else None,
            deadlines=[DeadlineOutcome(name=d.name, due_at=d.due_at, met_at=d.met_at,
                                       on_time=(d.met_at <= d.due_at) if d.met_at else (False if d.due_at < destroyed else None))
                       for d in stored.deadlines])


class Tombstone(BaseModel):
    """What remains of a destroyed record: enough to prove it existed and was disposed of lawfully,
    and its governance facts for the reports of the periods it belongs to."""

    record_id: str
    reference: str
    kind: Kind
    received_at: datetime
    created_at: datetime
    archived_at: datetime | None
    destroyed_at: datetime
    disposition: DispositionAction
    schedule: ScheduleRef
    retain_until: datetime
    content_hash: str = Field(description="SHA-256 of the record's canonical JSON, taken just before destruction.")
    batch_id: str
    certificate_id: str | None = None
    transferred_to: str | None = None
    governance: GovernanceFacts | None = Field(None, description="None for files destroyed before these were kept.")


class CertificateItem(BaseModel):
    record_id: str
    reference: str
    kind: Kind
    content_hash: str
    action: DispositionAction
    schedule: ScheduleRef
    retain_until: datetime
    approvers: list[str]
    disposed_at: datetime
    transferred_to: str | None = None
    audit_event: dict[str, Any] = Field(description="The destruction event exactly as hashed into the audit log.")
    inclusion_path: list[str] = Field(description="RFC 9162 inclusion proof of that event in `audit_checkpoint`.")


class DestructionCertificate(BaseModel):
    format: str = "records destruction certificate v1"
    id: str
    batch_id: str
    issued_at: datetime
    executor: str
    approvers: list[str]
    started_at: datetime
    finished_at: datetime
    items: list[CertificateItem]
    audit_checkpoint: dict[str, Any] = Field(description="The signed audit checkpoint covering every destruction event.")
    key_id: str
    public_key: str = Field(description="PEM of the Ed25519 key that signed (also at /api/v1/audit/public-keys).")
    signature: str = Field("", description="Base64 Ed25519 signature (see `records retention verify-certificate`).")


def has_id_shape(value: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9\-]{1,64}", value))


class PreviewItem(BaseModel):
    record_id: str
    reference: str
    retain_until_now: datetime | None
    retain_until_then: datetime | None


class SchedulePreview(BaseModel):
    """What re-applying a schedule version does (or, ``dry_run``, would do) to the files under its
    earlier versions. ``examined`` counts them; each is ``earlier``, ``later`` or ``unchanged``."""

    dry_run: bool
    schedule: RetentionSchedule = Field(description="The version applied (for an edit's preview: as it would be stored).")
    examined: int = 0
    changed: int = Field(0, description="Assignments rewritten (0 for a dry run).")
    moved: int = Field(0, description="Files whose retain-until date would change.")
    earlier: int = Field(0, description="Files that would fall due earlier (or at all, where none was due).")
    later: int = Field(0, description="Files that would be kept longer (or no longer fall due).")
    unchanged: int = 0
    kept_longer: int = Field(0, description="Files a shorter version would bring forward, kept at their later date "
                                            "(re-apply without `allow_shorter`).")
    no_longer_covered: int = Field(0, description="Files the version's kinds and codes no longer cover.")
    first_earlier: list[PreviewItem] = Field(default_factory=list, description="Up to 10.")
    first_later: list[PreviewItem] = Field(default_factory=list, description="Up to 10.")

    def count(self, before: RetentionAssignment, after: RetentionAssignment) -> None:
        now, then = before.retain_until, after.retain_until
        if now == then:
            self.unchanged += 1
            return
        self.moved += 1
        item = PreviewItem(record_id=before.record_id, reference=before.reference, retain_until_now=now,
                           retain_until_then=then)
        if then is not None and (now is None or then < now):
            self.earlier += 1
            if len(self.first_earlier) < 10:
                self.first_earlier.append(item)
        else:
            self.later += 1
            if len(self.first_later) < 10:
                self.first_later.append(item)
