"""Retention and disposition through the API, with a clock the tests control."""

from __future__ import annotations

import json

import bagit
import pytest

from records.retention.certificates import verify
from tests.conftest import record_body
from tests.retention.conftest import RETENTION, approve_and_execute, archive, sweep, wait_done

PROBLEM = "application/problem+json"


def test_every_archived_record_shows_its_schedule_retain_until_and_why(clock, agent, archivist, compliance_officer):
    record = archive(agent, archivist)
    r = compliance_officer.get(f"/api/v1/records/{record['id']}/retention")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["schedule"]["name"] == "Consultations (SPEC §2.5)"
    assert body["retain_until"].startswith("2030-01-01")  # archived 2026-03-04, cutoff year → 2027-01-01, + P3Y
    assert "P3Y" in body["basis"] and "2027-01-01" in body["basis"]
    assert body["action"] == "destroy" and body["holds"] == []


def test_not_a_day_early_and_destroyed_after(clock, agent, archivist, compliance_officer):
    record = archive(agent, archivist)
    clock.set(2029, 12, 31, 23, 59)
    assert sweep(archivist)["due"] == 0
    forecast = sweep(archivist, as_of="2030-01-01T00:00:00Z")
    assert forecast["forecast"] is True and forecast["due"] == 1 and forecast["batches"][0]["id"] is None
    assert sweep(archivist)["due"] == 0  # the forecast stored nothing
    clock.set(2030, 1, 1)
    result = sweep(archivist)
    assert result["due"] == 1
    (batch,) = result["batches"]
    assert batch["status"] == "open" and batch["items"][0]["record_id"] == record["id"]
    done = approve_and_execute(archivist, batch)
    assert done["progress"]["disposed"] == 1 and done["certificate_id"]

    gone = agent.get(f"/api/v1/records/{record['id']}")
    assert gone.status_code == 410 and gone.headers["content-type"].startswith(PROBLEM)
    tomb = gone.json()
    assert tomb["code"] == "record_destroyed"
    assert tomb["record_id"] == record["id"] and tomb["reference"] == record["reference"]
    assert tomb["kind"] == "consultation" and tomb["schedule"]["name"].startswith("Consultations")
    assert len(tomb["content_hash"]) == 64 and tomb["certificate_id"] == done["certificate_id"]
    assert "customer" not in tomb and "subject" not in tomb

    cert = compliance_officer.get(f"{RETENTION}/certificates/{done['certificate_id']}")
    assert cert.status_code == 200
    assert verify(cert.json()) == []
    html = compliance_officer.get(f"{RETENTION}/certificates/{done['certificate_id']}", params={"format": "html"})
    assert html.headers["content-type"].startswith("text/html") and record["reference"] in html.text
    pdf = compliance_officer.get(f"{RETENTION}/certificates/{done['certificate_id']}", params={"format": "pdf"})
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert sweep(archivist)["due"] == 0


def test_an_edited_certificate_fails(clock, agent, archivist):
    archive(agent, archivist)
    clock.set(2030, 1, 2)
    done = approve_and_execute(archivist, sweep(archivist)["batches"][0])
    cert = archivist.get(f"{RETENTION}/certificates/{done['certificate_id']}").json()
    assert verify(cert) == []
    for edit in (lambda c: c["items"][0].update(reference="CN-2026-999999"),
                 lambda c: c.update(executor="mallory"),
                 lambda c: c["items"][0]["inclusion_path"].reverse() or c["items"][0]["inclusion_path"].append("00" * 32)):
        tampered = json.loads(json.dumps(cert))
        edit(tampered)
        assert verify(tampered), "an edited certificate verified"


