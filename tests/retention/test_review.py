"""Multi-stage disposition review (issue 15, item 8): stages with their reviewers, items that move on
only when their stage is complete, many decided at once, and batches that close themselves."""

from __future__ import annotations

from typing import Any

from tests.retention.conftest import RETENTION, archive, sweep, wait_done

STAGES = [{"name": "records manager", "roles": ["archivist"]},
          {"name": "legal", "roles": ["compliance_officer"], "users": ["lena"], "approvals": 2}]


def _staged(archivist, agent, clock, n: int = 2) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    r = archivist.post(f"{RETENTION}/schedules", json={"name": "Reviewed complaints", "kinds": ["complaint"],
                                                     "classification": ["urgency:urgent"], "period": "P1Y",
                                                     "action": "destroy", "review_stages": STAGES})
    assert r.status_code == 201, r.text
    assert [s["name"] for s in r.json()["review_stages"]] == ["records manager", "legal"]
    files = [archive(agent, archivist, "complaint") for _ in range(n)]
    clock.set(2027, 3, 5)
    sweep(archivist)
    return files


def _decide(caller, decision: str, items: list[dict[str, Any]], **extra: Any):  # type: ignore[no-untyped-def]
    return caller.post("/api/v1/reviews/decisions", json={
        "decision": decision, "items": [{"batch_id": i["batch_id"], "record_id": i["record_id"]} for i in items], **extra})


def test_items_pass_each_stage_in_turn(clock, agent, archivist, compliance_officer, as_role):
    from records.roles import Role

    _staged(archivist, agent, clock)
    lena = as_role(Role.compliance_officer, "lena")
    assert compliance_officer.get("/api/v1/reviews").json()["items"] == []  # not their stage yet
    waiting = archivist.get("/api/v1/reviews").json()["items"]
    assert len(waiting) == 2 and {w["stage_name"] for w in waiting} == {"records manager"}
    assert waiting[0]["stage"] == 1 and waiting[0]["stages"] == 2

    early = _decide(compliance_officer, "approve", waiting)
    assert early.status_code == 403 and early.json()["code"] == "not_a_reviewer"
    assert _decide(archivist, "approve", waiting, reason="past retention").status_code == 200
    assert archivist.get("/api/v1/reviews").json()["items"] == []
    legal = compliance_officer.get("/api/v1/reviews").json()["items"]
    assert len(legal) == 2 and legal[0]["stage_name"] == "legal" and legal[0]["approvals_needed"] == 2
    assert legal[0]["history"][0]["by"] == archivist.name

    # the two-person rule of the legal stage: one approval does not move the items on
    batch_id = legal[0]["batch_id"]
    assert _decide(compliance_officer, "approve", legal).status_code == 200
    again = _decide(compliance_officer, "approve", legal)
    assert again.status_code == 409 and again.json()["code"] == "second_approver_required"
    refused = archivist.post(f"{RETENTION}/batches/{batch_id}/execute")
    assert refused.status_code == 409 and refused.json()["code"] == "batch_undecided"
    assert _decide(lena, "approve", lena.get("/api/v1/reviews").json()["items"]).status_code == 200
    batch = archivist.get(f"{RETENTION}/batches/{batch_id}").json()
    assert {i["decision"] for i in batch["items"]} == {"approve"}
    assert set(batch["items"][0]["approvers"]) == {archivist.name, compliance_officer.name, "lena"}
    assert [r["stage"] for r in batch["items"][0]["reviews"]] == [1, 2, 2]
    assert archivist.post(f"{RETENTION}/batches/{batch_id}/execute").status_code == 202
    assert wait_done(archivist, batch_id)["progress"]["disposed"] == 2


def test_rejected_at_any_stage_the_batch_closes_itself(clock, agent, archivist, compliance_officer):
    files = _staged(archivist, agent, clock)
    waiting = archivist.get("/api/v1/reviews").json()["items"]
    assert _decide(archivist, "approve", waiting[:1]).status_code == 200
    legal = compliance_officer.get("/api/v1/reviews").json()["items"]
    no_reason = _decide(compliance_officer, "reject", legal)
    assert no_reason.status_code == 422
    r = _decide(compliance_officer, "reject", legal, reason="evidence in a pending case")
    assert r.status_code == 200, r.text
    r = _decide(archivist, "extend", archivist.get("/api/v1/reviews").json()["items"], reason="audit next year",
                until="2029-01-01T00:00:00Z")
    assert r.status_code == 200, r.text
    batch = r.json()["items"][0]
    assert batch["status"] == "done" and batch["certificate_id"] is None
    assert {i["state"] for i in batch["items"]} == {"kept"}
    for f in files:
        assert agent.get(f"/api/v1/records/{f['id']}").status_code == 200


def test_bad_stages_are_refused(archivist):
    base = {"name": "x", "kinds": ["complaint"], "period": "P5Y", "action": "destroy"}
    for stages in ([{"name": "nobody"}], [{"name": f"s{n}", "roles": ["archivist"]} for n in range(6)],
                   [{"name": "s", "roles": ["archivist"], "approvals": 3}], [{"name": "s", "roles": ["king"]}]):
        r = archivist.post(f"{RETENTION}/schedules", json={**base, "review_stages": stages})
        assert r.status_code == 422, r.text
