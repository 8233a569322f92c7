"""Issue 14, finding 1: lookups by a personal identifier are a privilege, and visible.

The attack: an archivist sees ``139****4321`` and may not reveal the customer, but guessed
``?customer_phone=139dddd4321`` 10,000 times and read which guess returned the file, and the audit
log showed only ``record.list`` events with empty targets. Now masked roles are refused or must
state a purpose, every lookup's event names the index and its blind-index value (never the
number), and one principal's lookups are rate-limited.
"""

from __future__ import annotations

import json

import pytest
from litestar.testing import TestClient

from records.api.app import create_app
from records.settings import load_settings
from tests.conftest import RoleClient, record_body

RECORDS = "/api/v1/records"
PHONE = "13987654321"
CUSTOMER = {"name": "王小明", "phone": PHONE, "account": "ACCT-YLW-55501"}


def _events(app, client, request_id: str) -> list[dict]:
    from records.audit.log import EventQuery

    with client.portal() as portal:
        found = portal.call(app.state.audit_service.find, EventQuery(limit=100_000))
    return [e.model_dump(mode="json") for e in found if e.request_id == request_id]


@pytest.fixture
def customer_file(agent: RoleClient) -> dict:
    response = agent.post(RECORDS, json=record_body(customer=CUSTOMER))
    assert response.status_code == 201, response.text
    return response.json()


def test_guessing_the_masked_digits_is_refused_without_a_purpose(app, client, customer_file, archivist, compliance_officer):
    masked = archivist.get(f"{RECORDS}/{customer_file['id']}").json()["customer"]["phone"]
    assert masked == "139****4321"
    for caller in (archivist, compliance_officer):
        for guess in ("13900004321", PHONE):
            r = caller.get(RECORDS, params={"customer_phone": guess})
            assert r.status_code == 422 and r.json()["code"] == "purpose_required", r.text
            assert "items" not in r.json()
        r = caller.get(RECORDS, params={"customer_account": "ACCT-YLW-55501"})
        assert r.status_code == 422 and r.json()["code"] == "purpose_required"
    # The refused guess is visible: the event names the index and the blind-index value, not the number.
    r = archivist.get(RECORDS, params={"customer_phone": PHONE})
    (event,) = _events(app, client, r.headers["x-request-id"])
    assert event["outcome"] == "failed" and event["status"] == 422
    lookups = [t for t in event["targets"] if t.startswith("lookup:")]
    assert len(lookups) == 1 and lookups[0].startswith("lookup:customer.phone:")
    digest = lookups[0].rsplit(":", 1)[1]
    assert len(digest) == 64 and PHONE not in json.dumps(event) and "4321" not in digest


def test_a_role_outside_the_lookup_roles_is_refused(data_dir, customer_file):
    app = create_app(load_settings(data_dir=data_dir, lookup_roles="compliance_officer"))
    with TestClient(app, raise_server_exceptions=False) as client:
        with client.portal() as portal:
            token = portal.call(app.state.token_service.issue, "ada", "archivist").token
        r = client.get(RECORDS, params={"customer_phone": PHONE},
                       headers={"Authorization": f"Bearer {token}", "X-Purpose": "curious"})
        assert r.status_code == 403 and r.json()["code"] == "lookup_not_permitted", r.text
        (event,) = _events(app, client, r.headers["x-request-id"])
        assert event["outcome"] == "denied" and any(t.startswith("lookup:customer.phone:") for t in event["targets"])


def test_a_purpose_stated_lookup_is_audited_with_its_purpose(app, client, customer_file, compliance_officer):
    r = compliance_officer.get(RECORDS, params={"customer_phone": PHONE}, headers={"X-Purpose": "complaint audit"})
    assert r.status_code == 200 and [i["id"] for i in r.json()["items"]] == [customer_file["id"]]
    assert r.json()["items"][0]["customer"]["phone"] == "139****4321"  # still masked
    (event,) = _events(app, client, r.headers["x-request-id"])
    assert event["purpose"] == "complaint audit"
    assert f"record:{customer_file['id']}" in event["targets"]
    assert any(t.startswith("lookup:customer.phone:") for t in event["targets"])
    # A miss is just as visible as a hit.
    miss = compliance_officer.get(RECORDS, params={"customer_phone": "13900004321"}, headers={"X-Purpose": "complaint audit"})
    assert miss.json()["items"] == []
    (event,) = _events(app, client, miss.headers["x-request-id"])
    (target,) = event["targets"]
    assert target.startswith("lookup:customer.phone:") and target != next(
        t for t in _events(app, client, r.headers["x-request-id"])[0]["targets"] if t.startswith("lookup:"))


def test_agents_look_up_without_a_purpose(customer_file, agent):
    r = agent.get(RECORDS, params={"customer_phone": PHONE})
    assert r.status_code == 200 and len(r.json()["items"]) == 1