def test_event_trigger_starts_the_clock(clock, agent, archivist, admin):
    schedule = archivist.post(f"{RETENTION}/schedules", json={
        "name": "Closed accounts", "kinds": ["complaint"], "classification": ["content:customer_service"],
        "trigger": "event:account_closed", "period": "P1Y", "cutoff": "month", "action": "destroy"})
    assert schedule.status_code == 201, schedule.text
    record = archive(agent, archivist, "complaint", description="I want to complain about the bill.")
    status = archivist.get(f"/api/v1/records/{record['id']}/retention").json()
    assert status["schedule"]["name"] == "Closed accounts" and status["retain_until"] is None
    assert "has not happened yet" in status["basis"]
    fired = archivist.post(f"{RETENTION}/events", json={"name": "account_closed", "customer_account": "acc-1001",
                                                       "occurred_at": "2026-05-10T08:00:00Z"},
                             headers={"X-Purpose": "account closure notice"})
    assert fired.status_code == 200, fired.text
    assert fired.json()["clocks_started"] == 1
    status = archivist.get(f"/api/v1/records/{record['id']}/retention").json()
    assert status["retain_until"].startswith("2027-06-01")  # cutoff month → 2026-06-01, + P1Y


def test_holds_block_every_path_until_released(clock, app, client, agent, archivist, admin):
    record = archive(agent, archivist)
    other = archive(agent, archivist)
    hold = archivist.post(f"{RETENTION}/holds", json={"reason": "Litigation", "case_reference": "CASE-7",
                                                      "record_ids": [record["id"]]})
    assert hold.status_code == 201, hold.text
    query_hold = archivist.post(f"{RETENTION}/holds", json={"reason": "Regulator enquiry", "case_reference": "REG-1",
                                                            "query": {"customer_phone": "+86 138-1234-5678"}},
                                headers={"X-Purpose": "regulator enquiry REG-1"})
    assert query_hold.status_code == 201, query_hold.text
    assert archivist.get(f"/api/v1/records/{record['id']}/retention").json()["holds"] == sorted(
        [hold.json()["id"], query_hold.json()["id"]])
    clock.set(2030, 2, 1)
    # API sweep and the scheduled (system) sweep leave held records out.
    assert sweep(archivist) == {**sweep(archivist), "due": 0, "held": 2}
    from records.retention.service import SYSTEM
    with client.portal() as portal:
        scheduled = portal.call(app.state.retention_service.sweep, SYSTEM)
        assert scheduled.due == 0 and scheduled.held == 2
        # A direct service call to destroy is refused too.
        from records.retention.errors import RecordOnHold
        with pytest.raises(RecordOnHold):
            portal.call(app.state.record_service.shred, record["id"])
    assert agent.get(f"/api/v1/records/{record['id']}").status_code == 200
    r = archivist.post(f"{RETENTION}/holds/{query_hold.json()['id']}/release", json={"reason": "Enquiry closed"})
    assert r.status_code == 200 and r.json()["released_by"] == archivist.name
    again = archivist.post(f"{RETENTION}/holds/{query_hold.json()['id']}/release", json={"reason": "twice"})
    assert again.status_code == 409 and again.json()["code"] == "legal_hold_released"
    result = sweep(archivist)
    assert result["due"] == 1 and result["held"] == 1
    assert result["batches"][0]["items"][0]["record_id"] == other["id"]
    archivist.post(f"{RETENTION}/holds/{hold.json()['id']}/release", json={"reason": "Settled"})
    assert sweep(archivist)["due"] == 1


def test_a_hold_placed_after_the_sweep_wins_at_execution(clock, agent, archivist):
    record = archive(agent, archivist)
    clock.set(2030, 1, 2)
    batch = sweep(archivist)["batches"][0]
    archivist.post(f"{RETENTION}/holds", json={"reason": "Late", "case_reference": "C-9", "record_ids": [record["id"]]})
    done = approve_and_execute(archivist, batch)
    assert done["progress"]["held"] == 1 and done["progress"]["disposed"] == 0 and done["certificate_id"] is None
    assert agent.get(f"/api/v1/records/{record['id']}").status_code == 200


