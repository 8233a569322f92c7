"""Every request to an audited route leaves an event, allowed, denied or failed.

Changes commit their event in their own transaction (the services do it through the trail);
for everything else (reads, refusals, failures) this middleware appends the event before the
response starts, and answers 503 instead if the event cannot be stored: no event, no action.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import unquote

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from records.api.problems import PROBLEM_MEDIA_TYPE
from records.audit import trail as audit_trail
from records.audit.events import Outcome
from records.errors import RecordsError

MAX_PURPOSE = 500
# Path parameters that name what a request is about: reads and refusals carry them as targets
# (changes add their own in the service, in the same ``kind:id`` form).
PATH_TARGETS = {
    "record_id": "record", "attachment_id": "attachment", "name": "token", "batch_id": "batch",
    "certificate_id": "certificate", "hold_id": "hold", "schedule_id": "schedule", "floor_id": "floor",
}


def outcome_for(status: int) -> Outcome:
    if status < 400:
        return Outcome.allowed
    if status in (401, 403, 429):  # 429: a throttled authentication attempt
        return Outcome.denied
    return Outcome.failed


def _problem_messages(
    status: int, code: str, title: str, detail: str, extra_headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    import json

    body = json.dumps({"type": f"urn:records:problem:{code}", "title": title, "status": status,
                       "detail": detail, "code": code}).encode()
    headers = [(b"content-type", PROBLEM_MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="records"'))
    headers.extend((name.lower().encode(), value.encode()) for name, value in (extra_headers or {}).items())
    return [
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body, "more_body": False},
    ]


def _with_request_id(message: Any, request_id: str) -> Any:
    headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"]
    return {**message, "headers": [*headers, (b"x-request-id", request_id.encode())]}


_RFC8187 = re.compile(r"^utf-8'[A-Za-z0-9\-]*'(.*)$", re.IGNORECASE | re.DOTALL)


def decode_purpose(raw: bytes) -> str:
    """``X-Purpose`` as the caller wrote it: UTF-8 bytes (HTTP headers default to Latin-1, which
    garbled ``审计``), percent-encoded UTF-8 (``%E5%AE%A1%E8%AE%A1``), or RFC 8187 ext-value
    (``UTF-8''%E5%AE%A1%E8%AE%A1``). Bytes that are not UTF-8 become U+FFFD, never an error."""
    text = raw.decode("utf-8", errors="replace").strip()
    match = _RFC8187.match(text)
    if match:
        text = unquote(match.group(1), encoding="utf-8", errors="replace")
    elif "%" in text and re.search(r"%[0-9A-Fa-f]{2}", text):
        text = unquote(text, encoding="utf-8", errors="replace")
    # A decoded %0A must not put a line break (or any control character) into the audit log.
    return "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in text).strip()


def _purpose_header(scope: Scope) -> str | None:
    values = [value for name, value in scope.get("headers", []) if name.lower() == b"x-purpose"]
    return decode_purpose(b", ".join(values)) if values else None


def _status_of(exc: Exception) -> int:
    status = getattr(exc, "status", None) or getattr(exc, "status_code", None)
    return status if isinstance(status, int) else 500


class AuditMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        handler = scope.get("route_handler")
        action = handler.opt.get("audit") if handler is not None else None
        if action is None:
            await next_app(scope, receive, send)
            return
        trail = audit_trail.AuditTrail(
            action=action,
            client=(scope.get("client") or (None,))[0],
            purpose=_purpose_header(scope),
            success_status=getattr(handler, "status_code", None),
        )
        for name, value in (scope.get("path_params") or {}).items():
            kind = PATH_TARGETS.get(name)
            if kind:
                trail.target(f"{kind}:{value}")
        audit = scope["litestar_app"].state.audit_service
        token = audit_trail.begin(trail)
        suppressed = False

        async def record(status: int) -> bool:
            if trail.recorded:
                return True
            try:
                await audit.append([trail.draft(outcome_for(status), status)])
            except Exception:  # noqa: BLE001 - any failure to store the event refuses the response
                return False
            trail.recorded = True
            return True

        started = False

        async def send_audited(message: Any) -> None:
            nonlocal suppressed, started
            if suppressed:
                return
            if message["type"] == "http.response.start":
                started = True
                if not await record(message["status"]):
                    suppressed = True
                    for m in _problem_messages(503, "audit_unavailable", "Audit log unavailable",
                                               "the access could not be audited, so it is refused"):
                        await send(_with_request_id(m, trail.request_id))
                    return
                message = _with_request_id(message, trail.request_id)
            await send(message)

        if trail.purpose is not None and len(trail.purpose) > MAX_PURPOSE:
            trail.purpose = trail.purpose[:MAX_PURPOSE]
            trail.purpose_too_long = True  # refused after authentication, so the event names the caller
        try:
            await next_app(scope, receive, send_audited)
        except RecordsError as exc:
            if started:
                raise
            # Refusals raised before a handler runs (the token check) reach us as exceptions; answer
            # them here, through the audited path, so they carry their event and request id.
            for m in _problem_messages(exc.status, exc.code, exc.title, exc.detail, exc.headers):
                await send_audited(m)
        except Exception as exc:
            if not started:
                await record(_status_of(exc))
            raise
        finally:
            audit_trail.end(token)