def test_repeated_lookups_by_one_principal_get_429(data_dir):
    app = create_app(load_settings(data_dir=data_dir, lookup_limit=5))
    with TestClient(app, raise_server_exceptions=False) as client:
        with client.portal() as portal:
            tokens = {name: portal.call(app.state.token_service.issue, name, role).token
                      for name, role in (("carl", "compliance_officer"), ("alice", "agent"))}
        def guess(name: str, n: int):
            return client.get(RECORDS, params={"customer_phone": f"139{n:04d}4321"},
                              headers={"Authorization": f"Bearer {tokens[name]}", "X-Purpose": "enumerating"})
        assert [guess("carl", n).status_code for n in range(5)] == [200] * 5
        refused = guess("carl", 5)
        assert refused.status_code == 429 and refused.json()["code"] == "too_many_lookups"
        assert int(refused.headers["retry-after"]) > 0
        (event,) = _events(app, client, refused.headers["x-request-id"])
        assert event["outcome"] == "denied" and event["actor"] == "carl"
        # Another principal is not affected, and carl's other reads still work.
        assert guess("alice", 0).status_code == 200
        assert client.get(RECORDS, headers={"Authorization": f"Bearer {tokens['carl']}"}).status_code == 200


def test_holds_and_events_by_identifier_are_lookups_too(app, client, customer_file, archivist):
    hold = {"reason": "Litigation", "case_reference": "C-1", "query": {"customer_phone": PHONE}}
    r = archivist.post("/api/v1/retention/holds", json=hold)
    assert r.status_code == 422 and r.json()["code"] == "purpose_required", r.text
    event = {"name": "account_closed", "customer_account": "ACCT-YLW-55501"}
    r = archivist.post("/api/v1/retention/events", json=event)
    assert r.status_code == 422 and r.json()["code"] == "purpose_required", r.text
    r = archivist.post("/api/v1/retention/holds", json=hold, headers={"X-Purpose": "court order 2026/17"})
    assert r.status_code == 201, r.text
    (placed,) = _events(app, client, r.headers["x-request-id"])
    assert placed["purpose"] == "court order 2026/17"
    assert any(t.startswith("lookup:customer.phone:") for t in placed["targets"])
    assert PHONE not in json.dumps(placed)
    r = archivist.post("/api/v1/retention/events", json=event, headers={"X-Purpose": "account closed"})
    assert r.status_code == 200, r.text
    (fired,) = _events(app, client, r.headers["x-request-id"])
    assert any(t.startswith("lookup:customer.account:") for t in fired["targets"])


# --- issue 15, item 7: a purpose for every reveal ------------------------------------------------


def test_reveal_requires_a_purpose(app, client, customer_file, compliance_officer):
    url = f"{RECORDS}/{customer_file['id']}/identity"
    r = compliance_officer.get(url)
    assert r.status_code == 422 and r.json()["code"] == "purpose_required", r.text
    assert PHONE not in r.text
    r = compliance_officer.get(url, headers={"X-Purpose": "   "})
    assert r.status_code == 422
    r = compliance_officer.get(url, headers={"X-Purpose": "complaint review"})
    assert r.status_code == 200 and r.json()["phone"] == PHONE
    (event,) = _events(app, client, r.headers["x-request-id"])
    assert event["action"] == "record.reveal_identity" and event["purpose"] == "complaint review"


@pytest.mark.parametrize("header", [
    "审计".encode(),  # raw UTF-8 bytes
    b"%E5%AE%A1%E8%AE%A1",  # percent-encoded UTF-8
    b"UTF-8''%E5%AE%A1%E8%AE%A1",  # RFC 8187
])
def test_a_non_ascii_purpose_is_stored_as_written(app, client, customer_file, compliance_officer, header):
    r = compliance_officer.get(f"{RECORDS}/{customer_file['id']}/identity", headers={"X-Purpose": header})
    assert r.status_code == 200, r.text
    (event,) = _events(app, client, r.headers["x-request-id"])
    assert event["purpose"] == "审计"


def test_a_decoded_purpose_cannot_break_lines(app, client, customer_file, compliance_officer):
    r = compliance_officer.get(f"{RECORDS}/{customer_file['id']}/identity", headers={"X-Purpose": "a%0Afake: event"})
    (event,) = _events(app, client, r.headers["x-request-id"])
    assert event["purpose"] == "a fake: event"


def test_openapi_says_who_may_reveal(client):
    operation = client.get("/schema/openapi.json").json()["paths"]["/api/v1/records/{record_id}/identity"]["get"]
    roles = operation["description"].split("**Roles:**")[1]
    assert "admin" not in roles and "archivist" not in roles
    assert {"agent", "supervisor", "compliance_officer"} <= {r.strip() for r in roles.split(",")}
    assert operation["security"] == [{"BearerToken": []}]
    assert "422" in operation["responses"]


def test_admin_and_archivist_get_403_on_reveal(customer_file, admin, archivist):
    for caller in (admin, archivist):
        r = caller.get(f"{RECORDS}/{customer_file['id']}/identity", headers={"X-Purpose": "x"})
        assert r.status_code == 403