def test_a_hold_placed_after_the_destruction_was_decided_is_told_so(clock, app, client, agent, archivist):
    """Another process (a CLI run, a second instance) claimed the item and decided to destroy the
    record, then stopped, just before the hold committed: the hold is stored, the response says the
    record is already disposed of, and the resumed run completes the destruction rather than
    leaving it half-done."""
    record, bystander = archive(agent, archivist), archive(agent, archivist)
    clock.set(2030, 1, 2)
    batch = sweep(archivist)["batches"][0]
    decisions = [{"record_id": i["record_id"], "decision": "approve"} for i in batch["items"]]
    assert archivist.post(f"{RETENTION}/batches/{batch['id']}/decisions", json={"decisions": decisions}).status_code == 200
    repo = app.state.storage.retention
    with client.portal() as portal:
        assert portal.call(repo.claim_item, batch["id"], record["id"]) == "claimed"
        assert portal.call(repo.decide_destruction, record["id"]) == []
    hold = archivist.post(f"{RETENTION}/holds", json={"reason": "Late", "case_reference": "C-10",
                                                      "record_ids": [record["id"], bystander["id"]]})
    assert hold.status_code == 201, hold.text
    assert hold.json()["already_disposed"] == [record["id"]]
    assert archivist.get(f"{RETENTION}/holds/{hold.json()['id']}").json()["already_disposed"] == [record["id"]]
    assert archivist.post(f"{RETENTION}/batches/{batch['id']}/execute").status_code == 202
    done = wait_done(archivist, batch["id"])
    assert done["progress"]["disposed"] == 1 and done["progress"]["held"] == 1
    assert agent.get(f"/api/v1/records/{record['id']}").status_code == 410
    assert agent.get(f"/api/v1/records/{bystander['id']}").status_code == 200


def test_rejected_and_extended_items_stay(clock, agent, archivist):
    a, b, c = (archive(agent, archivist) for _ in range(3))
    clock.set(2030, 1, 2)
    batch = sweep(archivist)["batches"][0]
    decisions = [
        {"record_id": a["id"], "decision": "reject", "reason": "Still referenced by an open complaint"},
        {"record_id": b["id"], "decision": "extend", "reason": "Audit next year", "until": "2031-06-30T00:00:00Z"},
        {"record_id": c["id"], "decision": "approve"},
    ]
    r = archivist.post(f"{RETENTION}/batches/{batch['id']}/decisions", json={"decisions": decisions})
    assert r.status_code == 200, r.text
    assert archivist.post(f"{RETENTION}/batches/{batch['id']}/execute").status_code == 202
    done = wait_done(archivist, batch["id"])
    assert done["progress"] == {**done["progress"], "disposed": 1, "kept": 2}
    assert agent.get(f"/api/v1/records/{a['id']}").status_code == 200
    assert agent.get(f"/api/v1/records/{b['id']}").status_code == 200
    assert agent.get(f"/api/v1/records/{c['id']}").status_code == 410
    extended = archivist.get(f"/api/v1/records/{b['id']}/retention").json()
    assert extended["retain_until"].startswith("2031-06-30") and "extended by ada" in extended["basis"]
    rejected = archivist.get(f"/api/v1/records/{a['id']}/retention").json()
    assert rejected["retain_until"].startswith("2031-01-02") and "rejected" in rejected["basis"]
    assert sweep(archivist)["due"] == 0
    clock.set(2031, 7, 1)
    assert sweep(archivist)["due"] == 2


def test_execution_needs_every_item_decided(clock, agent, archivist):
    archive(agent, archivist)
    clock.set(2030, 1, 2)
    batch = sweep(archivist)["batches"][0]
    r = archivist.post(f"{RETENTION}/batches/{batch['id']}/execute")
    assert r.status_code == 409 and r.json()["code"] == "batch_undecided"


