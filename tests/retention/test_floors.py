"""Legal minimums bind every schedule (issue 15, item 1), through the API with the built-in plugins on."""

from __future__ import annotations

from typing import Any

from tests.retention.conftest import RETENTION, archive, sweep
from tests.retention.setup import schedule_id

CONSULTATIONS = "Consultations (SPEC §2.5)"


def _floor(caller, **body: Any) -> dict[str, Any]:
    r = caller.post(f"{RETENTION}/floors", json={"reason": "regulator's letter 2026-17", **body})
    assert r.status_code == 201, r.text
    return r.json()


def _below(response) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "retention_below_minimum"
    return body


def test_the_plugins_floor_is_listed_with_its_source(compliance_officer):
    floors = compliance_officer.get(f"{RETENTION}/floors").json()["items"]
    (floor,) = [f for f in floors if f["kinds"] == ["consultation"]]
    assert floor["minimum_period"] == "P3Y" and floor["origin"] == "plugin:telecom_retention"
    assert floor["citation"] == "SPEC §2.5" and floor["removed_at"] is None


def test_a_narrower_schedule_cannot_go_below_the_floor(clock, archivist):
    """The bypass of the issue: consultation + one code, P0D, destroy, would have won as the most specific."""
    r = archivist.post(f"{RETENTION}/schedules", json={
        "name": "Account queries", "kinds": ["consultation"], "classification": ["content:business_handling.account_query"],
        "period": "P0D", "action": "destroy"})
    body = _below(r)
    assert "SPEC §2.5" in body["detail"] and "plugin:telecom_retention" in body["detail"]
    assert body["floor"]["minimum_period"] == "P3Y" and body["earliest_allowed"] == "archived_at + P3Y"
    # a schedule over several kinds that includes consultations is refused the same way
    _below(archivist.post(f"{RETENTION}/schedules", json={
        "name": "Short", "kinds": ["work_order", "consultation"], "period": "P1Y", "action": "destroy"}))
    # at or above the floor is fine
    ok = archivist.post(f"{RETENTION}/schedules", json={
        "name": "Account queries", "kinds": ["consultation"], "classification": ["content:business_handling.account_query"],
        "period": "P3Y", "action": "destroy"})
    assert ok.status_code == 201, ok.text


def test_editing_or_rescoping_a_schedule_below_a_floor_is_refused(clock, archivist):
    consultations = schedule_id(archivist, CONSULTATIONS)
    _below(archivist.patch(f"{RETENTION}/schedules/{consultations}", json={"period": "P1Y", "reason": "shorter"}))
    r = archivist.post(f"{RETENTION}/schedules", json={"name": "Quick work orders", "kinds": ["work_order"],
                                                     "period": "P0D", "action": "destroy"})
    assert r.status_code == 201, r.text
    # re-scoping the short schedule onto consultations would make them due at once
    _below(archivist.patch(f"{RETENTION}/schedules/{r.json()['id']}",
                           json={"kinds": ["work_order", "consultation"], "reason": "rescope"}))


def test_rescoping_the_floor_schedule_away_does_not_remove_the_floor(clock, agent, archivist):
    consultations = schedule_id(archivist, CONSULTATIONS)
    r = archivist.patch(f"{RETENTION}/schedules/{consultations}", json={"kinds": ["work_order"], "reason": "rescope"})
    assert r.status_code == 200, r.text
    _below(archivist.post(f"{RETENTION}/schedules", json={"name": "Consultations short", "kinds": ["consultation"],
                                                          "period": "P0D", "action": "destroy"}))


