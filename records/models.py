"""Storage-agnostic domain models of the four kinds of customer-service file (SPEC.md).

A record is one document: its fields, its timeline of events, notes and attachment metadata.
Adapters persist it whole and index the fields governance queries by.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    computed_field,
    field_validator,
    model_validator,
)

from records import clock
from records.clock import as_utc
from records.crypto.blind_index import normalise_identifier


class Kind(StrEnum):
    """The four kinds of file (SPEC.md "The four kinds of file")."""

    consultation = "consultation"  # §2.2, §2.4, §2.5
    work_order = "work_order"  # §3.1, §3.2
    complaint = "complaint"  # §1.5, §3.4
    emergency = "emergency"  # §6.1-6.5, §5.1


# Human reference prefixes, e.g. CP-2026-000123 for a complaint filed in 2026.
REFERENCE_PREFIX: dict[Kind, str] = {
    Kind.consultation: "CN",
    Kind.work_order: "WO",
    Kind.complaint: "CP",
    Kind.emergency: "EM",
}
REFERENCE_PATTERN = r"^(CN|WO|CP|EM)-\d{4}-\d{6,}$"


class Channel(StrEnum):
    """Where the customer made contact (SPEC §2.1)."""

    phone = "phone"
    online_chat = "online_chat"
    self_service = "self_service"
    business_hall = "business_hall"
    social_media = "social_media"
    app_web = "app_web"
    smart_voice = "smart_voice"


class Urgency(StrEnum):
    """Urgency classes (SPEC §2.4)."""

    general = "general"
    urgent = "urgent"
    major = "major"


class Complexity(StrEnum):
    simple = "simple"
    complex = "complex"


class ServiceType(StrEnum):
    """Service type recorded at intake of a work order (SPEC §3.1)."""

    network = "network"
    voice = "voice"
    billing = "billing"


def _clean_text(value: str) -> str:
    """Normalise to NFC and refuse control characters other than newline and tab."""
    value = unicodedata.normalize("NFC", value)
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t\r" for ch in value):
        raise ValueError("must not contain control characters")
    return value


# Times a client sends must say their zone; they are kept in UTC.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(as_utc)]
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
ClassificationCode = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[a-z0-9_]+(:[a-z0-9_.\-]+)*$")
]
TokenName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@\-]*$")]

PHONE_PATTERN = re.compile(r"^\+?[0-9][0-9 \-()]{2,31}$")


def phone_number(value: str) -> str:
    """A phone number as stored: one normalisation for every identifier (full-width and other
    scripts' digits, every dash), then its shape checked. Raises ``ValueError``."""
    value = normalise_identifier(value)
    if not PHONE_PATTERN.match(value):
        raise ValueError("must be a phone number: digits, optionally a leading +, spaces, dashes, parentheses")
    return value


def account_number(value: str) -> str:
    """An account as stored: digits and dashes of every script and width as ASCII."""
    value = normalise_identifier(value)
    if not value:
        raise ValueError("must not be empty")
    return value


def whole_number(raw: str, most: int) -> int | None:
    """``raw`` as a whole number from 0 to ``most``, or None: ASCII digits only (``"²".isdigit()``
    is true and ``int("²")`` fails), and never a conversion of thousands of digits. Every version,
    offset and count typed into the API's headers or the console's forms is read with this."""
    if not raw or len(raw) > len(str(most)) or not (raw.isascii() and raw.isdigit()) or int(raw) > most:
        return None
    return int(raw)


class Strict(BaseModel):
    """Inputs refuse unknown fields so that a typo is an error, not silently dropped data."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        return _clean_text(value) if isinstance(value, str) else value


class Customer(Strict):
    """The customer a file is about: personal information (SPEC §1.4, §4.1)."""

    name: Line
    phone: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=32)]
    account: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    identity_verified: bool = Field(False, description="Identity checked at intake (SPEC §1.2).")

    @field_validator("phone")
    @classmethod
    def _phone_shape(cls, value: str) -> str:
        return phone_number(value)

    @field_validator("account")
    @classmethod
    def _account_shape(cls, value: str) -> str:
        return account_number(value)


class Incident(Strict):
    """What an emergency file describes: a service incident or outage (SPEC §6, §5.1).

    Its start, end and the service type it took down are what service availability (SPEC §4.1)
    is computed from; the free-text fields stay sealed with the file."""

    started_at: UtcDatetime | None = None
    ended_at: UtcDatetime | None = Field(None, description="When the service was restored; unset while it is down.")
    service_type: ServiceType | None = Field(None, description="The service the outage took down (SPEC §3.1 types).")
    affected_area: Line | None = None
    affected_services: list[Line] = Field(default_factory=list, max_length=50)
    customers_affected: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> Incident:
        if self.ended_at is not None and (self.started_at is None or self.ended_at < self.started_at):
            raise ValueError("incident.ended_at needs incident.started_at, and must not be before it")
        return self


class DeliveryConfirmationIn(Strict):
    """The customer's signed acceptance of a delivery (SPEC §4.2.3 "验收确认单")."""

    reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100,
                                                pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/\-]*$")] = Field(
        description="The signed confirmation: its document number, or the id of the attachment that holds it.")
    confirmed_at: UtcDatetime | None = Field(None, description="When the customer signed; defaults to now.")


