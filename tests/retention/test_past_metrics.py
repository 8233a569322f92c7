"""Reports that do not move (issue 15, item 6): a destroyed file keeps its governance facts in its
tombstone and in what is left of it, and metrics over past periods still count it."""

from __future__ import annotations

from tests.retention.conftest import RETENTION, approve_and_execute, archive, sweep

MARCH = {"received_from": "2026-03-01T00:00:00Z", "received_to": "2026-04-01T00:00:00Z"}


def _metrics(caller, name: str) -> dict:  # type: ignore[no-untyped-def]
    r = caller.get(f"/api/v1/metrics/{name}", params=MARCH)
    assert r.status_code == 200, r.text
    return r.json()["total"]


def test_destroyed_files_still_count_in_past_periods(clock, agent, archivist, supervisor):
    r = archivist.post(f"{RETENTION}/schedules", json={"name": "Urgent complaints", "kinds": ["complaint"],
                                                     "classification": ["urgency:urgent"], "period": "P1Y", "action": "destroy"})
    assert r.status_code == 201, r.text
    first = archive(agent, archivist, "complaint")
    archive(agent, archivist, "complaint")
    names = ("satisfaction_rate", "complaint_satisfaction", "response_within_limit", "completion_rate", "complaint_rate")
    before = {name: _metrics(supervisor, name) for name in names}
    assert before["complaint_satisfaction"]["value"] is not None

    clock.set(2027, 3, 5)
    batch = next(b for b in sweep(archivist)["batches"] if any(i["record_id"] == first["id"] for i in b["items"]))
    done = approve_and_execute(archivist, batch)
    assert done["progress"]["disposed"] >= 1
    gone = agent.get(f"/api/v1/records/{first['id']}")
    assert gone.status_code == 410
    facts = gone.json()["governance"]
    assert facts["channel"] == "phone" and facts["urgency"] == "urgent" and facts["satisfaction"] == 4
    assert "urgency:urgent" in facts["classification"] and facts["deadlines"]
    assert all(d["on_time"] is not None for d in facts["deadlines"])
    assert "customer" not in gone.text and "13812345678" not in gone.text and "No signal" not in gone.text

    after = {name: _metrics(supervisor, name) for name in names}
    for name in names:
        assert after[name]["value"] == before[name]["value"], name
        assert after[name]["denominator"] == before[name]["denominator"], name
