"""The compliance officer's pages: the audit explorer (filters, keyset pages, a record's access
history, CSV and JSON Lines exports) and the log's integrity, checked in the browser.

Every page calls what ``GET /api/v1/audit/...`` calls (``records.audit.explorer``, the
``AuditService``) and is audited as that API read is: the same action, the viewer as actor,
the same targets. The JSON twins under ``/console/audit/*.json`` give ``static/audit-verify.js``
the checkpoint, keys and proofs over the session cookie; the script checks them itself.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from litestar import Controller, Request, Response, get
from litestar.params import FromQuery, QueryParameter
from litestar.response import Stream, Template

from records.api.audit import AUDIT_READERS, ConsistencyProof, InclusionProof, PublicKey, PublicKeys
from records.api.auth import admits
from records.audit.events import AuditEvent, Outcome
from records.audit.explorer import EXPORT_MEDIA_TYPES, MAX_PAGE, event_page, event_query, export_chunks, export_filename
from records.audit.log import Checkpoint, EventQuery
from records.audit.service import AuditService
from records.console.i18n import N_
from records.console.rendering import page
from records.errors import InvalidCursor, InvalidInput
from records.roles import Role

PAGE_SIZE = 50
FILTERS = ("actor", "record_id", "role", "action", "outcome", "since", "until")
OUTCOME_LABELS = {Outcome.allowed: N_("allowed"), Outcome.denied: N_("denied"), Outcome.failed: N_("failed")}

Text = Annotated[str | None, QueryParameter(max_length=80)]
Moment = Annotated[str | None, QueryParameter(max_length=40)]


@dataclass
class ExplorerFilters:
    """The explorer form as typed: empty fields are no filter; times without a zone are the
    installation's (a ``datetime-local`` field has none)."""

    actor: str | None = None
    record_id: str | None = None
    role: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: str | None = None
    until: str | None = None

    def values(self) -> dict[str, str]:
        return {name: value for name in FILTERS if (value := (getattr(self, name) or "").strip())}

    def query(self, zone: str, cursor: str | None = None, limit: int = PAGE_SIZE) -> EventQuery:
        v = self.values()
        outcome = v.get("outcome")
        if outcome is not None and outcome not in Outcome.__members__:
            raise InvalidInput("outcome must be allowed, denied or failed", field="outcome")
        role = v.get("role")
        if role is not None and role not in Role.__members__:
            raise InvalidInput(f"role must be one of {', '.join(Role)}", field="role")
        return event_query(
            record_id=v.get("record_id"), actor=v.get("actor"), role=role, action=v.get("action"),
            outcome=Outcome(outcome) if outcome else None, since=_moment(v.get("since"), "since", zone),
            until=_moment(v.get("until"), "until", zone), cursor=cursor, limit=limit,
        )

    def link(self, path: str, **extra: str) -> str:
        params = {**self.values(), **extra}
        return path + ("?" + urlencode(params) if params else "")


def _moment(value: str | None, name: str, zone: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} is not a date and time; write it as 2026-12-03T09:30", field=name) from None
    return moment.replace(tzinfo=ZoneInfo(zone)) if moment.tzinfo is None else moment


def _canonical(event: AuditEvent) -> str:
    """The event's canonical bytes, which the browser hashes into its Merkle leaf."""
    return base64.b64encode(event.canonical()).decode()


def _service(request: Request) -> AuditService:
    return request.app.state.audit_service


def _filters(actor: str | None, record_id: str | None, role: str | None, action: str | None, outcome: str | None,
             since: str | None, until: str | None) -> ExplorerFilters:
    return ExplorerFilters(actor=actor, record_id=record_id, role=role, action=action, outcome=outcome,
                           since=since, until=until)