class DeliveryConfirmation(BaseModel):
    reference: str
    confirmed_at: datetime
    recorded_by: str


class Delivery(BaseModel):
    """Governance facts of a delivery's acceptance (SPEC §4.2): kept in clear, counted by metrics.

    The attempts themselves are on the timeline: each entry into the acceptance test, and each
    failed test with the note that says why."""

    failed_attempts: int = Field(0, description="Acceptance tests failed so far (each led to rectification).")
    accepted_at: datetime | None = Field(None, description="When an acceptance test passed.")
    confirmation: DeliveryConfirmation | None = Field(None, description="The customer's signed confirmation.")


class FeedbackIn(Strict):
    satisfaction: int = Field(ge=1, le=5, description="The customer's rating, 1 (worst) to 5 (best).")
    comment: Text | None = None


class Feedback(FeedbackIn):
    given_at: datetime


class NoteType(StrEnum):
    note = "note"  # internal working note
    communication = "communication"  # a contact with the customer (SPEC §8.1 "communications")


class Direction(StrEnum):
    inbound = "inbound"
    outbound = "outbound"


class NoteIn(Strict):
    text: Text
    type: NoteType = NoteType.note
    channel: Channel | None = Field(None, description="For communications: how the customer was reached.")
    direction: Direction | None = Field(None, description="For communications: who contacted whom.")

    @model_validator(mode="after")
    def _communication_fields(self) -> NoteIn:
        if self.type is NoteType.note and (self.channel or self.direction):
            raise ValueError("channel and direction apply only to notes of type 'communication'")
        return self


class Note(NoteIn):
    id: str
    at: datetime
    author: str
    text: str | None = None  # type: ignore[assignment]  # None once the record is destroyed


class TimelineEvent(BaseModel):
    """One thing that happened to a file. Carries field names, never personal data."""

    at: datetime
    actor: str
    event: str
    detail: dict[str, Any] = Field(default_factory=dict)


class Attachment(BaseModel):
    id: str
    filename: str | None = Field(description="None once the record is destroyed.")
    content_type: str
    size: int
    sha256: str | None = Field(description="SHA-256 of the content; None once the record is destroyed.")
    uploaded_at: datetime
    uploaded_by: str


class _RecordFields(Strict):
    """Fields a client may set at filing and amend later."""

    subject: Line | None = None
    description: Text | None = None
    needs: Text | None = Field(None, description="What the customer asks for (SPEC §2.3).")
    urgency: Urgency | None = None
    complexity: Complexity | None = None
    classification: list[ClassificationCode] | None = Field(
        None, max_length=50, description="Classification codes, `scheme:code` (SPEC §2.4)."
    )
    service_type: ServiceType | None = Field(None, description="Work orders only (SPEC §3.1).")
    deadline: UtcDatetime | None = Field(None, description="Work orders only: when it must be done (SPEC §3.1).")
    feedback_required: bool | None = Field(None, description="Work orders only (SPEC §3.1).")
    incident: Incident | None = Field(None, description="Emergencies only (SPEC §6).")

    @field_validator("classification")
    @classmethod
    def _unique_codes(cls, value: list[str] | None) -> list[str] | None:
        return list(dict.fromkeys(value)) if value is not None else None


WORK_ORDER_ONLY = ("service_type", "deadline", "feedback_required", "delivery_confirmation")
EMERGENCY_ONLY = ("incident",)


def check_kind_fields(kind: Kind, fields: _RecordFields) -> None:
    """Refuse fields that do not belong to the kind of file (raises ValueError naming them)."""
    given = fields.model_fields_set
    if kind is not Kind.work_order and (wrong := [f for f in WORK_ORDER_ONLY if f in given]):
        raise ValueError(f"{', '.join(wrong)} apply only to work_order files")
    if kind is not Kind.emergency and (wrong := [f for f in EMERGENCY_ONLY if f in given]):
        raise ValueError(f"{', '.join(wrong)} apply only to emergency files")


class RecordCreate(_RecordFields):
    """The body of ``POST /api/v1/records``."""

    kind: Kind
    channel: Channel
    customer: Customer
    subject: Line
    description: Text
    urgency: Urgency
    received_at: UtcDatetime | None = Field(
        None, description="When the customer made contact; not in the future; defaults to now."
    )

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> RecordCreate:
        check_kind_fields(self.kind, self)
        return self


class CustomerPatch(Strict):
    name: Line | None = None
    phone: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=32)] | None = None
    account: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None = None
    identity_verified: bool | None = None

    _phone_shape = field_validator("phone")(Customer._phone_shape.__func__)  # type: ignore[attr-defined]
    _account_shape = field_validator("account")(Customer._account_shape.__func__)  # type: ignore[attr-defined]


