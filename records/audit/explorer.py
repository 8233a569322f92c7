"""The audit explorer's rules, shared by ``GET /api/v1/audit/events`` and the console's compliance
pages: filters into an ``EventQuery``, cursor pages, and exports streamed as CSV or JSON Lines.

An export holds one page of events (``EXPORT_PAGE``) at a time whatever its size, and ends at the
log's size when it started, so a log that grows meanwhile (the export's own event included, since
it is appended before the first byte) cannot keep it running.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from records.audit.events import AuditEvent, Outcome
from records.audit.log import EventQuery
from records.audit.service import AuditService
from records.clock import as_utc
from records.errors import InvalidCursor, InvalidInput

MAX_PAGE = 500
EXPORT_PAGE = 1000  # events per store round trip and per chunk written to the response
CSV_FIELDS = ["seq", "at", "actor", "role", "action", "targets", "outcome", "status", "request_id", "client", "purpose"]
ExportFormat = Literal["jsonl", "csv"]
EXPORT_MEDIA_TYPES: dict[str, str] = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


def event_query(
    *,
    record_id: str | None = None,
    actor: str | None = None,
    role: str | None = None,
    action: str | None = None,
    outcome: Outcome | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> EventQuery:
    """The query the filters ask for; refuses naive times and cursors this service did not issue.
    Empty strings (an empty form field) mean no filter."""
    if since is not None and since.tzinfo is None or until is not None and until.tzinfo is None:
        raise InvalidInput("since and until must include a time zone", field="since")
    try:
        since, until = (as_utc(t) if t is not None else None for t in (since, until))
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(f"since/until: {exc}", field="since") from None
    after = None
    if cursor:
        if not re.fullmatch(r"[0-9]{1,18}", cursor):
            raise InvalidCursor("cursor is not one this service issued")
        after = int(cursor)
    return EventQuery(
        target=f"record:{record_id}" if record_id else None, actor=actor or None, role=role or None,
        action=action or None, outcome=outcome, since=since, until=until, after_seq=after, limit=limit,
    )


@dataclass
class EventPage:
    items: list[AuditEvent]
    next_cursor: str | None


async def event_page(service: AuditService, query: EventQuery) -> EventPage:
    """One page of at most ``query.limit`` events, oldest first, and the cursor of the next."""
    found = await service.find(query.model_copy(update={"limit": query.limit + 1}))
    items, more = found[: query.limit], len(found) > query.limit
    return EventPage(items=items, next_cursor=str(items[-1].seq) if more else None)


def export_filename(fmt: ExportFormat) -> str:
    return f"audit-events.{fmt}"


def _cell(value: object) -> object:
    """Neutralise spreadsheet formulas (CSV injection): X-Purpose and names come from callers."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_rows(events: list[AuditEvent]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for event in events:
        row = event.model_dump(mode="json")
        row["targets"] = " ".join(row["targets"])
        writer.writerow([_cell(row[name]) for name in CSV_FIELDS])
    return buffer.getvalue()


def jsonl_rows(events: list[AuditEvent]) -> bytes:
    """One event per line, each line the event's canonical bytes: SHA-256(0x00 || line) is its
    Merkle leaf hash, so an export can be checked against inclusion proofs as it is."""
    return b"".join(event.canonical() + b"\n" for event in events)


async def export_chunks(service: AuditService, query: EventQuery, fmt: ExportFormat) -> AsyncIterator[bytes]:
    """Every event matching ``query`` after its cursor (so an interrupted export resumes from the
    last ``seq`` it wrote), one chunk per page; ``query.limit`` does not apply."""
    if fmt not in EXPORT_MEDIA_TYPES:
        raise InvalidInput(f"exports are {', '.join(EXPORT_MEDIA_TYPES)}, not {fmt!r}", field="format")
    if fmt == "csv":
        yield (",".join(CSV_FIELDS) + "\r\n").encode()
    async for page in service.export_pages(query, EXPORT_PAGE):
        yield jsonl_rows(page) if fmt == "jsonl" else csv_rows(page).encode()
