"""``/api/v1/audit``: the access log, its signed checkpoints and RFC 9162 proofs.

Only compliance officers and admins read the log, and reading it is audited too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, Schema
from litestar.params import FromQuery, QueryParameter
from litestar.response import Stream
from pydantic import BaseModel

from records.api.auth import admits
from records.api.dependencies import provide_audit_service
from records.api.problems import problem_responses
from records.audit.events import AuditEvent, Outcome
from records.audit.explorer import EXPORT_MEDIA_TYPES, MAX_PAGE, event_page, event_query, export_chunks, export_filename
from records.audit.log import Checkpoint
from records.audit.service import AuditService
from records.roles import Role

AUDIT_READERS = frozenset({Role.compliance_officer, Role.admin})


class InclusionProof(BaseModel):
    index: int
    tree_size: int
    leaf_hash: str
    path: list[str]


class ConsistencyProof(BaseModel):
    first: int
    second: int
    path: list[str]


class PublicKey(BaseModel):
    key_id: str
    algorithm: str
    public_key: str


class PublicKeys(BaseModel):
    items: list[PublicKey]


class EventPage(BaseModel):
    items: list[AuditEvent]
    next_cursor: str | None


@dataclass
class AuditEventsOperation(Operation):
    """Documents the exports beside the JSON page: ``format=jsonl`` and ``format=csv`` stream text."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if ok is not None and getattr(ok, "content", None) is not None:
            text = Schema(type=OpenAPIType.STRING)
            ok.content["application/x-ndjson"] = OpenAPIMediaType(schema=text)  # type: ignore[index]
            ok.content["text/csv"] = OpenAPIMediaType(schema=text)  # type: ignore[index]


class AuditController(Controller):
    path = "/api/v1/audit"
    tags = ["audit"]
    dependencies = {"audit": Provide(provide_audit_service, sync_to_thread=False)}

    @get("/checkpoint", operation_id="latestCheckpoint", summary="The latest signed checkpoint",
         responses=problem_responses(401, 403), **admits(AUDIT_READERS, audit="audit.checkpoint.read"))
    async def latest_checkpoint(self, audit: NamedDependency[AuditService]) -> Checkpoint:
        return await audit.latest()

    @post("/checkpoints", operation_id="sealCheckpoint", summary="Seal pending events into a new signed checkpoint",
          responses=problem_responses(401, 403), **admits(AUDIT_READERS, audit="audit.checkpoint.seal"))
    async def seal(self, audit: NamedDependency[AuditService]) -> Response[Checkpoint]:
        return Response(await audit.seal(), status_code=201)

    @get("/proofs/inclusion", operation_id="inclusionProof", summary="RFC 9162 inclusion proof of one event",
         responses=problem_responses(401, 403, 422), **admits(AUDIT_READERS, audit="audit.proof.read"))
    async def inclusion(
        self, audit: NamedDependency[AuditService], index: FromQuery[int], tree_size: FromQuery[int]
    ) -> InclusionProof:
        return InclusionProof(**await audit.inclusion(index, tree_size))

    @get("/proofs/consistency", operation_id="consistencyProof", summary="RFC 9162 consistency proof between two sizes",
         responses=problem_responses(401, 403, 422), **admits(AUDIT_READERS, audit="audit.proof.read"))
    async def consistency(self, audit: NamedDependency[AuditService], first: FromQuery[int], second: FromQuery[int]) -> ConsistencyProof:
        return ConsistencyProof(**await audit.consistency(first, second))

    @get("/public-keys", operation_id="auditPublicKeys", summary="Ed25519 keys that sign checkpoints",
         responses=problem_responses(401, 403), **admits(AUDIT_READERS, audit="audit.keys.read"))
    async def public_keys(self, audit: NamedDependency[AuditService]) -> PublicKeys:
        return PublicKeys(items=[PublicKey(**k) for k in audit.public_keys()])

    @get(
        "/events",
        operation_id="listAuditEvents",
        summary="Query or export the access log",
        description=("Oldest first. `format=jsonl` or `csv` streams every matching event after `cursor` (none: from the "
                     "start), so an interrupted export resumes; each JSON line is the event's canonical bytes."),
        responses=problem_responses(400, 401, 403, 422),
        operation_class=AuditEventsOperation,
        **admits(AUDIT_READERS, audit="audit.events.read"),
    )
    async def events(
        self,
        audit: NamedDependency[AuditService],
        record_id: Annotated[str | None, QueryParameter(max_length=64)] = None,
        actor: Annotated[str | None, QueryParameter(max_length=80)] = None,
        role: FromQuery[Role | None] = None,
        action: Annotated[str | None, QueryParameter(max_length=64)] = None,
        outcome: FromQuery[Outcome | None] = None,
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
        cursor: Annotated[str | None, QueryParameter(max_length=20)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 100,
        format: FromQuery[Literal["json", "jsonl", "csv"]] = "json",
    ) -> Response[EventPage]:  # or a Stream of the export (Stream is a Response)
        query = event_query(record_id=record_id, actor=actor, role=role.value if role else None, action=action,
                            outcome=outcome, since=since, until=until, cursor=cursor, limit=limit)
        service = audit
        if format != "json":
            return Stream(export_chunks(service, query, format), media_type=EXPORT_MEDIA_TYPES[format],
                          headers={"Content-Disposition": f'attachment; filename="{export_filename(format)}"'})
        page = await event_page(service, query)
        return Response(EventPage(items=page.items, next_cursor=page.next_cursor))
