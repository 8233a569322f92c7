"""The ceiling of the HTTP benchmarks: a bare litestar app served by uvicorn exactly as
``records serve`` serves the real one, with endpoints shaped like the records API's (a JSON body
in, 201 out; a JSON document of a record's size out) and nothing behind them: no token, no
audit, no encryption, no storage.

Run as ``python -m uvicorn bench.bare:app``.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Litestar, get, post

# About the size of a filed record as the API returns it.
_DOCUMENT: dict[str, Any] = {
    "kind": "consultation", "reference": "CN-2026-000001", "status": "received", "version": 1, "owner": "bench",
    "channel": "phone", "urgency": "general", "subject": "bench", "description": "bench",
    "customer": {"name": "B", "phone": "13800000000", "account": "B-1", "identity_verified": False},
    "classification": ["content:network.signal", "urgency:general", "handling_mode:phone"],
    "received_at": "2026-11-28T00:00:00.000000Z", "created_at": "2026-11-28T00:00:00.000000Z",
    "updated_at": "2026-11-28T00:00:00.000000Z", "notes": [], "attachments": [], "personal_data": "clear",
    "timeline": [{"at": "2026-11-28T00:00:00.000000Z", "actor": "bench", "event": "filed", "detail": {"kind": "consultation"}}],
}


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@post("/api/v1/records", status_code=201)
async def create(data: dict[str, Any]) -> dict[str, Any]:
    return {**_DOCUMENT, "id": str(uuid.uuid4())}


@get("/api/v1/records/{record_id:str}")
async def read(record_id: str) -> dict[str, Any]:
    return {**_DOCUMENT, "id": record_id}


@get("/api/v1/records")
async def page() -> dict[str, Any]:
    return {"items": [{**_DOCUMENT, "id": str(i)} for i in range(50)], "next_cursor": None}


app = Litestar([health, create, read, page])
