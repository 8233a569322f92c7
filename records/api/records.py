"""``/api/v1/records``: filing, reading, listing and handling customer-service files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from litestar import Controller, Request, Response, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter
from litestar.response import Stream
from pydantic import ValidationError

from records.api.auth import admits
from records.api.dependencies import provide_record_service, provide_settings
from records.api.problems import problem_responses
from records.api.uploads import MultipartUpload
from records.errors import InvalidInput, ValidationFailed
from records.models import (
    Attachment,
    Channel,
    Customer,
    Kind,
    Note,
    NoteIn,
    Record,
    RecordCreate,
    RecordPage,
    RecordPatch,
    RecordQuery,
    SlaState,
    TransitionIn,
    Urgency,
    whole_number,
)
from records.roles import FILE_RECORDS, READ_RECORDS, TRANSITION_ROLES, Principal
from records.services.records import RecordService
from records.settings import RecordsSettings


@dataclass
class AttachmentUploadOperation(Operation):
    """Documents the multipart body that the upload handler streams itself (it takes no ``data``)."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="One file in the multipart field `file`; other fields are ignored.",
            content={
                "multipart/form-data": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.OBJECT,
                        required=["file"],
                        properties={"file": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)},
                    )
                )
            },
        )


@dataclass
class AttachmentDownloadOperation(Operation):
    """Documents the download as the stored file's bytes."""

    def __post_init__(self) -> None:
        if self.responses and "200" in self.responses:
            self.responses["200"] = OpenAPIResponse(
                description="The attachment's bytes, with its content type, size, ETag (sha256) and filename.",
                content={"*/*": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY))},
            )


def etag(record: Record) -> str:
    return f'"{record.version}"'


def parse_if_match(value: str | None) -> int | None:
    """The version in If-Match; None when absent (the service decides, after checking permission)."""
    if value is None:
        return None
    text = value.strip().removeprefix("W/").strip('"')
    version = whole_number(text, 999_999_999_999)
    if version is None:
        raise InvalidInput("If-Match must be a record version such as \"3\"", field="If-Match")
    return version


# The longest text each list filter takes; the console's list of files refuses the same.
LIST_TEXT_LIMITS = {"status": 64, "classification": 100, "owner": 64, "reference": 32, "customer_phone": 32,
                    "customer_account": 64, "cursor": 512}