class AuditPagesController(Controller):
    path = "/console/audit"
    include_in_schema = False

    @get("/", name="console-audit", **admits(AUDIT_READERS, audit="audit.events.read"))
    async def explorer(
        self, request: Request, actor: Text = None, record_id: Text = None, role: Text = None, action: Text = None,
        outcome: Text = None, since: Moment = None, until: Moment = None,
        cursor: Annotated[str | None, QueryParameter(max_length=20)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = PAGE_SIZE,
    ) -> Template:
        filters = _filters(actor, record_id, role, action, outcome, since, until)
        context: dict[str, Any] = {
            "filters": {name: filters.values().get(name, "") for name in FILTERS}, "outcomes": OUTCOME_LABELS, "roles": list(Role), "events": [],
            "next_link": None, "first_link": None, "error": None, "error_field": None,
            "canonical": _canonical, "export_csv": filters.link("/console/audit/export", format="csv"),
            "export_jsonl": filters.link("/console/audit/export", format="jsonl"),
            "history_of": (record_id or "").strip() or None,
        }
        try:
            query = filters.query(request.app.state.settings.console_time_zone, cursor=cursor, limit=limit)
        except (InvalidInput, InvalidCursor) as exc:
            # Shown on the page beside the form, with the status the API answers.
            context.update(error=exc.detail, error_field=exc.extra.get("field") or "cursor")
            return page(request, "audit/explorer.html", status_code=exc.status, **context)
        found = await event_page(_service(request), query)
        paging = {"limit": str(limit)} if limit != PAGE_SIZE else {}
        context.update(
            events=found.items,
            next_link=filters.link("/console/audit", cursor=found.next_cursor, **paging) if found.next_cursor else None,
            first_link=filters.link("/console/audit", **paging) if cursor else None,
        )
        return page(request, "audit/explorer.html", **context)

    @get("/export", name="console-audit-export", **admits(AUDIT_READERS, audit="audit.events.read"))
    async def export(
        self, request: Request, format: Annotated[str, QueryParameter(max_length=8)], actor: Text = None,
        record_id: Text = None, role: Text = None, action: Text = None, outcome: Text = None, since: Moment = None,
        until: Moment = None,
    ) -> Response:
        if format not in EXPORT_MEDIA_TYPES:
            raise InvalidInput(f"exports are {', '.join(EXPORT_MEDIA_TYPES)}, not {format!r}", field="format")
        filters = _filters(actor, record_id, role, action, outcome, since, until)
        query = filters.query(request.app.state.settings.console_time_zone)
        return Stream(export_chunks(_service(request), query, format), media_type=EXPORT_MEDIA_TYPES[format],  # type: ignore[arg-type]
                      headers={"Content-Disposition": f'attachment; filename="{export_filename(format)}"'})  # type: ignore[arg-type]

    # --- what the browser checks: the API's reads, over the session ------------------------

    @get("/checkpoint.json", name="console-audit-checkpoint", **admits(AUDIT_READERS, audit="audit.checkpoint.read"))
    async def checkpoint(self, request: Request) -> Checkpoint:
        return await _service(request).latest()

    @get("/public-keys.json", name="console-audit-keys", **admits(AUDIT_READERS, audit="audit.keys.read"))
    async def public_keys(self, request: Request) -> PublicKeys:
        return PublicKeys(items=[PublicKey(**k) for k in _service(request).public_keys()])

    @get("/proofs/inclusion.json", name="console-audit-inclusion", **admits(AUDIT_READERS, audit="audit.proof.read"))
    async def inclusion(self, request: Request, index: FromQuery[int], tree_size: FromQuery[int]) -> InclusionProof:
        return InclusionProof(**await _service(request).inclusion(index, tree_size))

    @get("/proofs/consistency.json", name="console-audit-consistency",
         **admits(AUDIT_READERS, audit="audit.proof.read"))
    async def consistency(self, request: Request, first: FromQuery[int], second: FromQuery[int]) -> ConsistencyProof:
        return ConsistencyProof(**await _service(request).consistency(first, second))