def test_an_archivists_floor_raises_dates_and_blocks_early_approval(clock, agent, archivist):
    r = archivist.post(f"{RETENTION}/schedules", json={"name": "Urgent complaints", "kinds": ["complaint"],
                                                     "classification": ["urgency:urgent"], "period": "P0D", "action": "destroy"})
    assert r.status_code == 201, r.text
    first = archive(agent, archivist, "complaint")
    batch = sweep(archivist)["batches"][0]
    assert [i["record_id"] for i in batch["items"]] == [first["id"]]

    floor = _floor(archivist, kinds=["complaint"], classification=["urgency:urgent"], minimum_period="P1Y",
                   citation="Consumer rights regulation art. 9")
    # a decision to dispose of it now is refused, naming the floor and the earliest date allowed
    refused = _below(archivist.post(f"{RETENTION}/batches/{batch['id']}/decisions",
                                    json={"decisions": [{"record_id": first["id"], "decision": "approve"}]}))
    assert refused["earliest_allowed"].startswith("2027-03-04") and "art. 9" in refused["detail"]
    refused = _below(archivist.post(f"{RETENTION}/batches/{batch['id']}/decisions", json={"decisions": [
        {"record_id": first["id"], "decision": "extend", "until": "2026-06-01T00:00:00Z", "reason": "a while"}]}))
    assert refused["floor"]["id"] == floor["id"]
    # the existing P0D schedule is now below the floor: re-applying it is refused too
    _below(archivist.post(f"{RETENTION}/schedules/{r.json()['id']}/reapply", json={"reason": "again"}))

    # a file archived now gets the floor's date, whatever its schedule says, and the basis says why
    second = archive(agent, archivist, "complaint")
    retention = archivist.get(f"/api/v1/records/{second['id']}/retention").json()
    assert retention["retain_until"].startswith("2027-03-04") and "legal minimum" in retention["basis"]
    assert sweep(archivist)["due"] == 0
    clock.set(2027, 3, 5)
    due = sweep(archivist)
    assert due["due"] == 1 and due["batches"][0]["items"][0]["record_id"] == second["id"]


def test_removing_a_floor_is_an_admins_audited_act(clock, archivist, admin, compliance_officer):
    floor = _floor(archivist, kinds=["work_order"], minimum_period="P5Y")
    r = archivist.post(f"{RETENTION}/floors/{floor['id']}/remove", json={"reason": "repealed"})
    assert r.status_code == 403
    _below(archivist.post(f"{RETENTION}/schedules", json={"name": "WO", "kinds": ["work_order"], "period": "P1Y",
                                                          "action": "destroy"}))
    r = admin.post(f"{RETENTION}/floors/{floor['id']}/remove", json={"reason": "repealed by the 2026 amendment"})
    assert r.status_code == 200, r.text
    assert r.json()["removed_by"] == admin.name and r.json()["removal_reason"].startswith("repealed")
    again = admin.post(f"{RETENTION}/floors/{floor['id']}/remove", json={"reason": "twice"})
    assert again.status_code == 409 and again.json()["code"] == "retention_floor_removed"
    listed = {f["id"]: f for f in compliance_officer.get(f"{RETENTION}/floors").json()["items"]}
    assert listed[floor["id"]]["removed_at"] is not None
    assert floor["id"] not in {f["id"] for f in compliance_officer.get(f"{RETENTION}/floors?active=true").json()["items"]}
    assert archivist.post(f"{RETENTION}/schedules", json={"name": "WO", "kinds": ["work_order"], "period": "P1Y",
                                                          "action": "destroy"}).status_code == 201
    events = admin.get("/api/v1/audit/events", params={"target": f"floor:{floor['id']}"}).json()["items"]
    assert {e["action"] for e in events} >= {"retention.floor.declare", "retention.floor.remove"}


def test_bad_floors_are_4xx(archivist):
    for body in ({"reason": "x", "minimum_period": "P3Y"}, {"reason": "x", "kinds": ["complaint"], "minimum_period": "3 years"},
                 {"kinds": ["complaint"], "minimum_period": "P3Y"}):
        r = archivist.post(f"{RETENTION}/floors", json=body)
        assert r.status_code == 422, r.text
    assert archivist.get(f"{RETENTION}/floors/nope").json()["code"] == "retention_floor_not_found"
