"""Defences: throttling of repeated authentication failures, security headers on every response,
and tokens confirmed in constant time."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import anyio
import pytest
from litestar.testing import TestClient

from records.api.app import create_app
from records.api.security import AuthFailureThrottle
from records.errors import TooManyAuthFailures
from records.ports import ApiToken
from records.roles import Role
from records.services.tokens import TokenService, hash_secret
from records.settings import load_settings

PROBLEM = "application/problem+json"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def throttled(data_dir, clock) -> Iterator[tuple[TestClient, str]]:
    """An app allowing 3 failed authentications per 60 s, on a clock the test moves; and an agent token."""
    app = create_app(load_settings(data_dir=data_dir, auth_failure_limit=3, auth_failure_window_seconds=60))
    app.state.auth_throttle = AuthFailureThrottle(3, 60, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        with client.portal() as portal:
            token = portal.call(app.state.token_service.issue, "alice", "agent").token
        yield client, token


def _bad(client: TestClient):
    return client.get("/api/v1/me", headers={"Authorization": "Bearer rec_not-a-real-token"})


def test_repeated_auth_failures_get_429_with_retry_after(throttled, clock):
    client, token = throttled
    for _ in range(3):
        assert _bad(client).status_code == 401
    clock.now += 10
    refused = _bad(client)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith(PROBLEM)
    assert refused.json()["code"] == "too_many_auth_failures"
    assert refused.headers["retry-after"] == "50"  # the first failure leaves the window 60 s after it
    # A good token from the same address is never refused: others' failures cannot lock it out.
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_throttle_lifts_when_failures_leave_the_window(throttled, clock):
    client, token = throttled
    for _ in range(3):
        _bad(client)
    assert _bad(client).status_code == 429
    clock.now += 60
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # Refused attempts did not count: the address has its whole allowance again.
    assert [_bad(client).status_code for _ in range(4)] == [401, 401, 401, 429]


def test_missing_and_malformed_credentials_count_as_failures(throttled):
    client, _ = throttled
    assert client.get("/api/v1/records").status_code == 401
    assert client.get("/api/v1/records", headers={"Authorization": "Basic dTpw"}).status_code == 401
    assert _bad(client).status_code == 401
    assert client.get("/api/v1/records").status_code == 429


def test_successful_requests_are_never_throttled(throttled):
    client, token = throttled
    for _ in range(10):
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_throttled_attempts_are_audited_as_denied(throttled, clock):
    client, _ = throttled
    for _ in range(4):
        _bad(client)
    clock.now += 60
    admin = _admin_token(client)
    events = client.get("/api/v1/audit/events", params={"action": "token.whoami"}, headers={"Authorization": f"Bearer {admin}"})
    assert events.status_code == 200, events.text
    statuses = [(e["status"], e["outcome"]) for e in events.json()["items"]]
    assert (429, "denied") in statuses


def _admin_token(client: TestClient) -> str:
    with client.portal() as portal:
        return portal.call(client.app.state.token_service.issue, "root", "admin").token


def test_throttle_counts_each_address_apart(clock):
    throttle = AuthFailureThrottle(2, 30, clock=clock)
    throttle.failed("10.0.0.1")
    throttle.failed("10.0.0.1")
    with pytest.raises(TooManyAuthFailures) as caught:
        throttle.check("10.0.0.1")
    assert caught.value.headers == {"Retry-After": "30"}
    throttle.check("10.0.0.2")  # another address is not affected


def test_auth_failure_settings_are_validated(monkeypatch):
    from records.errors import InvalidConfiguration

    monkeypatch.setenv("RECORDS_AUTH_FAILURE_LIMIT", "0")
    with pytest.raises(InvalidConfiguration):
        load_settings()


# --- security headers ---------------------------------------------------------------------------

COMMON = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def _assert_common(response) -> None:
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, f"{name} on {response.request.url}"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_every_kind_of_response_carries_security_headers(client, agent, filed):
    responses = [
        agent.get(f"/api/v1/records/{filed['id']}"),  # 200 with a record
        agent.get("/api/v1/records"),
        agent.post("/api/v1/records", json={"kind": "nonsense"}),  # 422
        client.get("/api/v1/records"),  # 401, refused by the token check
        agent.get("/api/v1/no-such-thing"),  # 404 of the router
        client.get("/health"),
        client.get("/schema/openapi.json"),
    ]
    for response in responses:
        _assert_common(response)
    for response in responses[:5]:
        assert response.headers["cache-control"] == "no-store", response.request.url
        assert response.headers["content-security-policy"].startswith("default-src 'none'")


def test_attachment_downloads_are_not_cached(agent, filed):
    uploaded = agent.post(f"/api/v1/records/{filed['id']}/attachments", files={"file": ("a.txt", b"abc", "text/plain")})
    assert uploaded.status_code == 201, uploaded.text
    download = agent.get(f"/api/v1/records/{filed['id']}/attachments/{uploaded.json()['id']}")
    assert download.status_code == 200
    assert download.headers["cache-control"] == "no-store"
    _assert_common(download)


def _policy(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def _allowed(policy: dict[str, list[str]], directive: str, url: str) -> bool:
    sources = policy.get(directive, policy.get("default-src", []))
    parts = urlsplit(url)
    if not parts.scheme:
        return "'self'" in sources
    return f"{parts.scheme}://{parts.netloc}" in sources


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
def test_docs_pages_policy_admits_what_they_load(client, page):
    response = client.get(page)
    assert response.status_code == 200
    _assert_common(response)
    policy = _policy(response.headers["content-security-policy"])
    html = response.text
    scripts = re.findall(r"<script[^>]*\bsrc=[\"']([^\"']+)", html)
    styles = re.findall(r"<link[^>]*rel=[\"']stylesheet[\"'][^>]*href=[\"']([^\"']+)", html)
    styles += re.findall(r"<link[^>]*href=[\"']([^\"']+)[\"'][^>]*rel=[\"']stylesheet", html)
    icons = re.findall(r"<link[^>]*rel=[\"']icon[\"'][^>]*href=[\"']([^\"']+)", html)
    assert scripts, "the docs page loads its renderer from a script"
    assert all(_allowed(policy, "script-src", u) for u in scripts), scripts
    assert all(_allowed(policy, "style-src", u) for u in styles), styles
    assert all(_allowed(policy, "img-src", u) for u in icons), icons
    if re.search(r"<script(?![^>]*\bsrc=)[^>]*>\s*\S", html):  # inline scripts on the page
        assert "'unsafe-inline'" in policy["script-src"]
    assert "'self'" in policy["connect-src"]  # the page fetches the OpenAPI document and tries requests


# --- tokens --------------------------------------------------------------------------------------


class _StoreMatchingAnything:
    """A token store whose lookup is wrong: it returns a token whatever hash it is asked for."""

    def __init__(self, token: ApiToken) -> None:
        self.token = token

    async def by_secret_hash(self, secret_hash: str) -> ApiToken:
        return self.token


def test_a_token_is_confirmed_against_its_stored_hash():
    from records.clock import utcnow

    stored = ApiToken(name="alice", role=Role.agent, secret_hash=hash_secret("rec_right"), created_at=utcnow())
    service = TokenService(_StoreMatchingAnything(stored))  # type: ignore[arg-type]
    assert anyio.run(service.authenticate, "rec_wrong") is None
    assert anyio.run(service.authenticate, "rec_right") is not None


def test_every_operation_that_needs_a_token_documents_the_throttle(client):
    spec = client.get("/schema/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if "401" in operation.get("responses", {}):
                assert "429" in operation["responses"], f"{method.upper()} {path}"


def test_request_bodies_over_the_limit_are_refused_even_without_a_length(agent):
    """A chunked body announces no Content-Length; the limit applies while it streams in."""

    def chunks():
        yield b'{"kind": "complaint", "description": "'
        for _ in range(2 * 1024):
            yield b"x" * 1024
        yield b'"}'

    response = agent.post("/api/v1/records", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert agent.get("/api/v1/records").json()["items"] == []
