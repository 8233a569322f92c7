"""The keyset cursor of a record listing: the position after the last file of a page, bound to
the page's filters so that a cursor cannot be replayed under other ones."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime

from records.clock import as_utc, to_text
from records.errors import InvalidCursor
from records.models import Record, RecordQuery


def query_fingerprint(query: RecordQuery) -> str:
    """The filters of ``query`` (not its position, size or clock) in 16 hex digits."""
    filters = query.model_dump(mode="json", exclude={"after", "limit", "sla_now", "sla_soon_until"}, exclude_none=True)
    return hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:16]


def encode_cursor(last: Record, fingerprint: str) -> str:
    raw = json.dumps({"t": to_text(last.created_at), "i": last.id, "q": fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, fingerprint: str) -> tuple[datetime, str]:
    """(created_at, id) the next page starts after; ``InvalidCursor`` for anything this service
    did not issue for the same filters."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        position = (as_utc(datetime.fromisoformat(raw["t"])), str(raw["i"]))
        same_filters = raw["q"] == fingerprint
    except (ValueError, KeyError, TypeError, OverflowError):
        raise InvalidCursor("cursor is not one this service issued") from None
    if not same_filters:
        raise InvalidCursor("cursor belongs to a query with other filters; start again without a cursor")
    return position
