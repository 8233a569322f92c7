"""Filing and handling the four kinds of file through the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import record_body

KINDS = {"consultation": "CN", "work_order": "WO", "complaint": "CP", "emergency": "EM"}
INITIAL = {"consultation": "received", "work_order": "pending", "complaint": "accepted", "emergency": "received"}


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_is_filed_with_a_reference_owner_and_timeline(agent, kind):
    response = agent.post("/api/v1/records", json=record_body(kind))
    assert response.status_code == 201, response.text
    record = response.json()
    year = datetime.now(UTC).year
    assert re.fullmatch(rf"{KINDS[kind]}-{year}-\d{{6}}", record["reference"])
    assert record["kind"] == kind
    assert record["status"] == INITIAL[kind]  # the built-in telecom workflows' first stages
    assert record["version"] == 1
    assert record["owner"] == record["created_by"] == "alice"
    assert record["customer"] == {"name": "张三", "phone": "13812345678", "account": "ACC-1001", "identity_verified": False}
    # Filed, then classified at intake by the built-in telecom classification plugin.
    assert [e["event"] for e in record["timeline"]] == ["filed", "classified"]
    assert f"urgency:{record['urgency']}" in record["classification"]
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"] == f"/api/v1/records/{record['id']}"
    fetched = agent.get(f"/api/v1/records/{record['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == record


def test_references_count_up_per_kind(agent):
    refs = [agent.post("/api/v1/records", json=record_body(k)).json()["reference"] for k in
            ("complaint", "complaint", "consultation", "complaint")]
    numbers = [int(r.rsplit("-", 1)[1]) for r in refs]
    assert numbers == [1, 2, 1, 3]


def test_kind_specific_fields(agent):
    order = agent.post(
        "/api/v1/records",
        json=record_body("work_order", service_type="network", deadline="2030-01-02T10:00:00+08:00", feedback_required=True),
    )
    assert order.status_code == 201, order.text
    assert order.json()["service_type"] == "network"
    assert order.json()["deadline"].startswith("2030-01-02T02:00:00")
    emergency = agent.post(
        "/api/v1/records",
        json=record_body("emergency", incident={"affected_area": "Haidian", "affected_services": ["4G"], "customers_affected": 1200}),
    )
    assert emergency.status_code == 201, emergency.text
    assert emergency.json()["incident"]["customers_affected"] == 1200
    wrong = agent.post("/api/v1/records", json=record_body("complaint", service_type="network"))
    assert wrong.status_code == 422
    assert "work_order" in wrong.json()["detail"]
    wrong = agent.post("/api/v1/records", json=record_body("consultation", incident={"affected_area": "x"}))
    assert wrong.status_code == 422


def test_received_at_defaults_to_now_and_refuses_the_future(agent):
    before = datetime.now(UTC)
    record = agent.post("/api/v1/records", json=record_body()).json()
    assert datetime.fromisoformat(record["received_at"]) >= before - timedelta(seconds=1)
    earlier = agent.post("/api/v1/records", json=record_body(received_at="2026-01-05T09:30:00+08:00")).json()
    assert earlier["received_at"].startswith("2026-01-05T01:30:00")
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    response = agent.post("/api/v1/records", json=record_body(received_at=future))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "received_at"
    naive = agent.post("/api/v1/records", json=record_body(received_at="2026-01-05T09:30:00"))
    assert naive.status_code == 422


def test_classification_codes_are_kept_once_each(agent):
    record = agent.post(
        "/api/v1/records", json=record_body(classification=["content:network_service.signal", "urgency:urgent", "content:network_service.signal"])
    ).json()
    # The caller's codes come first, once each; intake classification adds its own after them.
    assert record["classification"][:2] == ["content:network_service.signal", "urgency:urgent"]
    assert len(record["classification"]) == len(set(record["classification"]))
    bad = agent.post("/api/v1/records", json=record_body(classification=["Not A Code"]))
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"].startswith("classification")


def test_amend_requires_if_match_and_refuses_stale_versions(agent, filed):
    url = f"/api/v1/records/{filed['id']}"
    missing = agent.patch(url, json={"subject": "Signal restored?"})
    assert missing.status_code == 428
    assert missing.json()["code"] == "precondition_required"
    amended = agent.patch(url, json={"subject": "Signal restored?"}, headers={"If-Match": '"1"'})
    assert amended.status_code == 200, amended.text
    assert amended.json()["version"] == 2
    assert amended.headers["etag"] == '"2"'
    assert amended.json()["timeline"][-1]["event"] == "amended"
    assert amended.json()["timeline"][-1]["detail"] == {"fields": ["subject"]}
    stale = agent.patch(url, json={"subject": "Lost update"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 409
    assert stale.json()["code"] == "version_conflict"
    assert stale.json()["current_version"] == 2
    assert agent.get(url).json()["subject"] == "Signal restored?"
    garbage = agent.patch(url, json={"subject": "x"}, headers={"If-Match": "yesterday"})
    assert garbage.status_code == 422


def test_amend_records_result_feedback_and_customer_corrections(agent, filed):
    url = f"/api/v1/records/{filed['id']}"
    response = agent.patch(
        url,
        json={
            "result": "Replaced the faulty base-station card; signal restored.",
            "feedback": {"satisfaction": 5, "comment": "很满意"},
            "customer": {"phone": "+86 138-1234-5679", "identity_verified": True},
        },
        headers={"If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["result"].startswith("Replaced")
    assert record["result_at"] is not None
    assert record["feedback"]["satisfaction"] == 5
    assert record["feedback"]["given_at"] is not None
    assert record["customer"] == {"name": "张三", "phone": "+86 138-1234-5679", "account": "ACC-1001", "identity_verified": True}
    events = [e["event"] for e in record["timeline"]]
    assert events == ["filed", "classified", "amended", "result_recorded", "feedback_recorded"]
    # The timeline names fields; it never copies personal data out of them.
    assert "138-1234-5679" not in str(record["timeline"])


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"subject": None},
        {"feedback": {"satisfaction": 6}},
        {"feedback": {"satisfaction": 0}},
        {"status": "closed"},
        {"kind": "emergency"},
        {"version": 7},
        {"customer": {"phone": "not a phone"}},
    ],
)
def test_amend_refuses_invalid_changes(agent, filed, body):
    url = f"/api/v1/records/{filed['id']}"
    response = agent.patch(url, json=body, headers={"If-Match": '"1"'})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"
    assert agent.get(url).json()["version"] == 1


def test_amend_with_no_actual_change_keeps_the_version(agent, filed):
    response = agent.patch(f"/api/v1/records/{filed['id']}", json={"subject": filed["subject"]}, headers={"If-Match": '"1"'})
    assert response.status_code == 200
    assert response.json()["version"] == 1


def test_supervisor_reassigns_and_the_new_owner_may_amend(agent, other_agent, supervisor, filed):
    url = f"/api/v1/records/{filed['id']}"
    assert other_agent.patch(url, json={"subject": "x"}, headers={"If-Match": '"1"'}).status_code == 403
    moved = supervisor.patch(url, json={"owner": "bob"}, headers={"If-Match": '"1"'})
    assert moved.status_code == 200
    assert moved.json()["owner"] == "bob"
    assert moved.json()["timeline"][-1] == {**moved.json()["timeline"][-1], "event": "reassigned", "detail": {"from": "alice", "to": "bob"}}
    assert other_agent.patch(url, json={"subject": "bob's now"}, headers={"If-Match": '"2"'}).status_code == 200
    refused = agent.patch(url, json={"subject": "alice again"}, headers={"If-Match": '"3"'})
    assert refused.status_code == 403
    assert refused.json()["code"] == "not_record_owner"


def test_notes_and_communications(agent, other_agent, filed):
    url = f"/api/v1/records/{filed['id']}/notes"
    note = agent.post(url, json={"text": "Asked the customer to restart the phone."})
    assert note.status_code == 201, note.text
    assert note.json()["type"] == "note"
    assert note.json()["author"] == "alice"
    call = other_agent.post(url, json={"text": "客户回电", "type": "communication", "channel": "phone", "direction": "inbound"})
    assert call.status_code == 201, call.text
    record = agent.get(f"/api/v1/records/{filed['id']}").json()
    assert [n["text"] for n in record["notes"]] == ["Asked the customer to restart the phone.", "客户回电"]
    assert record["version"] == 3
    assert [e["event"] for e in record["timeline"]][-2:] == ["note_added", "note_added"]
    bad = agent.post(url, json={"text": "x", "channel": "phone"})
    assert bad.status_code == 422
    assert agent.post(url, json={"text": ""}).status_code == 422
    assert agent.post("/api/v1/records/nope/notes", json={"text": "x"}).status_code == 404


def test_unknown_record_is_a_404_problem(agent):
    response = agent.get("/api/v1/records/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "record_not_found"
    patch = agent.patch("/api/v1/records/missing", json={"subject": "x"}, headers={"If-Match": '"1"'})
    assert patch.status_code == 404


def test_concurrent_amendments_one_wins_the_other_conflicts(agent, filed, client):
    """Two handlers read version 1 and both write: exactly one succeeds."""
    url = f"/api/v1/records/{filed['id']}"
    first = agent.patch(url, json={"subject": "first"}, headers={"If-Match": '"1"'})
    second = agent.patch(url, json={"subject": "second"}, headers={"If-Match": '"1"'})
    assert sorted([first.status_code, second.status_code]) == [200, 409]


def test_permission_is_checked_before_the_precondition(other_agent, filed):
    """A non-owner learns it may not amend, not that it forgot If-Match."""
    response = other_agent.patch(f"/api/v1/records/{filed['id']}", json={"subject": "x"})
    assert response.status_code == 403
    assert response.json()["code"] == "not_record_owner"


def test_files_are_reassigned_only_to_active_handlers(supervisor, agent, archivist, filed, admin):
    url = f"/api/v1/records/{filed['id']}"
    for owner in ("nobody", archivist.name):
        response = supervisor.patch(url, json={"owner": owner}, headers={"If-Match": '"1"'})
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "owner"
    admin.delete("/api/v1/tokens/alice")
    gone = supervisor.patch(url, json={"owner": "alice"}, headers={"If-Match": '"1"'})
    assert gone.status_code == 200  # naming the current owner changes nothing, even if revoked
    assert gone.json()["version"] == 1


def test_an_agent_naming_itself_owner_is_not_a_reassignment(agent, filed):
    response = agent.patch(f"/api/v1/records/{filed['id']}", json={"owner": "alice", "subject": "same owner"},
                           headers={"If-Match": '"1"'})
    assert response.status_code == 200, response.text
    assert response.json()["owner"] == "alice"
    assert "reassigned" not in [e["event"] for e in response.json()["timeline"]]


def test_intake_classification_by_keywords_and_fields(agent):
    """SPEC §2.4/§3.1 schemes, proposed at intake from the text (English and Chinese) and fields."""
    record = agent.post("/api/v1/records", json=record_body(
        "work_order", channel="smart_voice", urgency="major", service_type="billing",
        subject="话费账单有误", description="My bill shows charges for a plan I never activated; router also down.",
    )).json()
    codes = set(record["classification"])
    assert {"content:business_handling.account_query", "content:business_handling.activation",
            "content:fault_handling.equipment_fault", "urgency:major", "handling_mode:self_service",
            "service_type:billing"} <= codes
    assert "content:network_service.signal" not in codes
    assert record["timeline"][1]["detail"]["codes"] == record["classification"]
    found = agent.get("/api/v1/records", params={"classification": "content:business_handling.account_query"}).json()
    assert [r["id"] for r in found["items"]] == [record["id"]]


def test_classification_schemes_are_listed_with_both_languages(agent):
    schemes = {s["name"]: s for s in agent.get("/api/v1/classification-schemes").json()["items"]}
    assert set(schemes) == {"content", "urgency", "handling_mode", "service_type"}
    content = {c["code"]: c for c in schemes["content"]["codes"]}
    assert content["network_service.signal"] == {"code": "network_service.signal", "label_en": "Signal",
                                                 "label_zh": "信号", "parent": "network_service"}
    assert schemes["urgency"]["title_zh"] == "紧急程度"
