"""Agent and supervisor pages: find files, file a new one, a file's page, and what may be done
to it (move, note, attach, amend, reassign, reveal the customer).

Every page calls the same ``RecordService`` method as the API route it mirrors, and carries the
same audit action (``opt["audit"]``), so the audit middleware records each page exactly as it
records the API call: same actor, action, targets and purpose. Forms post and redirect; a refusal
from the service is shown on the error page with its code.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Stream, Template
from pydantic import ValidationError

from records.api.audit_middleware import MAX_PURPOSE, decode_purpose
from records.api.auth import admits
from records.api.records import LIST_TEXT_LIMITS, _content_disposition
from records.api.uploads import MultipartUpload
from records.audit import trail as audit_trail
from records.console.forms import MAX_FIELD
from records.console.i18n import N_, gettext_for
from records.console.rendering import language_of, page
from records.errors import InvalidInput, ValidationFailed, VersionConflict
from records.models import (
    EMERGENCY_ONLY,
    WORK_ORDER_ONLY,
    Channel,
    Kind,
    NoteIn,
    NoteType,
    RecordCreate,
    RecordPatch,
    RecordQuery,
    ServiceType,
    SlaState,
    TransitionIn,
    Urgency,
    whole_number,
)
from records.roles import FILE_RECORDS, READ_RECORDS, REASSIGN_RECORDS, TRANSITION_ROLES, Principal
from records.services.records import RecordService

BASE = "/console/records"
# The list filters of GET /api/v1/records, by the same names.
FILTERS = ("kind", "status", "channel", "urgency", "classification", "owner", "reference", "sla",
           "received_from", "received_to")
LOOKUPS = ("customer_phone", "customer_account")

KIND_LABELS = {Kind.consultation: N_("Consultation"), Kind.work_order: N_("Work order"),
               Kind.complaint: N_("Complaint"), Kind.emergency: N_("Emergency")}
FIELD_LABELS = {
    "kind": N_("Kind"), "status": N_("Stage"), "channel": N_("Channel"), "urgency": N_("Urgency"),
    "classification": N_("Classification"), "owner": N_("Owner"), "reference": N_("Reference"),
    "sla": N_("Service level"), "received_from": N_("Received from"), "received_to": N_("Received before"),
    "customer_phone": N_("Customer phone"), "customer_account": N_("Customer account"),
    "customer.name": N_("Customer name"), "customer.phone": N_("Customer phone"),
    "customer.account": N_("Customer account"), "subject": N_("Subject"), "description": N_("Description"),
    "needs": N_("What the customer asks for"), "received_at": N_("Received at"),
    "service_type": N_("Service type"), "deadline": N_("Deadline"), "feedback_required": N_("Feedback required"),
    "incident.started_at": N_("Outage started at"), "incident.service_type": N_("Service down"),
    "incident.affected_area": N_("Affected area"), "result": N_("Result given to the customer"),
}


def _str(form: Any, name: str) -> str | None:
    value = form.get(name)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _local_datetime(value: str | None, zone: str) -> str | datetime | None:
    """An ``<input type=datetime-local>`` value is wall time in the installation's zone. Given to
    the model as a datetime: before 1901 the zone's offset has seconds, which ISO text cannot
    carry, and the model then says the year is out of range instead of failing to read it."""
    if value is None:
        return None
    from zoneinfo import ZoneInfo

    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value  # left for the model to refuse with its own message
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment


def _validation_failed(exc: ValidationError) -> ValidationFailed:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "body"
    return ValidationFailed(f"{field}: {err['msg']}", field=field)


def kind_fields(kind: Kind) -> list[str]:
    """The fields a filing of ``kind`` takes: everything ``RecordCreate`` accepts of the common
    fields, plus those only this kind may carry (the model's own ``WORK_ORDER_ONLY`` and
    ``EMERGENCY_ONLY``, which the API enforces)."""
    common = ["channel", "urgency", "customer.name", "customer.phone", "customer.account", "subject",
              "description", "needs", "received_at"]
    if kind is Kind.work_order:
        common += [f for f in WORK_ORDER_ONLY if f in RecordCreate.model_fields]
    if kind is Kind.emergency and "incident" in EMERGENCY_ONLY:
        common += [f"incident.{f}" for f in ("started_at", "service_type", "affected_area")]
    return common


def filing_from_form(kind: Kind, form: Any, zone: str) -> RecordCreate:
    body: dict[str, Any] = {"kind": kind.value}
    for name in kind_fields(kind):
        value: Any = _str(form, name)
        if name in ("received_at", "deadline", "incident.started_at"):
            value = _local_datetime(value, zone)
        if name == "feedback_required":
            body[name] = form.get(name) == "on"
            continue
        if value is None:
            continue
        head, _, tail = name.partition(".")
        if tail:
            body.setdefault(head, {})[tail] = value
        else:
            body[name] = value
    try:
        return RecordCreate.model_validate(body)
    except ValidationError as exc:
        raise _validation_failed(exc) from None


def _service(request: Request) -> RecordService:
    return request.app.state.record_service


def _state_purpose(request: Request, form: Any) -> None:
    """The form's ``purpose`` is what ``X-Purpose`` is to the API: the trail's purpose."""
    raw = form.get("purpose")
    if not isinstance(raw, str) or not raw.strip():
        return
    purpose = decode_purpose(raw.encode("utf-8"))
    if len(purpose) > MAX_PURPOSE:
        raise ValidationFailed(f"the purpose may be at most {MAX_PURPOSE} characters", field="purpose")
    if (trail := audit_trail.current()) is not None:
        trail.purpose = purpose


INACTIVE_SCHEME = N_("%(code)s (inactive scheme)")


def classification_labels(request: Request, codes: list[str]) -> list[tuple[str, str]]:
    """Each code with its label in the page's language (the schemes' Chinese labels in Chinese)."""
    schemes = getattr(request.app.state.installation, "schemes", None)
    chinese = language_of(request) == "zh_CN"
    labelled = []
    for qualified in codes:
        name, _, code = qualified.partition(":")
        scheme = schemes.schemes.get(name) if schemes is not None else None
        found = next((c for c in scheme.codes if c.code == code), None) if scheme else None
        if found is not None:
            labelled.append((qualified, found.label_zh if chinese else found.label_en))
        elif schemes is not None and schemes.inactive([qualified]):
            # Stored while its scheme's plugin was on (issue 15, item 2): still valid, shown as such.
            labelled.append((qualified, gettext_for(language_of(request))(INACTIVE_SCHEME) % {"code": qualified}))
        else:
            labelled.append((qualified, qualified))
    return labelled


def _streaming(route: dict[str, Any]) -> dict[str, Any]:
    """The handler reads the body itself: the CSRF token comes in the query (``csrf_guard``)."""
    return {**route, "opt": {**route["opt"], "streams_body": True}}


class RecordPagesController(Controller):
    path = BASE
    include_in_schema = False

    @get("/", name="console-records", **admits(READ_RECORDS, audit="record.list"))
    async def list_records(self, request: Request) -> Template:
        params = request.query_params
        filters = {name: params.get(name) or None for name in FILTERS}
        lookups = {name: params.get(name) or None for name in LOOKUPS}
        for name, value in {**filters, **lookups, "cursor": params.get("cursor")}.items():
            if value and len(value) > LIST_TEXT_LIMITS.get(name, MAX_FIELD):  # what GET /api/v1/records refuses
                raise InvalidInput(f"{name} may be at most {LIST_TEXT_LIMITS[name]} characters", field=name)
        _state_purpose(request, params)  # refused beyond MAX_PURPOSE, as X-Purpose is
        query_values = {k: v for k, v in filters.items() if v is not None}
        zone = request.app.state.settings.console_time_zone
        for name in ("received_from", "received_to"):
            if name in query_values:
                query_values[name] = _local_datetime(query_values[name], zone)
        try:
            query = RecordQuery(**query_values)
        except ValidationError as exc:
            raise _validation_failed(exc) from None
        cursor = params.get("cursor") or None
        result = await _service(request).search(query, request.user, cursor=cursor, **lookups)
        next_query = {k: v for k, v in {**filters, **lookups, "cursor": result.next_cursor}.items() if v}
        return page(request, "records/list.html", items=result.items, filters=filters, lookups=lookups,
                    purpose=params.get("purpose") or "", kinds=list(Kind), channels=list(Channel),
                    urgencies=list(Urgency), sla_states=list(SlaState), kind_labels=KIND_LABELS,
                    field_labels=FIELD_LABELS,
                    next_url=f"{BASE}/?{urlencode(next_query)}" if result.next_cursor else None,
                    may_file=request.user.role in FILE_RECORDS)

    @get("/new", name="console-record-new", **admits(FILE_RECORDS, audit="console.record_form"))
    async def new_record_form(self, request: Request) -> Template:
        try:
            kind = Kind(request.query_params.get("kind", "complaint"))
        except ValueError:
            raise InvalidInput("unknown kind of file", field="kind") from None
        return self._filing_form(request, kind, {})

    def _filing_form(self, request: Request, kind: Kind, values: dict[str, str], error: str | None = None,
                     error_field: str | None = None, status: int = 200) -> Template:
        return page(request, "records/new.html", status_code=status, kind=kind, kinds=list(Kind),
                    kind_labels=KIND_LABELS, fields=kind_fields(kind), field_labels=FIELD_LABELS, values=values,
                    channels=list(Channel), urgencies=list(Urgency), service_types=list(ServiceType),
                    required={"channel", "urgency", "customer.name", "customer.phone", "customer.account",
                              "subject", "description"},
                    error=error, error_field=error_field)

    @post("/new", name="console-record-file", status_code=303, **admits(FILE_RECORDS, audit="record.create"))
    async def file_record(self, request: Request) -> Response:
        form = await request.form()
        try:
            kind = Kind(form.get("kind"))
        except ValueError:
            raise InvalidInput("unknown kind of file", field="kind") from None
        try:
            filing = filing_from_form(kind, form, request.app.state.settings.console_time_zone)
            record = await _service(request).file(filing, request.user)
        except InvalidInput as exc:  # shown on the form, with what was typed kept
            values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
            return self._filing_form(request, kind, values, error=exc.detail, error_field=exc.extra.get("field"),
                                     status=exc.status)
        return Redirect(f"{BASE}/{record.id}", status_code=303)

    @get("/{record_id:str}", name="console-record", **admits(READ_RECORDS, audit="record.read"))
    async def record_page(self, request: Request, record_id: FromPath[str]) -> Template:
        service = _service(request)
        record = await service.get(record_id, request.user)
        options = await service.transition_options(record_id, request.user) if request.user.role in TRANSITION_ROLES else []
        principal: Principal = request.user
        return page(request, "records/record.html", record=record, options=options, kind_labels=KIND_LABELS,
                    field_labels=FIELD_LABELS, classification=classification_labels(request, record.classification),
                    note_types=list(NoteType), urgencies=list(Urgency),
                    may_edit=principal.role in FILE_RECORDS, may_reassign=principal.role in REASSIGN_RECORDS,
                    may_reveal=principal.role in request.app.state.settings.roles("reveal_roles")
                    and record.personal_data != "clear",
                    conflict=_conflict(request.query_params.get("conflict")))

    @post("/{record_id:str}/transitions", name="console-record-transition", status_code=303,
          **admits(TRANSITION_ROLES, audit="record.transition"))
    async def transition(self, request: Request, record_id: FromPath[str]) -> Response:
        form = await request.form()
        try:
            move = TransitionIn(to=_str(form, "to") or "", note=_str(form, "note"))
        except ValidationError as exc:
            raise _validation_failed(exc) from None
        await _service(request).transition(record_id, move, _version(form), request.user)
        return Redirect(f"{BASE}/{record_id}", status_code=303)

    @post("/{record_id:str}/notes", name="console-record-note", status_code=303,
          **admits(FILE_RECORDS, audit="record.note"))
    async def add_note(self, request: Request, record_id: FromPath[str]) -> Response:
        form = await request.form()
        try:
            note = NoteIn.model_validate({k: v for k in ("text", "type", "channel", "direction")
                                          if (v := _str(form, k)) is not None})
        except ValidationError as exc:
            raise _validation_failed(exc) from None
        await _service(request).add_note(record_id, note, request.user)
        return Redirect(f"{BASE}/{record_id}#notes", status_code=303)

    @post("/{record_id:str}/amend", name="console-record-amend", status_code=303,
          **admits(FILE_RECORDS, audit="record.amend"))
    async def amend(self, request: Request, record_id: FromPath[str]) -> Response:
        form = await request.form()
        changes: dict[str, Any] = {k: v for k in ("subject", "description", "needs", "urgency", "result", "owner")
                                   if (v := _str(form, k)) is not None}
        if (satisfaction := _str(form, "satisfaction")) is not None:
            changes["feedback"] = {"satisfaction": satisfaction, "comment": _str(form, "feedback_comment")}
        try:
            patch = RecordPatch.model_validate(changes)
        except ValidationError as exc:
            raise _validation_failed(exc) from None
        version = _version(form)
        try:
            await _service(request).amend(record_id, patch, version, request.user)
        except VersionConflict as exc:
            # Never overwritten: the page is shown again as it is now, saying what happened.
            current = exc.extra.get("current_version")
            return Redirect(f"{BASE}/{record_id}?{urlencode({'conflict': f'{version}:{current}'})}#amend",
                            status_code=303)
        return Redirect(f"{BASE}/{record_id}", status_code=303)

    @post("/{record_id:str}/attachments", name="console-record-attach", status_code=303,
          request_max_body_size=2**62, **_streaming(admits(FILE_RECORDS, audit="attachment.upload")))
    async def attach(self, request: Request, record_id: FromPath[str]) -> Response:
        upload = MultipartUpload(request, max_bytes=request.app.state.settings.max_attachment_bytes)
        await _service(request).attach(record_id, upload, request.user)
        return Redirect(f"{BASE}/{record_id}#attachments", status_code=303)

    @get("/{record_id:str}/attachments/{attachment_id:str}", name="console-record-download",
         **admits(READ_RECORDS, audit="attachment.download"))
    async def download(self, request: Request, record_id: FromPath[str], attachment_id: FromPath[str]) -> Stream:
        # As GET /api/v1/records/{id}/attachments/{a}: the viewer's role decides, and a masked role
        # states a purpose (here the ``purpose`` query parameter, as X-Purpose in the API).
        _state_purpose(request, request.query_params)
        attachment, content = await _service(request).open_attachment(record_id, attachment_id, request.user)
        return Stream(content, media_type=attachment.content_type, headers={
            "Content-Length": str(attachment.size), "X-Content-Type-Options": "nosniff",
            "Content-Disposition": _content_disposition(attachment.filename or "attachment"),
        })

    @post("/{record_id:str}/identity", name="console-record-identity", status_code=200,
          **admits(READ_RECORDS, audit="record.reveal_identity", roles_from="reveal_roles"))
    async def reveal_identity(self, request: Request, record_id: FromPath[str]) -> Template:
        form = await request.form()
        _state_purpose(request, form)
        customer = await _service(request).reveal_identity(record_id, request.user)
        trail = audit_trail.current()
        return page(request, "records/identity.html", record_id=record_id, customer=customer,
                    purpose=trail.purpose if trail else "")


CONFLICT = re.compile(r"^(\d{1,12}):(\d{1,12})$")


def _conflict(value: str | None) -> tuple[str, str] | None:
    """The versions a refused amendment read and met (``3:4``, from the amend redirect); any
    other value is a hand-made link and says nothing."""
    match = CONFLICT.fullmatch(value or "")
    return (match.group(1), match.group(2)) if match else None


def _version(form: Any) -> int | None:
    value = _str(form, "version")
    if value is None:
        return None
    version = whole_number(value, 999_999_999_999)
    if version is None:
        raise InvalidInput("the version read must be a number", field="version")
    return version
