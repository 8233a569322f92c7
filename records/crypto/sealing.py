"""Turning a ``Record`` into its at-rest ``StoredRecord`` and back, field by field.

Each protected field is sealed separately with the record's data key, its path as associated
data, so a reader can tell exactly which field was altered and no field can be swapped for
another.
"""

from __future__ import annotations

from records.crypto.blind_index import BlindIndex
from records.crypto.envelope import DataKey
from records.models import Attachment, Customer, Feedback, Incident, Note, PersonalData, Record
from records.stored import IncidentWindow, StoredAttachment, StoredFeedback, StoredNote, StoredRecord

# Top-level text fields sealed when present.
SEALED_TEXT = ("subject", "description", "needs", "result")
# Fields of Record that the stored form keeps in clear (everything governance queries).
CLEAR = (
    "id", "kind", "reference", "status", "version", "owner", "created_by", "channel", "urgency", "complexity",
    "classification", "service_type", "deadline", "feedback_required", "received_at", "created_at",
    "updated_at", "result_at", "timeline", "archived_at", "archived_by", "deadlines", "destroyed_at",
    "service_failed", "delivery",
)


def incident_window(incident: Incident | None) -> IncidentWindow | None:
    if incident is None or incident.started_at is None:
        return None
    return IncidentWindow(started_at=incident.started_at, ended_at=incident.ended_at,
                          service_type=incident.service_type, customers_affected=incident.customers_affected)


class RecordSealer:
    def __init__(self, index: BlindIndex) -> None:
        self.index = index  # blind indexes, also used to look records up

    def seal(self, record: Record, key: DataKey) -> StoredRecord:
        if record.customer is None:
            raise ValueError("a destroyed record cannot be sealed again")
        sealed: dict[str, str] = {
            "customer.name": key.seal("customer.name", record.customer.name),
            "customer.phone": key.seal("customer.phone", record.customer.phone),
            "customer.account": key.seal("customer.account", record.customer.account),
        }
        for field in SEALED_TEXT:
            value = getattr(record, field)
            if value is not None:
                sealed[field] = key.seal(field, value)
        if record.incident is not None:
            # Free text (affected area, services) can name people and places: sealed whole.
            sealed["incident"] = key.seal("incident", record.incident.model_dump_json())
        feedback = None
        if record.feedback is not None:
            feedback = StoredFeedback(satisfaction=record.feedback.satisfaction, given_at=record.feedback.given_at)
            if record.feedback.comment is not None:
                sealed["feedback.comment"] = key.seal("feedback.comment", record.feedback.comment)
        for note in record.notes:
            sealed[f"notes/{note.id}/text"] = key.seal(f"notes/{note.id}/text", note.text or "")
        for attachment in record.attachments:
            for part in ("filename", "sha256"):
                path = f"attachments/{attachment.id}/{part}"
                sealed[path] = key.seal(path, getattr(attachment, part) or "")
        return StoredRecord(
            **{name: getattr(record, name) for name in CLEAR},
            identity_verified=record.customer.identity_verified,
            feedback=feedback,
            notes=[StoredNote(**n.model_dump(include={"id", "at", "author", "type", "channel", "direction"})) for n in record.notes],
            attachments=[
                StoredAttachment(**a.model_dump(include={"id", "content_type", "size", "uploaded_at", "uploaded_by"}))
                for a in record.attachments
            ],
            key_version=key.key_version,
            sealed=sealed,
            customer_phone_index=self.index.phone(record.customer.phone),
            customer_account_index=self.index.account(record.customer.account),
            incident_window=incident_window(record.incident),
        )

    def open(self, stored: StoredRecord, key: DataKey | None) -> Record:
        """The record in clear; with ``key`` None (destroyed) its protected fields are None."""

        def field(path: str) -> str | None:
            token = stored.sealed.get(path)
            return key.open(path, token) if (key is not None and token is not None) else None

        clear = {name: getattr(stored, name) for name in CLEAR}
        customer = None
        if key is not None:
            customer = Customer.model_construct(
                name=field("customer.name"),
                phone=field("customer.phone"),
                account=field("customer.account"),
                identity_verified=stored.identity_verified,
            )
        feedback = None
        if stored.feedback is not None:
            feedback = Feedback.model_construct(
                satisfaction=stored.feedback.satisfaction, comment=field("feedback.comment"), given_at=stored.feedback.given_at
            )
        incident_json = field("incident")
        return Record(
            **clear,
            customer=customer,
            incident=Incident.model_validate_json(incident_json) if incident_json else None,
            **{name: field(name) for name in SEALED_TEXT},
            feedback=feedback,
            notes=[Note.model_construct(**n.model_dump(), text=field(f"notes/{n.id}/text")) for n in stored.notes],
            attachments=[
                Attachment(
                    **a.model_dump(),
                    filename=field(f"attachments/{a.id}/filename"),
                    sha256=field(f"attachments/{a.id}/sha256"),
                )
                for a in stored.attachments
            ],
            personal_data=PersonalData.clear if key is not None else PersonalData.destroyed,
        )