def test_schedules_are_versioned_and_never_silently_shorten(clock, agent, archivist):
    record = archive(agent, archivist)
    schedules = archivist.get(f"{RETENTION}/schedules").json()["items"]
    consult = next(s for s in schedules if s["name"].startswith("Consultations"))
    short = archivist.patch(f"{RETENTION}/schedules/{consult['id']}", json={"period": "P2Y", "reason": "cost"})
    assert short.status_code == 422 and short.json()["code"] == "retention_below_minimum"
    longer = archivist.patch(f"{RETENTION}/schedules/{consult['id']}", json={"period": "P5Y", "reason": "regulator"})
    assert longer.status_code == 200 and longer.json()["version"] == 2
    assert archivist.get(f"/api/v1/records/{record['id']}/retention").json()["retain_until"].startswith("2030-01-01")
    r = archivist.post(f"{RETENTION}/schedules/{consult['id']}/reapply", json={"reason": "regulator asked"})
    assert r.status_code == 200 and r.json()["changed"] == 1
    status = archivist.get(f"/api/v1/records/{record['id']}/retention").json()
    assert status["retain_until"].startswith("2032-01-01") and status["schedule"]["version"] == 2
    back = archivist.patch(f"{RETENTION}/schedules/{consult['id']}", json={"period": "P3Y", "reason": "back"})
    assert back.status_code == 200
    archivist.post(f"{RETENTION}/schedules/{consult['id']}/reapply", json={"reason": "align"})
    assert archivist.get(f"/api/v1/records/{record['id']}/retention").json()["retain_until"].startswith("2032-01-01")
    old = archivist.get(f"{RETENTION}/schedules/{consult['id']}", params={"version": 1}).json()
    assert old["period"] == "P3Y" and old["version"] == 1


@pytest.mark.parametrize(("body", "code"), [
    ({"name": "x", "kinds": ["consultation"], "period": "P3H", "action": "destroy"}, "validation_failed"),
    ({"name": "x", "kinds": [], "period": "P3Y", "action": "destroy"}, "validation_failed"),
    ({"name": "x", "kinds": ["consultation"], "trigger": "event:", "period": "P3Y", "action": "destroy"}, "validation_failed"),
    ({"name": "x", "kinds": ["consultation"], "action": "destroy"}, "validation_failed"),
    ({"name": "x", "kinds": ["consultation"], "period": "P3Y", "action": "burn"}, "validation_failed"),
    ({"name": "Complaints", "kinds": ["complaint"], "period": "P3Y", "action": "destroy"}, "conflict"),
])
def test_bad_schedules_are_refused_with_a_code(archivist, body, code):
    r = archivist.post(f"{RETENTION}/schedules", json=body)
    assert 400 <= r.status_code < 500 and r.headers["content-type"].startswith(PROBLEM), r.text
    assert r.json()["code"] == code


@pytest.mark.parametrize(("path", "body"), [
    ("/holds", {"reason": "x", "case_reference": "c"}),
    ("/holds", {"reason": "x", "case_reference": "c", "record_ids": ["no-such-record"]}),
    ("/holds", {"reason": "x", "case_reference": "c", "query": {"kind": "complaint"}}),
    ("/events", {"name": "Bad Name", "record_ids": ["x"]}),
    ("/events", {"name": "account_closed"}),
    ("/sweeps", {"as_of": "not a date"}),
    ("/batches/nope/decisions", {"decisions": [{"record_id": "x", "decision": "approve"}]}),
    ("/batches/nope/execute", None),
    ("/holds/nope/release", {"reason": "x"}),
])
def test_bad_retention_requests_are_4xx_problems(archivist, path, body):
    r = archivist.post(f"{RETENTION}{path}", json=body)
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith(PROBLEM)