class RecordPatch(_RecordFields):
    """The body of ``PATCH /api/v1/records/{id}``: only the fields given change."""

    customer: CustomerPatch | None = None
    result: Text | None = Field(None, description="The outcome given to the customer.")
    feedback: FeedbackIn | None = Field(None, description="The customer's feedback on the result.")
    owner: TokenName | None = Field(None, description="Reassign the file (supervisor, admin).")
    service_failed: bool | None = Field(
        None, description="Set by the handler: the service itself failed the customer (counts in the service error "
                          "rate, SPEC §4.1).")
    delivery_confirmation: DeliveryConfirmationIn | None = Field(
        None, description="Work orders that deliver: the customer's signed acceptance (SPEC §4.2.3).")

    @model_validator(mode="after")
    def _something_to_change(self) -> RecordPatch:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        nulls = [name for name in ("subject", "description", "urgency", "customer", "owner") if
                 name in self.model_fields_set and getattr(self, name) is None]
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be removed, only changed")
        return self


class PersonalData(StrEnum):
    """What a reader sees of the customer's personal data."""

    clear = "clear"
    masked = "masked"  # the reader's role does not need identity (RECORDS_IDENTITY_ROLES)
    destroyed = "destroyed"  # the record's data key was destroyed


class Deadline(BaseModel):
    """A time limit the file is under (a service level from a plugin), counted from ``received_at``."""

    name: str = Field(description="The service level, e.g. `response_general`.")
    title: str
    due_at: datetime
    met_at: datetime | None = Field(None, description="When the file entered a stage that meets it.")
    calendar: str | None = Field(None, description="Business calendar of a working-day limit.")
    calendar_fallback: bool = Field(
        False, description="The calendar had no data for some day, counted Monday to Friday: an estimate."
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def breached(self) -> bool:
        """Met late, or not met and past due now."""
        return (self.met_at or clock.utcnow()) > self.due_at


class SlaState(StrEnum):
    breached = "breached"
    due_soon = "due_soon"


class Record(BaseModel):
    """A customer-service file as services see it and the API returns it.

    Once its data key is destroyed, protected fields (customer, subject, description, needs,
    result, feedback comment, note texts, attachment names and digests) are None and
    ``personal_data`` is ``destroyed``.
    """

    id: str
    kind: Kind
    reference: str
    status: str
    version: int
    owner: str
    created_by: str
    channel: Channel
    customer: Customer | None
    subject: str | None
    description: str | None
    needs: str | None = None
    urgency: Urgency
    complexity: Complexity | None = None
    classification: list[str] = Field(default_factory=list)
    service_type: ServiceType | None = None
    deadline: datetime | None = None
    feedback_required: bool | None = None
    incident: Incident | None = None
    service_failed: bool | None = Field(None, description="The service itself failed the customer (SPEC §4.1).")
    delivery: Delivery | None = Field(None, description="Work orders that deliver: acceptance (SPEC §4.2).")
    received_at: datetime
    created_at: datetime
    updated_at: datetime
    result: str | None = None
    result_at: datetime | None = None
    feedback: Feedback | None = None
    notes: list[Note] = Field(default_factory=list)
    timeline: list[TimelineEvent] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    archived_at: datetime | None = Field(None, description="When the file was declared a record (SPEC §8.1).")
    archived_by: str | None = None
    deadlines: list[Deadline] = Field(default_factory=list, description="Service-level deadlines (SPEC time limits).")
    personal_data: PersonalData = PersonalData.clear
    destroyed_at: datetime | None = None

    def attachment(self, attachment_id: str) -> Attachment | None:
        return next((a for a in self.attachments if a.id == attachment_id), None)


class TransitionIn(Strict):
    """The body of ``POST /api/v1/records/{id}/transitions``."""

    to: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
    note: Text | None = Field(None, description="Why; kept as a note of the record.")


class RecordPage(BaseModel):
    items: list[Record]
    next_cursor: str | None = Field(None, description="Pass as `cursor` to get the next page; null on the last.")


class RecordQuery(BaseModel):
    """Filters of ``GET /api/v1/records``; adapters translate it into an indexed query.

    Results are ordered newest first by (created_at, id), so the order is total and stable.
    """

    kind: Kind | None = None
    status: str | None = None
    channel: Channel | None = None
    urgency: Urgency | None = None
    classification: str | None = None
    owner: str | None = None
    reference: str | None = None
    customer_phone_index: str | None = Field(None, description="Blind index of the phone searched for.")
    customer_account_index: str | None = Field(None, description="Blind index of the account searched for.")
    created_from: datetime | None = None
    created_to: datetime | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    sla: SlaState | None = Field(None, description="Only files with a breached deadline, or one due soon.")
    sla_now: datetime | None = Field(None, description="The moment `sla` is judged at (set by the service).")
    sla_soon_until: datetime | None = Field(None, description="End of the `due_soon` window (set by the service).")
    after: tuple[datetime, str] | None = Field(None, description="Keyset position: (created_at, id) of the last item seen.")
    limit: int = 50

    @field_validator("created_from", "created_to", "received_from", "received_to")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return as_utc(value) if value is not None else None

