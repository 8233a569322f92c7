"""The access log as a client reads it: the events route, an event's canonical bytes re-encoded
from the API's JSON (what a verifier outside the service computes), and problem responses."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx

EVENTS = "/api/v1/audit/events"
PROBLEM = "application/problem+json"
CANONICAL_KEYS = {"seq", "at", "actor", "role", "action", "targets", "outcome", "status", "request_id", "client", "purpose"}


def canonical_from_api(event: dict[str, Any]) -> bytes:
    """The canonical bytes of an event as the API returns it, re-encoded per records/audit/events.py:
    exactly the eleven keys, sorted, separators (",", ":"), UTF-8 without escaping, ``at`` as
    YYYY-MM-DDTHH:MM:SS.ffffffZ in UTC."""
    assert set(event) == CANONICAL_KEYS, sorted(event)
    body = dict(event)
    at = datetime.fromisoformat(body["at"].replace("Z", "+00:00"))
    assert at.tzinfo is not None, body["at"]
    body["at"] = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def is_problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body = response.json()
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    return body