def test_transfer_writes_a_valid_bag_then_destroys(clock, agent, archivist, settings):
    schedule = archivist.post(f"{RETENTION}/schedules", json={
        "name": "Signal complaints to the state archive", "kinds": ["complaint"],
        "classification": ["content:network_service"], "period": "P0D", "action": "transfer"})
    assert schedule.status_code == 201, schedule.text
    filed = agent.post("/api/v1/records", json=record_body())
    record_id = filed.json()["id"]
    up = agent.post(f"/api/v1/records/{record_id}/attachments", files={"file": ("site report.txt", b"-113 dBm", "text/plain")})
    assert up.status_code == 201
    for stage in ["investigating", "handling"]:
        agent.post(f"/api/v1/records/{record_id}/transitions", json={"to": stage})
    v = agent.get(f"/api/v1/records/{record_id}").json()["version"]
    agent.patch(f"/api/v1/records/{record_id}", json={"result": "Fixed", "feedback": {"satisfaction": 5}},
                headers={"If-Match": f'"{v}"'})
    agent.post(f"/api/v1/records/{record_id}/transitions", json={"to": "feedback"})
    assert archivist.post(f"/api/v1/records/{record_id}/transitions", json={"to": "archived"}).status_code == 200
    clock.set(2026, 3, 5)
    batch = sweep(archivist)["batches"][0]
    assert batch["items"][0]["action"] == "transfer"
    done = approve_and_execute(archivist, batch)
    assert done["progress"]["disposed"] == 1
    item = done["items"][0]
    bag = bagit.Bag(item["transfer"])
    bag.validate()
    record = json.loads((bag.path and open(f"{item['transfer']}/data/record.json").read()))
    assert record["customer"]["phone"] == "13812345678" and record["id"] == record_id
    assert open(f"{item['transfer']}/data/attachments/{up.json()['id']}/site_report.txt", "rb").read() == b"-113 dBm"
    audit = json.load(open(f"{item['transfer']}/data/audit/events.json"))
    assert audit["events"] and audit["checkpoint"]["tree_size"] > 0
    gone = agent.get(f"/api/v1/records/{record_id}")
    assert gone.status_code == 410 and gone.json()["transferred_to"] == item["transfer"]
    blobs = list((settings.data_dir / "blobs").rglob("*"))
    assert not [p for p in blobs if p.is_file() and record_id in str(p)]


def test_two_person_rule_needs_two_different_approvers(clock, settings, tmp_path):
    from litestar.testing import TestClient

    from records.api.app import create_app
    from records.roles import Role
    from tests.conftest import RoleClient

    app = create_app(settings.model_copy(update={"retention_two_person_rule": True}))
    with TestClient(app, raise_server_exceptions=False) as client:
        with client.portal() as portal:
            tokens = {n: portal.call(app.state.token_service.issue, n, r.value).token
                      for n, r in (("alice", Role.agent), ("ada", Role.archivist), ("root", Role.admin))}
        agent, ada, root = (RoleClient(client, tokens[n], n, r) for n, r in
                            (("alice", Role.agent), ("ada", Role.archivist), ("root", Role.admin)))
        record = archive(agent, ada)
        clock.set(2030, 1, 2)
        batch = sweep(ada)["batches"][0]
        assert batch["two_person_rule"] is True
        approve = {"decisions": [{"record_id": record["id"], "decision": "approve"}]}
        assert ada.post(f"{RETENTION}/batches/{batch['id']}/decisions", json=approve).status_code == 200
        again = ada.post(f"{RETENTION}/batches/{batch['id']}/decisions", json=approve)
        assert again.status_code == 409 and again.json()["code"] == "second_approver_required"
        # The item waits for the second approver, not for the first one again.
        assert [w["record_id"] for w in ada.get("/api/v1/reviews").json()["items"]] == []
        [waiting] = root.get("/api/v1/reviews").json()["items"]
        assert waiting["record_id"] == record["id"] and waiting["approved_by"] == ["ada"]
        assert waiting["approvals_needed"] == 2
        early = ada.post(f"{RETENTION}/batches/{batch['id']}/execute")
        assert early.status_code == 409 and early.json()["code"] == "batch_undecided"
        assert root.post(f"{RETENTION}/batches/{batch['id']}/decisions", json=approve).status_code == 200
        assert ada.post(f"{RETENTION}/batches/{batch['id']}/execute").status_code == 202
        done = wait_done(ada, batch["id"])
        cert = ada.get(f"{RETENTION}/certificates/{done['certificate_id']}").json()
        assert cert["approvers"] == ["ada", "root"] and cert["executor"] == "ada"
