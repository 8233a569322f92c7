"""Every error a client can get, as RFC 9457 ``application/problem+json``, mapped in one place.

Domain errors carry their own status and stable ``code``; litestar's own HTTP exceptions
(validation, size limits, unknown routes) are translated to the same shape, and anything
unexpected becomes a 500 problem without a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.openapi.datastructures import ResponseSpec
from pydantic import BaseModel, Field

from records.errors import RecordsError
from records.redaction import traceback_without_messages

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("records.api")


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, plus a stable machine-readable ``code``."""

    type: str = Field(description="URN naming the problem type: urn:records:problem:<code>.")
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable error code; clients branch on this, not on text.")
    errors: list[FieldError] | None = Field(None, description="For validation problems: each field and what is wrong.")
    current_version: int | None = Field(None, description="For version conflicts: the record's version now.")


def problem(
    status: int, code: str, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response[dict[str, Any]]:
    body = {"type": f"urn:records:problem:{code}", "title": title, "status": status, "detail": detail, "code": code}
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="records"'
    return Response(content=body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers or None)


def _field_errors(extra: Any) -> list[dict[str, str]]:
    errors = []
    for item in extra if isinstance(extra, list) else []:
        if isinstance(item, dict):
            key = str(item.get("key") or item.get("source") or "body")
            errors.append({"field": key, "message": str(item.get("message", "invalid"))})
    return errors


def handle_records_error(_: Request, exc: RecordsError) -> Response:
    extra = dict(exc.extra)
    field = extra.pop("field", None)
    errors = [{"field": field, "message": exc.detail}] if field else None
    return problem(exc.status, exc.code, exc.title, exc.detail, headers=exc.headers, errors=errors, **extra)


def handle_http_exception(_: Request, exc: HTTPException) -> Response:
    if isinstance(exc, ValidationException):
        errors = _field_errors(exc.extra)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or exc.detail
        if "JSON" in exc.detail and not errors:
            return problem(400, "malformed_body", "Malformed body", "the request body is not valid JSON")
        return problem(422, "validation_failed", "Validation failed", detail, errors=errors or None)
    if isinstance(exc, RequestEntityTooLarge):
        return problem(413, "payload_too_large", "Payload too large", "the request body exceeds the size limit")
    if isinstance(exc, NotAuthorizedException):
        return problem(401, "not_authenticated", "Not authenticated", exc.detail)
    if isinstance(exc, PermissionDeniedException):
        return problem(403, "forbidden", "Forbidden", exc.detail)
    status = exc.status_code
    if status == 400:
        malformed = "JSON" in exc.detail or "malformed" in exc.detail.lower()
        code = "malformed_body" if malformed else "bad_request"
        return problem(400, code, "Malformed request" if malformed else "Bad request", exc.detail)
    code = {404: "not_found", 405: "method_not_allowed", 415: "unsupported_media_type"}.get(status, f"http_{status}")
    if status >= 500:
        log.error("http error %s: %s", status, exc.detail)
        return problem(status, code, "Server error", "the server could not complete the request")
    # A 405 says what the address does take (Allow, RFC 9110 §15.5.6), as litestar's router tells it.
    return problem(status, code, exc.detail or "Error", exc.detail or "request refused", headers=exc.headers or None)


def handle_recursion(_: Request, exc: RecursionError) -> Response:
    # msgspec raises this for absurdly nested JSON: the client's fault, not ours.
    return problem(400, "malformed_body", "Malformed request", "the request body is nested too deeply")


def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s\n%s", request.method, request.url.path, traceback_without_messages(exc))
    return problem(500, "internal_error", "Internal error", "the server failed; the request changed nothing it did not finish")


EXCEPTION_HANDLERS = {
    RecordsError: handle_records_error,
    HTTPException: handle_http_exception,
    RecursionError: handle_recursion,
    Exception: handle_unexpected,
}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problems a route can return.

    400 is always listed: litestar documents its own 400 for any route with parameters, and
    this replaces it with the problem shape the client actually gets. 429 comes with 401."""
    described = {
        400: "Malformed request (bad JSON, bad cursor).",
        401: "No token, or an unknown or revoked token.",
        403: "The token's role may not do this.",
        404: "No such record or attachment.",
        409: "Conflict: stale version or a name in use.",
        410: "The record was destroyed; its protected content is gone for good.",
        429: "Too many failed authentications from this address, or too many lookups by personal identifier; `Retry-After` says when to try again.",
        413: "Body larger than the configured limit.",
        415: "Wrong content type (uploads must be multipart/form-data).",
        422: "Validation failed; `errors` names each field.",
        428: "If-Match header required.",
    }
    # Whatever needs a token can meet the authentication-failure throttle.
    throttled = {429} if 401 in statuses else set()
    return {
        s: ResponseSpec(data_container=Problem, description=described[s], media_type=PROBLEM_MEDIA_TYPE, generate_examples=False)
        for s in sorted({400, *statuses, *throttled})
    }
