"""Filing and handling customer-service files: the rules, independent of HTTP and storage."""

from __future__ import annotations

import asyncio
import random
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from records.attachments import (
    UPLOAD_INTENTS,
    MeasuredContent,
    blob_key,
    open_content,
    parse_upload_intent_key,
    safe_content_type,
    safe_filename,
    seal_content,
    upload_intent_key,
)
from records.audit.events import AuditEventDraft, Outcome
from records.audit.trail import committed, drafts_for_change
from records.audit.trail import current as current_trail
from records.clock import as_utc, to_text, utcnow
from records.crypto.envelope import DataKey
from records.crypto.sealing import RecordSealer
from records.errors import (
    AttachmentContentMissing,
    AttachmentNotFound,
    InvalidInput,
    NotFound,
    NotPermitted,
    NotRecordOwner,
    PluginFailed,
    PreconditionRequired,
    ReassignForbidden,
    RecordArchived,
    RecordDestroyed,
    RecordNotFound,
    TransitionNotAllowed,
    TransitionRefused,
    VersionConflict,
)
from records.lifecycle import LifecycleEvent, Notifier
from records.models import (
    REFERENCE_PREFIX,
    Attachment,
    Customer,
    Delivery,
    DeliveryConfirmation,
    DeliveryConfirmationIn,
    Feedback,
    Note,
    NoteIn,
    Record,
    RecordCreate,
    RecordPage,
    RecordPatch,
    RecordQuery,
    TimelineEvent,
    TransitionIn,
    check_kind_fields,
)
from records.plugins.failures import customer_identifiers, failure_report
from records.ports import BlobStore, BreachClaim, RecordRepository, TokenRepository
from records.registries import RegistriesInForce
from records.roles import EDIT_ANY_RECORD, FILE_RECORDS, REASSIGN_RECORDS, Principal, Role
from records.service_levels import ServiceLevels
from records.services.keys import RecordKeys
from records.services.lookups import IdentifierLookups, stated_purpose
from records.services.personal_data import PersonalDataPolicy
from records.services.record_cursors import decode_cursor, encode_cursor, query_fingerprint
from records.stored import StoredRecord
from records.validation import Validate
from records.workflow import ARCHIVED, Transition, WorkflowRegistry, accepted_or_failed

# Contact times a little ahead of the server clock are clock skew, not the future.
CLOCK_SKEW = timedelta(minutes=2)
# Appends (notes, attachments) never conflict in meaning, so they retry a lost race.
APPEND_RETRIES = 20


@dataclass(frozen=True, slots=True)
class UploadMeta:
    filename: str
    content_type: str


class Upload(Protocol):
    """An attachment arriving as a stream: its metadata first, then its bytes."""

    async def begin(self) -> UploadMeta: ...

    def chunks(self) -> AsyncIterator[bytes]: ...


def _read(*targets: str) -> None:
    """Name what a read touched, for the event the request records."""
    trail = current_trail()
    if trail is not None:
        trail.target(*targets)


def _check_not_archived(record: Record) -> None:
    if record.archived_at is not None:
        raise RecordArchived(
            f"{record.reference} is archived: its content is a record and cannot change; add a note to annotate it"
        )


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


@dataclass(frozen=True, slots=True)
class TransitionOption:
    """A move from the file's stage now, and why ``transition`` would refuse it (None: allowed)."""

    to: str
    requires_note: bool
    refusal: str | None


