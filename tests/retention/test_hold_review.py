"""Holds an archivist can read (issue 15, item 5): the scope masked, the files covered now (count and
pages), and the history of what the hold covered."""

from __future__ import annotations

from tests.conftest import record_body
from tests.retention.conftest import RETENTION, archive

PURPOSE = {"X-Purpose": "litigation hold CASE-77"}


def test_a_hold_by_saved_query_shows_a_masked_scope_its_files_and_history(clock, agent, archivist, compliance_officer):
    first = archive(agent, archivist)
    r = archivist.post(f"{RETENTION}/holds", headers=PURPOSE, json={
        "reason": "Litigation", "case_reference": "CASE-77", "query": {"customer_phone": "13812345678"}})
    assert r.status_code == 201, r.text
    hold = r.json()
    assert "138****5678" in hold["scope"] and "13812345678" not in r.text
    assert hold["query"]["customer_phone_masked"] == "138****5678"
    assert hold["covered_at_placement"] == 1 and hold["history"][0]["event"] == "placed"

    clock.set(2026, 3, 5)
    later = agent.post("/api/v1/records", json=record_body("complaint"))  # same customer, filed after the hold
    assert later.status_code == 201
    other = agent.post("/api/v1/records", json=record_body("complaint", customer={
        "name": "李四", "phone": "13900000000", "account": "ACC-2002"}))
    assert other.status_code == 201

    page = compliance_officer.get(f"{RETENTION}/holds/{hold['id']}/records", params={"limit": 1})
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["total"] == 2 and len(body["items"]) == 1 and body["active"] is True
    rest = compliance_officer.get(f"{RETENTION}/holds/{hold['id']}/records", params={"offset": 1, "limit": 10}).json()
    covered = {i["record_id"]: i for i in body["items"] + rest["items"]}
    assert set(covered) == {first["id"], later.json()["id"]}
    assert covered[later.json()["id"]]["covered_since"].startswith("2026-03-05")
    assert covered[first["id"]]["state"] == "held" and not covered[first["id"]]["named"]
    assert "customer" not in page.text and "13812345678" not in page.text

    clock.set(2026, 4, 1)
    released = archivist.post(f"{RETENTION}/holds/{hold['id']}/release", json={"reason": "case settled"}).json()
    assert [h["event"] for h in released["history"]] == ["placed", "released"]
    assert released["history"][1]["covered"] == 2 and released["history"][1]["reason"] == "case settled"
    after = compliance_officer.get(f"{RETENTION}/holds/{hold['id']}/records").json()
    assert after["active"] is False and {i["state"] for i in after["items"]} == {"released"}
    assert all(i["covered_until"].startswith("2026-04-01") for i in after["items"])
    listed = compliance_officer.get(f"{RETENTION}/holds").json()["items"][0]
    assert "138****5678" in listed["scope"]


def test_named_holds_list_their_files_and_unknown_holds_are_404(agent, archivist):
    filed = agent.post("/api/v1/records", json=record_body()).json()
    hold = archivist.post(f"{RETENTION}/holds", json={"reason": "Audit", "case_reference": "A-1",
                                                      "record_ids": [filed["id"]]}).json()
    assert hold["scope"] == "1 named file(s)"
    items = archivist.get(f"{RETENTION}/holds/{hold['id']}/records").json()["items"]
    assert items[0]["named"] is True and items[0]["reference"] == filed["reference"]
    missing = archivist.get(f"{RETENTION}/holds/nope/records")
    assert missing.status_code == 404 and missing.json()["code"] == "legal_hold_not_found"
    assert archivist.get(f"{RETENTION}/holds/{hold['id']}/records", params={"limit": 0}).status_code == 422
