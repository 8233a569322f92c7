"""The at-rest shape of a record: governance fields in clear, protected fields sealed.

Adapters store and index ``StoredRecord``; they never see a customer's personal data or the
content of a file. What governance must query stays in clear: kind, status, dates,
classification codes, owner, retention data.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from records.models import (
    Channel,
    Complexity,
    Deadline,
    Delivery,
    Direction,
    Kind,
    NoteType,
    ServiceType,
    TimelineEvent,
    Urgency,
)


class StoredNote(BaseModel):
    id: str
    at: datetime
    author: str
    type: NoteType
    channel: Channel | None = None
    direction: Direction | None = None


class StoredAttachment(BaseModel):
    id: str
    content_type: str
    size: int
    uploaded_at: datetime
    uploaded_by: str


class StoredFeedback(BaseModel):
    satisfaction: int
    given_at: datetime


class IncidentWindow(BaseModel):
    """An emergency's outage as governance counts it (SPEC §4.1 availability): times and the
    service type only, in clear, so availability is computed without opening a file and still
    counts after the file is destroyed. The incident's free text stays sealed."""

    started_at: datetime
    ended_at: datetime | None = None
    service_type: ServiceType | None = None
    customers_affected: int | None = None


class StoredRecord(BaseModel):
    id: str
    kind: Kind
    reference: str
    status: str
    version: int
    owner: str
    created_by: str
    channel: Channel
    urgency: Urgency
    complexity: Complexity | None = None
    classification: list[str] = Field(default_factory=list)
    service_type: ServiceType | None = None
    deadline: datetime | None = None
    feedback_required: bool | None = None
    identity_verified: bool = False
    received_at: datetime
    created_at: datetime
    updated_at: datetime
    result_at: datetime | None = None
    feedback: StoredFeedback | None = None
    notes: list[StoredNote] = Field(default_factory=list)
    timeline: list[TimelineEvent] = Field(default_factory=list)
    attachments: list[StoredAttachment] = Field(default_factory=list)
    key_version: int = 1
    # Field path → sealed value ("customer.phone", "notes/<id>/text", "attachments/<id>/filename"…).
    sealed: dict[str, str] = Field(default_factory=dict)
    customer_phone_index: str | None = None
    customer_account_index: str | None = None
    archived_at: datetime | None = None
    archived_by: str | None = None
    deadlines: list[Deadline] = Field(default_factory=list)
    destroyed_at: datetime | None = None
    service_failed: bool | None = None
    delivery: Delivery | None = None
    incident_window: IncidentWindow | None = None