class RecordService:
    def __init__(
        self,
        records: RecordRepository,
        blobs: BlobStore,
        tokens: TokenRepository,
        keys: RecordKeys,
        sealer: RecordSealer,
        policy: PersonalDataPolicy,
        registries: RegistriesInForce,
        classify: Callable[[Record], tuple[list[str], list[str]]] | None = None,
        page_size_default: int = 50,
        page_size_max: int = 200,
        notifier: Notifier | None = None,
        validate: Validate | None = None,
        due_soon: timedelta = timedelta(hours=1),
    ) -> None:
        self._records = records
        self._blobs = blobs
        self._tokens = tokens  # who may be given a file to own
        self._keys = keys
        self._sealer = sealer
        self._policy = policy
        self._registries = registries  # workflows and service levels in force (applying plugins swaps them)
        # Per-record locks, dropped by the garbage collector once no appender holds one.
        self._append_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._classify = classify
        self.page_size_default = page_size_default
        self.page_size_max = page_size_max
        self._notifier = notifier
        self._validate = validate
        self.due_soon = due_soon
        # Retention plugs in here: told of every archiving, wrapping every destruction (a legal
        # hold wins on every path), and answering 410 with the tombstone of a disposed record.
        self.archive_listeners: list[Callable[[Record], Awaitable[None]]] = []
        self.destruction_gate: Callable[[str], AbstractAsyncContextManager[None]] | None = None
        self.disposal_check: Callable[[StoredRecord], Awaitable[None]] | None = None
        # Who may look files up by personal identifier, and how often (set by the installation).
        self.lookups: IdentifierLookups | None = None

    @property
    def workflows(self) -> WorkflowRegistry:
        return self._registries.workflows

    @property
    def service_levels(self) -> ServiceLevels:
        return self._registries.service_levels

    def _notify(self, name: str, record: Record, actor: str | None, **detail: object) -> None:
        if self._notifier is not None:
            self._notifier.emit(LifecycleEvent(name=name, at=utcnow(), record_id=record.id, reference=record.reference,
                                               kind=record.kind.value, actor=actor, detail=detail))

    # --- filing and reading -------------------------------------------------------------------

    async def file(self, data: RecordCreate, actor: Principal) -> Record:
        if actor.role not in FILE_RECORDS:
            raise NotPermitted(f"role {actor.role} may not file records")
        now = utcnow()
        received_at = as_utc(data.received_at) if data.received_at else now
        if received_at > now + CLOCK_SKEW:
            raise InvalidInput("received_at must not be in the future", field="received_at")
        if data.classification:
            self._registries.check_codes(data.classification, [])
        number = await self._records.next_sequence(f"reference:{data.kind.value}:{now.year}")
        fields = data.model_dump(exclude={"received_at", "classification"}, exclude_none=True)
        record = Record(
            **fields,
            id=str(uuid.uuid4()),
            reference=f"{REFERENCE_PREFIX[data.kind]}-{now.year}-{number:06d}",
            status=self.workflows.for_kind(data.kind).initial,
            version=1,
            owner=actor.name,  # first-contact responsibility (SPEC §3.2, §5.1)
            created_by=actor.name,
            classification=data.classification or [],
            received_at=received_at,
            created_at=now,
            updated_at=now,
            timeline=[TimelineEvent(at=now, actor=actor.name, event="filed", detail={"kind": data.kind.value})],
        )
        if self._classify is not None:
            proposed, failed = self._classify(record)
            added = [c for c in proposed if c not in record.classification]
            if added:
                record.classification = [*record.classification, *added][:50]
                record.timeline.append(TimelineEvent(at=now, actor="classification", event="classified",
                                                     detail={"codes": added}))
            if failed:
                record.timeline.append(TimelineEvent(at=now, actor="classification", event="classification_failed",
                                                     detail={"plugins": failed}))
        if self._validate is not None:
            self._validate(record, None, actor)
        record.deadlines = self.service_levels.deadlines(record, now)
        key, wrapped = self._keys.issue(record.id)
        await self._records.add(self._sealer.seal(record, key), wrapped, drafts_for_change(f"record:{record.id}"))
        committed()
        self._notify("created", record, actor.name)
        return self._policy.present(record, actor)

    async def get(self, record_id: str, actor: Principal) -> Record:
        """The record as ``actor`` may see it (personal data masked for roles without need);
        a record disposed of by retention answers with its tombstone (``RecordDestroyed``)."""
        _read(f"record:{record_id}")
        stored = await self._stored(record_id)
        if self.disposal_check is not None:
            await self.disposal_check(stored)
        return self._policy.present(self._sealer.open(stored, await self._keys.for_record(stored)), actor)

    async def open_for_disposition(self, record_id: str) -> Record:
        """The record in clear for retention (its content hash, a transfer package)."""
        stored = await self._stored(record_id)
        return self._sealer.open(stored, await self._keys.for_record(stored))

    async def reveal_identity(self, record_id: str, actor: Principal) -> Customer:
        """The customer's personal data unmasked: its own, separately accountable action, for a
        stated purpose (the request's ``X-Purpose``, recorded in its event)."""
        self._policy.check_may_reveal(actor)
        stated_purpose(what="revealing a customer's identity")
        record = await self._open(record_id)
        if record.customer is None:
            raise RecordDestroyed(f"record {record.reference} was destroyed; its personal data is gone")
        return record.customer

    async def _stored(self, record_id: str) -> StoredRecord:
        stored = await self._records.get(record_id)
        if stored is None:
            raise RecordNotFound(f"no record has id {record_id!r}")
        return stored

    async def _open(self, record_id: str) -> Record:
        _read(f"record:{record_id}")
        stored = await self._stored(record_id)
        return self._sealer.open(stored, await self._keys.for_record(stored))

    async def _open_live(self, record_id: str) -> tuple[Record, DataKey]:
        """A record to change: destroyed records are read-only for good."""
        stored = await self._stored(record_id)
        key = await self._keys.for_record(stored)
        if key is None:
            raise RecordDestroyed(f"record {stored.reference} was destroyed and cannot change")
        return self._sealer.open(stored, key), key

    async def shred(self, record_id: str) -> Record:
        """Crypto-shredding: destroy the record's data key. Retention calls this; it has no endpoint.
        The destruction gate (retention's) refuses while a legal hold covers the record."""
        await self._stored(record_id)
        if self.destruction_gate is not None:
            async with self.destruction_gate(record_id):
                stored = await self._keys.shred(self._records, record_id)
        else:
            stored = await self._keys.shred(self._records, record_id)
        assert stored is not None
        record = self._sealer.open(stored, None)
        self._notify("destroyed", record, None)
        return record

    async def search(
        self,
        query: RecordQuery,
        actor: Principal,
        cursor: str | None = None,
        limit: int | None = None,
        customer_phone: str | None = None,
        customer_account: str | None = None,
    ) -> RecordPage:
        limit = self.page_size_default if limit is None else limit
        if not 1 <= limit <= self.page_size_max:
            raise InvalidInput(f"limit must be between 1 and {self.page_size_max}", field="limit")
        # Personal data is looked up through keyed blind indexes; the plaintext goes no further.
        # A lookup by identifier is a privilege of its own, audited and rate-limited.
        if customer_phone is not None:
            query = query.model_copy(update={"customer_phone_index": self.look_up(actor, "customer.phone", customer_phone)})
        if customer_account is not None:
            query = query.model_copy(
                update={"customer_account_index": self.look_up(actor, "customer.account", customer_account)})
        if query.sla is not None:
            now = utcnow()
            query = query.model_copy(update={"sla_now": now, "sla_soon_until": now + self.due_soon})
        fingerprint = query_fingerprint(query)
        after = decode_cursor(cursor, fingerprint) if cursor else None
        # One extra row tells whether another page exists without a count query.
        rows = await self._records.find(query.model_copy(update={"after": after, "limit": limit + 1}))
        stored, more = rows[:limit], len(rows) > limit
        keys = await self._keys.for_records(stored)
        items = [self._policy.present(self._sealer.open(s, keys[s.id]), actor) for s in stored]
        _read(*(f"record:{s.id}" for s in stored))
        next_cursor = encode_cursor(items[-1], fingerprint) if more else None
        return RecordPage(items=items, next_cursor=next_cursor)

    def look_up(self, actor: Principal, index: str, value: str) -> str:
        """The blind-index value for a lookup by ``index`` (``IdentifierLookups`` decides whether
        ``actor`` may look up now; without it, library use, anyone may)."""
        if self.lookups is not None:
            return self.lookups.look_up(actor, index, value)
        return self._sealer.index.value(index, value)

    # --- handling -----------------------------------------------------------------------------

    async def amend(self, record_id: str, patch: RecordPatch, expected_version: int | None, actor: Principal) -> Record:
        record, key = await self._open_live(record_id)
        self._check_may_edit(record, actor)
        _check_not_archived(record)
        reassigning = patch.owner is not None and patch.owner != record.owner
        if reassigning and actor.role not in REASSIGN_RECORDS:
            raise ReassignForbidden("only a supervisor or an admin may reassign a file")
        if expected_version is None:
            raise PreconditionRequired('send If-Match with the version you read, e.g. If-Match: "3" (the ETag)')
        if reassigning and not await self._may_own(patch.owner):
            raise InvalidInput(
                f"{patch.owner!r} cannot own files: owners are active agent, supervisor or admin tokens", field="owner"
            )
        try:
            check_kind_fields(record.kind, patch)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        if patch.classification:
            self._registries.check_codes(patch.classification, record.classification)
        if record.version != expected_version:
            raise VersionConflict(
                f"record is at version {record.version}, not {expected_version}; read it again and reapply",
                current_version=record.version,
            )
        now = utcnow()
        changes = patch.model_dump(exclude_unset=True, exclude={"customer", "feedback", "owner", "result", "delivery_confirmation"})
        updated = record.model_copy(deep=True)
        changed: list[str] = []
        events: list[TimelineEvent] = []
        for name in changes:
            value = getattr(patch, name)  # the validated value (a model, not its dict)
            if getattr(updated, name) != value:
                setattr(updated, name, value)
                changed.append(name)
        if patch.customer is not None and record.customer is not None:
            merged = Customer(**{**record.customer.model_dump(), **patch.customer.model_dump(exclude_unset=True)})
            if merged != record.customer:
                updated.customer = merged
                changed.append("customer")
        if patch.result is not None and patch.result != record.result:
            updated.result, updated.result_at = patch.result, now
            events.append(TimelineEvent(at=now, actor=actor.name, event="result_recorded"))
        if patch.feedback is not None:
            updated.feedback = Feedback(**patch.feedback.model_dump(), given_at=now)
            events.append(
                TimelineEvent(
                    at=now, actor=actor.name, event="feedback_recorded", detail={"satisfaction": patch.feedback.satisfaction}
                )
            )
        if patch.delivery_confirmation is not None:
            updated.delivery = self._confirmed_delivery(record, patch.delivery_confirmation, now, actor)
            events.append(TimelineEvent(at=now, actor=actor.name, event="delivery_confirmed",
                                        detail={"reference": patch.delivery_confirmation.reference}))
        if patch.owner is not None and patch.owner != record.owner:
            updated.owner = patch.owner
            events.append(
                TimelineEvent(at=now, actor=actor.name, event="reassigned", detail={"from": record.owner, "to": patch.owner})
            )
        if changed:
            # Field names only: the timeline must never copy personal data out of its protected fields.
            events.insert(0, TimelineEvent(at=now, actor=actor.name, event="amended", detail={"fields": sorted(changed)}))
        if not events:
            return self._policy.present(record, actor)
        if self._validate is not None:
            self._validate(updated, record, actor)
        updated.timeline.extend(events)
        updated.deadlines = self.service_levels.deadlines(updated, now)
        updated.version, updated.updated_at = record.version + 1, now
        events = drafts_for_change(f"record:{record.id}")
        if not await self._records.replace(self._sealer.seal(updated, key), expected_version=record.version, events=events):
            current = await self._stored(record_id)
            raise VersionConflict(
                f"record changed to version {current.version} meanwhile; read it again and reapply",
                current_version=current.version,
            )
        committed()
        self._notify("amended", updated, actor.name, fields=sorted(changed))
        return self._policy.present(updated, actor)

    def _confirmed_delivery(self, record: Record, data: DeliveryConfirmationIn, now: datetime, actor: Principal) -> Delivery:
        """The customer's signed acceptance, recorded while the delivery is in its acceptance test
        (SPEC §4.2.3): the stage from which the workflow's ``acceptance.passed`` can be entered."""
        workflow = self.workflows.for_kind(record.kind)
        acceptance = workflow.acceptance
        if acceptance is None or workflow.transition(record.status, acceptance.passed) is None:
            raise InvalidInput("the customer's confirmation is recorded during the delivery's acceptance test; "
                               f"this file is in stage {record.status!r}", field="delivery_confirmation")
        confirmed_at = data.confirmed_at or now
        if confirmed_at > now:
            raise InvalidInput("delivery_confirmation.confirmed_at is in the future", field="delivery_confirmation")
        delivery = (record.delivery or Delivery()).model_copy(deep=True)
        delivery.confirmation = DeliveryConfirmation(reference=data.reference, confirmed_at=confirmed_at, recorded_by=actor.name)
        return delivery

    async def add_note(self, record_id: str, data: NoteIn, actor: Principal) -> Note:
        if actor.role not in FILE_RECORDS:
            raise NotPermitted(f"role {actor.role} may not add notes")
        now = utcnow()
        note = Note(**data.model_dump(), id=str(uuid.uuid4()), at=now, author=actor.name)
        event = TimelineEvent(at=now, actor=actor.name, event="note_added", detail={"note_id": note.id, "type": note.type})
        await self._append(record_id, lambda r: (r.notes.append(note), r.timeline.append(event)), f"note:{note.id}")
        return note

    # --- attachments --------------------------------------------------------------------------

    async def attach(self, record_id: str, upload: Upload, actor: Principal) -> Attachment:
        if actor.role not in FILE_RECORDS:
            raise NotPermitted(f"role {actor.role} may not attach files")
        current, data_key = await self._open_live(record_id)  # refuse before reading a byte of a possibly huge upload
        _check_not_archived(current)
        meta = await upload.begin()
        attachment_id = str(uuid.uuid4())
        key = blob_key(record_id, attachment_id)
        plain = MeasuredContent(upload.chunks())
        # The intent, durable before the content: a crash between the content and the commit that
        # lists it leaves both, and recovery (start-up, fsck) knows the content is an interrupted
        # upload to delete, not evidence that went missing from a record.
        intent = upload_intent_key(record_id, attachment_id)
        await self._blobs.put(intent, _one_chunk(to_text(utcnow()).encode()))
        try:
            return await self._attach_content(record_id, attachment_id, key, data_key, meta, plain, actor)
        finally:
            await self._blobs.delete(intent)

    async def _attach_content(self, record_id: str, attachment_id: str, key: str, data_key: DataKey, meta: UploadMeta,
                              plain: MeasuredContent, actor: Principal) -> Attachment:
        # Only ciphertext reaches the blob store; size and digest are of what the client sent.
        await self._blobs.put(key, seal_content(data_key, record_id, attachment_id, plain))
        now = utcnow()
        attachment = Attachment(
            id=attachment_id,
            filename=safe_filename(meta.filename),
            content_type=safe_content_type(meta.content_type),
            size=plain.size,
            sha256=plain.sha256.hexdigest(),
            uploaded_at=now,
            uploaded_by=actor.name,
        )
        event = TimelineEvent(
            at=now, actor=actor.name, event="attachment_added", detail={"attachment_id": attachment_id, "size": plain.size}
        )
        try:
            await self._append(
                record_id, lambda r: (r.attachments.append(attachment), r.timeline.append(event)),
                f"attachment:{attachment_id}", content=True,
            )
        except BaseException:
            # The blob is durable but unreferenced: remove it so a failed request leaves nothing.
            await self._blobs.delete(key)
            raise
        return attachment

    async def recover_interrupted_uploads(self, older_than: timedelta = timedelta(0)) -> int:
        """Delete the content of uploads a crash interrupted before their commit (their intent is
        still there and no record lists them); returns how many. ``older_than`` spares uploads
        other instances of a shared store may still be writing."""
        recovered = 0
        now = utcnow()
        async for intent in self._blobs.list_keys(UPLOAD_INTENTS):
            upload = parse_upload_intent_key(intent)
            if upload is None:
                await self._blobs.delete(intent)
                continue
            record_id, attachment_id = upload
            try:
                started = as_utc(datetime.fromisoformat(b"".join([c async for c in await self._blobs.open(intent)]).decode()))
            except (NotFound, ValueError, UnicodeDecodeError):
                started = None
            if started is not None and now - started < older_than:
                continue
            stored = await self._records.get(record_id)
            if stored is None or all(a.id != attachment_id for a in stored.attachments):
                await self._blobs.delete(blob_key(record_id, attachment_id))
                recovered += 1
            await self._blobs.delete(intent)
        return recovered

    async def open_attachment(self, record_id: str, attachment_id: str,
                              actor: Principal | None = None) -> tuple[Attachment, AsyncIterator[bytes]]:
        """The attachment (as ``actor`` may see its metadata) and its bytes. With an ``actor`` (a
        request) the personal-data policy decides first; without one (retention's own transfer
        packages) the service reads for itself."""
        _read(f"record:{record_id}", f"attachment:{attachment_id}")
        if actor is not None:
            self._policy.check_may_read_attachment(actor)
        stored = await self._stored(record_id)
        data_key = await self._keys.for_record(stored)
        record = self._sealer.open(stored, data_key)
        attachment = record.attachment(attachment_id)
        if attachment is None:
            raise AttachmentNotFound(f"record {record_id} has no attachment {attachment_id!r}")
        if data_key is None:
            raise RecordDestroyed(f"record {record.reference} was destroyed; its attachments can never be read again")
        if actor is not None:
            attachment = self._policy.present(record, actor).attachment(attachment_id) or attachment
        try:
            content = await self._blobs.open(blob_key(record_id, attachment_id))
        except NotFound:
            raise AttachmentContentMissing(
                f"attachment {attachment_id} of record {record_id} is listed but its content is missing from the blob store"
            ) from None
        return attachment, open_content(data_key, record_id, attachment_id, content)

    # --- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _check_may_edit(record: Record, actor: Principal) -> None:
        if actor.role in EDIT_ANY_RECORD:
            return
        if actor.role is Role.agent and record.owner == actor.name:
            return
        if actor.role is Role.agent:
            raise NotRecordOwner(f"file {record.reference} is owned by {record.owner}; ask a supervisor to reassign it")
        raise NotPermitted(f"role {actor.role} may not change records")

    def _check_move(self, record: Record, move: Transition, actor: Principal) -> None:
        """Raises unless ``actor`` may take ``move`` now: its roles, then its guards."""
        if actor.role not in move.roles:
            raise NotPermitted(f"role {actor.role} may not move a {record.kind.value} from {move.from_} to {move.to}")
        for name in move.guards:
            guard = self.workflows.guards[name]
            try:
                reason = guard(record, move, actor)
            except Exception as exc:  # noqa: BLE001 - a plugin's failure is reported as the plugin's
                failure = failure_report(guard.__module__, f"transition guard {name}", exc, customer_identifiers(record))
                raise PluginFailed(f"plugin {guard.__module__} failed: {failure}") from None
            if reason:
                raise TransitionRefused(f"{move.from_} → {move.to}: {reason}", field="to")

    async def transition_options(self, record_id: str, actor: Principal) -> list[TransitionOption]:
        """The moves the file's workflow declares from its stage now, each with the refusal
        ``transition`` would give ``actor`` (None: it would be taken). Reads nothing into the log:
        the caller shows it beside a read of the record, which is audited."""
        record, _ = await self._open_live(record_id)
        workflow = self.workflows.for_kind(record.kind)
        options = []
        for move in (t for t in workflow.transitions if t.from_ == record.status):
            try:
                self._check_move(record, move, actor)
                refusal = None
            except (NotPermitted, TransitionRefused, PluginFailed) as exc:
                refusal = exc.detail
            options.append(TransitionOption(to=move.to, requires_note=move.requires_note, refusal=refusal))
        return options

    async def transition(self, record_id: str, data: TransitionIn, expected_version: int | None, actor: Principal) -> Record:
        """Move a file along a transition its kind's workflow declares, if its guards agree."""
        record, key = await self._open_live(record_id)
        workflow = self.workflows.for_kind(record.kind)
        move = workflow.transition(record.status, data.to)
        if move is None:
            allowed = [t.to for t in workflow.transitions if t.from_ == record.status]
            raise TransitionNotAllowed(
                f"a {record.kind.value} in stage {record.status!r} cannot move to {data.to!r}; "
                f"allowed: {', '.join(allowed) or 'none (final stage)'}"
            )
        self._check_move(record, move, actor)
        if move.requires_note and not data.note:
            raise TransitionRefused(f"{move.from_} → {move.to}: say why in `note`", field="note")
        if expected_version is not None and expected_version != record.version:
            raise VersionConflict(f"record is at version {record.version}, not {expected_version}",
                                  current_version=record.version)
        now = utcnow()
        updated = record.model_copy(deep=True)
        updated.status = move.to
        detail: dict[str, object] = {"from": move.from_, "to": move.to}
        if data.note:
            note = Note(text=data.note, id=str(uuid.uuid4()), at=now, author=actor.name)
            updated.notes.append(note)
            detail["note_id"] = note.id  # the reason stays sealed in the note; the timeline points at it
        updated.timeline.append(TimelineEvent(at=now, actor=actor.name, event="transitioned", detail=detail))
        if workflow.acceptance is not None:
            updated.delivery = accepted_or_failed(updated.delivery, workflow.acceptance, move.to, now)
        if move.to == ARCHIVED:
            updated.archived_at, updated.archived_by = now, actor.name
        updated.deadlines = self.service_levels.deadlines(updated, now, entered_stage=True)
        updated.version, updated.updated_at = record.version + 1, now
        events = drafts_for_change(f"record:{record.id}")
        if not await self._records.replace(self._sealer.seal(updated, key), expected_version=record.version, events=events):
            current = await self._stored(record_id)
            raise VersionConflict(f"record changed to version {current.version} meanwhile; read it again",
                                  current_version=current.version)
        committed()
        self._notify("transitioned", updated, actor.name, **{"from": move.from_, "to": move.to})
        if move.to == ARCHIVED:
            for listener in self.archive_listeners:
                await listener(updated)
            self._notify("archived", updated, actor.name)
        return self._policy.present(updated, actor)

    # --- service levels and metrics -------------------------------------------------------------

    async def report_breaches(self, limit: int = 500) -> list[BreachClaim]:
        """Report deadlines newly found breached: one audit event each (committed with the claim,
        so each breach is reported once however many instances look) and a ``deadline_breached``
        notification for plugins to escalate."""
        now = utcnow()

        def events(claims: list[BreachClaim]) -> list[AuditEventDraft]:
            return [AuditEventDraft(at=now, actor="service-levels", role="system", action="deadline.breached",
                                    targets=[f"record:{c.record_id}", f"deadline:{c.name}"], outcome=Outcome.allowed)
                    for c in claims]

        claims = await self._records.claim_breaches(now, limit, events)
        for claim in claims:
            if self._notifier is not None:
                self._notifier.emit(LifecycleEvent(
                    name="deadline_breached", at=now, record_id=claim.record_id, reference=claim.reference, kind=claim.kind,
                    actor=None, detail={"deadline": claim.name, "due_at": to_text(claim.due_at),
                                        "met_at": to_text(claim.met_at) if claim.met_at else None},
                ))
        return claims

    async def _may_own(self, name: str) -> bool:
        return any(t.name == name and t.role in FILE_RECORDS for t in await self._tokens.list())

    async def _append(self, record_id: str, mutate, *targets: str, content: bool = False) -> Record:  # type: ignore[no-untyped-def]
        """Read-modify-write with retries. Appends to one record are serialised in this process
        (a lock per record) so concurrent notes queue instead of colliding; a race with another
        process still retries, after a short random wait. ``content`` appends (attachments) are
        refused once the record is archived, checked again on every attempt."""
        lock = self._append_locks.get(record_id)
        if lock is None:
            lock = self._append_locks[record_id] = asyncio.Lock()
        async with lock:
            for attempt in range(APPEND_RETRIES):
                record, key = await self._open_live(record_id)
                if content:
                    _check_not_archived(record)
                updated = record.model_copy(deep=True)
                mutate(updated)
                updated.version, updated.updated_at = record.version + 1, utcnow()
                events = drafts_for_change(f"record:{record_id}", *targets)
                if await self._records.replace(self._sealer.seal(updated, key), expected_version=record.version, events=events):
                    committed()
                    return updated
                await asyncio.sleep(random.uniform(0, 0.005 * (attempt + 1)))
        raise VersionConflict("record is changing too fast to append to; try again")
