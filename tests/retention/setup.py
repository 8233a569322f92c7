"""Retention objects the route walks need, made through the API as an admin."""

from __future__ import annotations

import itertools
import time
from typing import Any

from tests.conftest import RoleClient, record_body

RETENTION = "/api/v1/retention"
_names = itertools.count()


def now_schedule(admin: RoleClient) -> str:
    """A schedule that makes urgent complaints due the moment they are archived."""
    existing = {s["name"]: s["id"] for s in admin.get(f"{RETENTION}/schedules").json()["items"]}
    if "Walk: due at once" in existing:
        return existing["Walk: due at once"]
    r = admin.post(f"{RETENTION}/schedules", json={"name": "Walk: due at once", "kinds": ["complaint"],
                                                   "classification": ["urgency:urgent"], "period": "P0D", "action": "destroy"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def archived_record(admin: RoleClient) -> str:
    now_schedule(admin)
    record_id = admin.post("/api/v1/records", json=record_body()).json()["id"]
    for stage in ("investigating", "handling"):
        assert admin.post(f"/api/v1/records/{record_id}/transitions", json={"to": stage}).status_code == 200
    version = admin.get(f"/api/v1/records/{record_id}").json()["version"]
    r = admin.patch(f"/api/v1/records/{record_id}", json={"result": "Done", "feedback": {"satisfaction": 4}},
                    headers={"If-Match": f'"{version}"'})
    assert r.status_code == 200, r.text
    for stage in ("feedback", "archived"):
        r = admin.post(f"/api/v1/records/{record_id}/transitions", json={"to": stage})
        assert r.status_code == 200, r.text
    return record_id


def open_batch(admin: RoleClient, approve: bool = False) -> str:
    record_id = archived_record(admin)
    result = admin.post(f"{RETENTION}/sweeps", json={}).json()
    batch = next(b for b in result["batches"] if any(i["record_id"] == record_id for i in b["items"]))
    if approve:
        decisions = [{"record_id": i["record_id"], "decision": "approve"} for i in batch["items"]]
        r = admin.post(f"{RETENTION}/batches/{batch['id']}/decisions", json={"decisions": decisions})
        assert r.status_code == 200, r.text
    return batch["id"]


def certificate(admin: RoleClient) -> str:
    batch_id = open_batch(admin, approve=True)
    assert admin.post(f"{RETENTION}/batches/{batch_id}/execute").status_code == 202
    for _ in range(400):
        batch = admin.get(f"{RETENTION}/batches/{batch_id}").json()
        if batch["status"] == "done":
            return batch["certificate_id"]
        time.sleep(0.05)
    raise AssertionError(batch)


def hold(admin: RoleClient, record_id: str) -> str:
    r = admin.post(f"{RETENTION}/holds", json={"reason": "walk", "case_reference": f"W-{next(_names)}",
                                               "record_ids": [record_id]})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def schedule_id(admin: RoleClient, name: str = "Complaints") -> str:
    return next(s["id"] for s in admin.get(f"{RETENTION}/schedules").json()["items"] if s["name"] == name)


def any_json(response: Any) -> Any:
    return response.json()


def floor(admin: RoleClient) -> str:
    r = admin.post(f"{RETENTION}/floors", json={"kinds": ["emergency"], "minimum_period": "P1Y", "reason": "walk",
                                                "citation": "walk"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def review_item(admin: RoleClient) -> dict[str, str]:
    """An item waiting for a review stage every reviewing role may decide."""
    existing = {s["name"]: s["id"] for s in admin.get(f"{RETENTION}/schedules").json()["items"]}
    if "Walk: reviewed" not in existing:
        r = admin.post(f"{RETENTION}/schedules", json={
            "name": "Walk: reviewed", "kinds": ["complaint"], "classification": ["urgency:major"], "period": "P0D",
            "action": "destroy", "review_stages": [
                {"name": "anyone", "roles": ["admin", "archivist", "compliance_officer", "supervisor"]}]})
        assert r.status_code == 201, r.text
    record_id = admin.post("/api/v1/records", json=record_body(urgency="major")).json()["id"]
    for stage in ("investigating", "handling"):
        assert admin.post(f"/api/v1/records/{record_id}/transitions", json={"to": stage}).status_code == 200
    version = admin.get(f"/api/v1/records/{record_id}").json()["version"]
    r = admin.patch(f"/api/v1/records/{record_id}", json={"result": "Done", "feedback": {"satisfaction": 4}},
                    headers={"If-Match": f'"{version}"'})
    assert r.status_code == 200, r.text
    for stage in ("feedback", "archived"):
        r = admin.post(f"/api/v1/records/{record_id}/transitions", json={"to": stage})
        assert r.status_code == 200, r.text
    result = admin.post(f"{RETENTION}/sweeps", json={}).json()
    batch = next(b for b in result["batches"] if any(i["record_id"] == record_id for i in b["items"]))
    return {"batch_id": batch["id"], "record_id": record_id}