class RecordController(Controller):
    path = "/api/v1/records"
    tags = ["records"]
    dependencies = {"records": Provide(provide_record_service, sync_to_thread=False),
                    "settings": Provide(provide_settings, sync_to_thread=False)}

    @post(
        "/",
        operation_id="fileRecord",
        summary="File a new record",
        description="File a consultation, work order, complaint or emergency. The caller becomes its owner.",
        responses=problem_responses(400, 401, 403, 413, 422),
        **admits(FILE_RECORDS, audit="record.create"),
    )
    async def file_record(self, request: Request, data: JSONBody[RecordCreate], records: NamedDependency[RecordService]) -> Response[Record]:
        record = await records.file(data, request.user)
        return Response(record, status_code=201, headers={"ETag": etag(record), "Location": f"{self.path}/{record.id}"})

    @get(
        "/",
        operation_id="listRecords",
        summary="List and filter records",
        description="Newest first. Filters combine with AND; ranges include `*_from` and exclude `*_to`.",
        responses=problem_responses(400, 401, 403, 422, 429),
        **admits(READ_RECORDS, audit="record.list"),
    )
    async def list_records(
        self,
        request: Request,
        records: NamedDependency[RecordService],
        kind: FromQuery[Kind | None] = None,
        status: Annotated[str | None, QueryParameter(max_length=LIST_TEXT_LIMITS["status"])] = None,
        channel: FromQuery[Channel | None] = None,
        urgency: FromQuery[Urgency | None] = None,
        classification: Annotated[str | None, QueryParameter(max_length=LIST_TEXT_LIMITS["classification"])] = None,
        owner: Annotated[str | None, QueryParameter(max_length=LIST_TEXT_LIMITS["owner"])] = None,
        reference: Annotated[str | None, QueryParameter(max_length=LIST_TEXT_LIMITS["reference"])] = None,
        created_from: FromQuery[datetime | None] = None,
        created_to: FromQuery[datetime | None] = None,
        received_from: FromQuery[datetime | None] = None,
        received_to: FromQuery[datetime | None] = None,
        sla: Annotated[
            SlaState | None,
            QueryParameter(description="`breached`: a deadline met late or past due; `due_soon`: one due within RECORDS_DUE_SOON_SECONDS."),
        ] = None,
        customer_phone: Annotated[
            str | None, QueryParameter(max_length=LIST_TEXT_LIMITS["customer_phone"], description=(
                "Exact match, normalised (blind index). A lookup by personal identifier: roles outside "
                "`RECORDS_IDENTITY_ROLES` need to be in `RECORDS_LOOKUP_ROLES` and send `X-Purpose`; "
                "rate-limited per caller (429 `too_many_lookups`)."))
        ] = None,
        customer_account: Annotated[
            str | None, QueryParameter(max_length=LIST_TEXT_LIMITS["customer_account"],
                                       description="Exact match, normalised (blind index); a lookup like `customer_phone`.")
        ] = None,
        x_purpose: Annotated[str | None, HeaderParameter(
            name="X-Purpose", required=False, max_length=2000,
            description="Why a lookup by phone or account is needed (roles that see personal data masked).")] = None,
        cursor: Annotated[str | None, QueryParameter(max_length=LIST_TEXT_LIMITS["cursor"],
                                                     description="`next_cursor` of the previous page.")] = None,
        limit: Annotated[int | None, QueryParameter(description="Page size; at most the configured maximum (200 by default).")] = None,
    ) -> RecordPage:
        query = _query(
            kind=kind,
            status=status,
            channel=channel,
            urgency=urgency,
            classification=classification,
            owner=owner,
            reference=reference,
            created_from=created_from,
            created_to=created_to,
            received_from=received_from,
            received_to=received_to,
            sla=sla,
        )
        return await records.search(
            query, request.user, cursor=cursor, limit=limit, customer_phone=customer_phone, customer_account=customer_account
        )

    @get(
        "/{record_id:str}",
        operation_id="getRecord",
        summary="Read a record",
        description="The ETag header carries the version to send back in If-Match when amending.",
        responses=problem_responses(401, 403, 404),
        **admits(READ_RECORDS, audit="record.read"),
    )
    async def get_record(
        self, request: Request, record_id: FromPath[str], records: NamedDependency[RecordService]
    ) -> Response[Record]:
        record = await records.get(record_id, request.user)
        return Response(record, headers={"ETag": etag(record)})

    @get(
        "/{record_id:str}/identity",
        operation_id="revealIdentity",
        summary="Read the customer's personal data in clear",
        description=(
            "For roles that see personal data masked in ordinary reads (`RECORDS_REVEAL_ROLES`). Each call is its "
            "own action, accountable apart from ordinary reads, and needs `X-Purpose` saying why (422 "
            "`purpose_required` without); the purpose is recorded in the call's event."
        ),
        responses=problem_responses(401, 403, 404, 410, 422),
        **admits(READ_RECORDS, audit="record.reveal_identity", roles_from="reveal_roles"),
    )
    async def reveal_identity(
        self, request: Request, record_id: FromPath[str], records: NamedDependency[RecordService],
        x_purpose: Annotated[str | None, HeaderParameter(
            name="X-Purpose", required=False, max_length=2000,
            description="Why the identity is needed: UTF-8, percent-encoded UTF-8 or RFC 8187 (`UTF-8''…`); "
                        "at most 500 characters once decoded.")] = None,
    ) -> Customer:
        return await records.reveal_identity(record_id, request.user)

    @patch(
        "/{record_id:str}",
        operation_id="amendRecord",
        summary="Amend a record",
        description=(
            "Change the fields given. Requires If-Match with the version read (stale → 409). "
            "Agents amend only files they own; only supervisors and admins change `owner`."
        ),
        responses=problem_responses(400, 401, 403, 404, 409, 413, 422, 428),
        **admits(FILE_RECORDS, audit="record.amend"),
    )
    async def amend_record(
        self,
        request: Request,
        record_id: FromPath[str],
        data: JSONBody[RecordPatch],
        records: NamedDependency[RecordService],
        if_match: Annotated[str | None, HeaderParameter(name="If-Match", description="The ETag (version) read.")] = None,
    ) -> Response[Record]:
        record = await records.amend(record_id, data, parse_if_match(if_match), request.user)
        return Response(record, headers={"ETag": etag(record)})

    @post(
        "/{record_id:str}/transitions",
        operation_id="transitionRecord",
        summary="Move a file to another stage of its workflow",
        description=(
            "Only transitions its kind's workflow declares (409 otherwise), by the roles the transition names "
            "(403), when its guards agree (422 with the reason). `If-Match` is optional here. Moving to "
            "`archived` declares the file a record: its content cannot change afterwards."
        ),
        status_code=200,
        responses=problem_responses(400, 401, 403, 404, 409, 410, 413, 422),
        **admits(TRANSITION_ROLES, audit="record.transition"),
    )
    async def transition_record(
        self,
        request: Request,
        record_id: FromPath[str],
        data: JSONBody[TransitionIn],
        records: NamedDependency[RecordService],
        if_match: Annotated[str | None, HeaderParameter(name="If-Match", description="Optional: the ETag read.")] = None,
    ) -> Response[Record]:
        record = await records.transition(record_id, data, parse_if_match(if_match), request.user)
        return Response(record, headers={"ETag": etag(record)})

    @post(
        "/{record_id:str}/notes",
        operation_id="addNote",
        summary="Add a note or a communication with the customer",
        responses=problem_responses(400, 401, 403, 404, 413, 422),
        **admits(FILE_RECORDS, audit="record.note"),
    )
    async def add_note(self, request: Request, record_id: FromPath[str], data: JSONBody[NoteIn], records: NamedDependency[RecordService]) -> Note:
        return await records.add_note(record_id, data, request.user)

    @post(
        "/{record_id:str}/attachments",
        operation_id="uploadAttachment",
        summary="Attach a file",
        description=(
            "multipart/form-data with one field `file`. Streamed to the blob store as it arrives; "
            "sha256 and size are recorded. A cut-off upload stores nothing."
        ),
        responses=problem_responses(400, 401, 403, 404, 413, 415, 422),
        # The upload enforces RECORDS_MAX_ATTACHMENT_BYTES itself; this only lifts the JSON body limit
        # (a number, because litestar 2.25 loses a None here when it registers the route).
        request_max_body_size=2**62,
        operation_class=AttachmentUploadOperation,
        **admits(FILE_RECORDS, audit="attachment.upload"),
    )
    async def upload_attachment(self, request: Request, record_id: FromPath[str], records: NamedDependency[RecordService],
                                settings: NamedDependency[RecordsSettings]) -> Attachment:
        principal: Principal = request.user
        upload = MultipartUpload(request, max_bytes=settings.max_attachment_bytes)
        return await records.attach(record_id, upload, principal)

    @get(
        "/{record_id:str}/attachments/{attachment_id:str}",
        operation_id="downloadAttachment",
        summary="Download an attachment",
        description="Roles that see customers masked (outside `RECORDS_IDENTITY_ROLES`) must send `X-Purpose`; "
                    "the read is audited as `attachment.reveal` with it (`RECORDS_MASKED_ATTACHMENTS=refuse`: 403).",
        operation_class=AttachmentDownloadOperation,
        responses=problem_responses(401, 403, 404, 422),
        **admits(READ_RECORDS, audit="attachment.download"),
    )
    async def download_attachment(self, request: Request, record_id: FromPath[str], attachment_id: FromPath[str],
                                  records: NamedDependency[RecordService]) -> Stream:
        attachment, content = await records.open_attachment(record_id, attachment_id, request.user)
        return Stream(
            content,
            media_type=attachment.content_type,
            headers={
                "Content-Length": str(attachment.size),
                "ETag": f'"{attachment.sha256}"',
                "Digest": f"sha-256={attachment.sha256}",
                "X-Content-Type-Options": "nosniff",
                "Content-Disposition": _content_disposition(attachment.filename),
            },
        )


def _query(**filters: object) -> RecordQuery:
    try:
        return RecordQuery(**filters)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ValidationFailed(f"{err['loc'][0]}: {err['msg']}", field=str(err["loc"][0])) from None


def _content_disposition(filename: str) -> str:
    """RFC 6266: an ASCII fallback plus the exact UTF-8 name."""
    from urllib.parse import quote

    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
