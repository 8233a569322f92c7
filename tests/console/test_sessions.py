"""Console sign-in and the refusals every console page shares, over plain HTTP (no browser):
the session cookie, expiry, revocation, CSRF, the shared authentication throttle, and the
audit events of signing in and out."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from records.clock import frozen_at, utcnow
from records.roles import Role
from records.settings import load_settings
from tests.console.conftest import ConsoleClient, csrf_of


def events(compliance_officer, action: str) -> list[dict]:
    response = compliance_officer.get("/api/v1/audit/events", params={"action": action})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_root_and_console_lead_to_sign_in_without_a_session(client):
    assert client.get("/", follow_redirects=False).headers["location"] == "/console/"
    response = client.get("/console/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/sign-in")
    page = client.get("/console/sign-in")
    assert page.status_code == 200 and 'name="token"' in page.text
    assert page.headers["content-type"].startswith("text/html")


def test_sign_in_opens_a_session_with_a_strict_http_only_cookie(client, issue_token):
    token = issue_token(Role.agent, "alice")
    console = ConsoleClient(client, token)
    response = console.sign_in()
    assert response.status_code == 303 and response.headers["location"] == "/console/"
    cookie = response.headers["set-cookie"]
    assert "records_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    assert token not in cookie  # the cookie carries its own secret, not the API token
    home = console.get("/console/")
    assert home.status_code == 200 and "alice" in home.text
    assert home.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in home.headers["content-security-policy"]


def test_the_cookie_is_secure_under_https(client, issue_token):
    token = issue_token(Role.agent, "alice")
    client.base_url = "https://testserver.local"
    response = ConsoleClient(client, token).sign_in()
    assert response.status_code == 303 and "Secure" in response.headers["set-cookie"]


def test_an_unknown_token_is_refused_and_audited(client, compliance_officer):
    console = ConsoleClient(client, "rec_not-a-token")
    response = console.sign_in()
    assert response.status_code == 401
    assert "records_session" not in response.headers.get("set-cookie", "")
    [event] = events(compliance_officer, "console.sign_in")
    assert (event["outcome"], event["status"], event["actor"]) == ("denied", 401, None)


def test_sign_in_and_sign_out_are_audited_and_sign_out_ends_the_session(console_as, compliance_officer):
    console = console_as(Role.agent, "alice")
    [signed_in] = events(compliance_officer, "console.sign_in")
    assert (signed_in["outcome"], signed_in["actor"], signed_in["role"]) == ("allowed", "alice", "agent")
    response = console.post("/console/sign-out")
    assert response.status_code == 303 and "reason=signed_out" in response.headers["location"]
    [signed_out] = events(compliance_officer, "console.sign_out")
    assert (signed_out["outcome"], signed_out["actor"]) == ("allowed", "alice")
    # The session is gone on the server, not only forgotten by this browser.
    assert console.get("/console/").status_code == 303


def test_a_stolen_cookie_is_useless_after_sign_out(console_as):
    console = console_as(Role.agent, "alice")
    cookie = console.jar.get("records_session")
    console.post("/console/sign-out")
    console.jar.set("records_session", cookie, domain="testserver.local", path="/console")
    assert console.get("/console/").status_code == 303


def test_a_form_without_its_csrf_token_is_refused_with_a_clear_page(console_as):
    console = console_as(Role.agent, "alice")
    for data in ({}, {"csrf_token": "forged"}):
        response = console.post("/console/sign-out", data=data, csrf=False)
        assert response.status_code == 403
        assert "security token" in response.text and "csrf_refused" in response.text
    assert console.get("/console/").status_code == 200  # still signed in: nothing happened


def test_the_sign_in_form_needs_its_csrf_token_too(client, issue_token):
    token = issue_token(Role.agent, "alice")
    client.get("/console/sign-in")
    response = client.post("/console/sign-in", data={"token": token}, follow_redirects=False)
    assert response.status_code == 403 and "records_session" not in response.headers.get("set-cookie", "")


def test_an_idle_session_expires_and_asks_to_sign_in_again(console_as, settings):
    console = console_as(Role.agent, "alice")
    later = utcnow() + timedelta(seconds=settings.console_session_idle_seconds + 1)
    with frozen_at(later):
        response = console.get("/console/")
        assert response.status_code == 303
        assert response.headers["location"] == "/console/sign-in?next=/console/&reason=expired"
        assert "expired" in console.get(response.headers["location"]).text
        assert console.get("/console/").status_code == 303  # the session itself ended


def test_an_active_session_still_ends_at_its_absolute_expiry(console_as, settings):
    console = console_as(Role.agent, "alice")
    start = utcnow()
    step = timedelta(seconds=settings.console_session_idle_seconds / 2)
    moment = start
    while moment - start < timedelta(seconds=settings.console_session_max_seconds - step.total_seconds()):
        moment += step
        with frozen_at(moment):
            assert console.get("/console/").status_code == 200
    with frozen_at(start + timedelta(seconds=settings.console_session_max_seconds + 1)):
        assert "reason=expired" in console.get("/console/").headers["location"]


def test_revoking_the_token_ends_its_sessions(console_as, admin):
    first = console_as(Role.agent, "alice")
    second = ConsoleClient(first.client, first.token)
    assert second.sign_in().status_code == 303
    assert admin.delete("/api/v1/tokens/alice").status_code == 204
    response = first.get("/console/")
    assert response.status_code == 303 and "reason=revoked" in response.headers["location"]
    # Every session the token opened ended with it, not only the one that noticed.
    assert second.get("/console/").headers["location"].startswith("/console/sign-in")
    assert second.sign_in().status_code == 401


def test_next_never_leads_off_the_console(client, issue_token):
    token = issue_token(Role.agent, "alice")
    for target in ("https://evil.example/", "//evil.example/console/", "/api/v1/records", "/console/\\evil"):
        response = ConsoleClient(client, token).sign_in(next_path=target)
        assert response.headers["location"] == "/console/", target


@pytest.fixture
def settings(data_dir):
    return load_settings(data_dir=data_dir, auth_failure_limit=3)


def test_sign_in_failures_meet_the_apis_throttle(client, issue_token):
    token = issue_token(Role.agent, "alice")
    csrf = csrf_of(client.get("/console/sign-in").text)
    for _ in range(2):
        bad = client.post("/console/sign-in", data={"token": "rec_wrong", "csrf_token": csrf}, follow_redirects=False)
        assert bad.status_code == 401
    # One more failure through the API counts against the same address.
    assert client.get("/api/v1/records", headers={"Authorization": "Bearer rec_wrong"}).status_code == 401
    refused = client.post("/console/sign-in", data={"token": "rec_wrong", "csrf_token": csrf}, follow_redirects=False)
    assert refused.status_code == 429 and "retry-after" in refused.headers
    assert "尝试次数过多" in refused.text  # no Accept-Language: Chinese
    # As in the API, a valid token is never locked out by others' failures.
    assert client.post("/console/sign-in", data={"token": token, "csrf_token": csrf},
                       follow_redirects=False).status_code == 303


def test_a_pages_links_back_to_itself_never_carry_the_csrf_token(console_as):
    console = console_as(Role.agent, "alice-links")
    page = console.get("/console/records/", params={"kind": "complaint", "csrf_token": console.csrf}).text
    switch = re.search(r'href="/console/language\?lang=zh_CN&amp;next=([^"]+)"', page)
    assert switch is not None
    assert "kind%3Dcomplaint" in switch.group(1)
    assert "csrf_token" not in switch.group(1) and console.csrf not in switch.group(1)
