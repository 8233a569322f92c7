"""Reads of batches, certificates, holds and schedules name what they read in their events."""

from __future__ import annotations

from tests.conftest import RoleClient
from tests.retention.setup import RETENTION, certificate, hold, open_batch, schedule_id

# --- reads of retention objects name them --------------------------------------------------------


def test_reads_of_batches_certificates_holds_and_schedules_have_targets(admin: RoleClient, filed):
    batch = open_batch(admin)
    reads = {
        "schedule": schedule_id(admin),
        "hold": hold(admin, filed["id"]),
        "batch": batch,
        "certificate": certificate(admin),
    }
    paths = {"schedule": "schedules", "hold": "holds", "batch": "batches", "certificate": "certificates"}
    for kind, object_id in reads.items():
        response = admin.get(f"{RETENTION}/{paths[kind]}/{object_id}")
        assert response.status_code == 200, response.text
        request_id = response.headers["x-request-id"]
        events = admin.get("/api/v1/audit/events", params={"limit": 200}).json()["items"]
        event = next(e for e in events if e["request_id"] == request_id)
        assert f"{kind}:{object_id}" in event["targets"], event
    # A read of something that does not exist names what was asked for, too.
    missing = admin.get(f"{RETENTION}/batches/no-such-batch")
    assert missing.status_code == 404
    events = admin.get("/api/v1/audit/events", params={"limit": 200}).json()["items"]
    assert next(e for e in events if e["request_id"] == missing.headers["x-request-id"])["targets"] == ["batch:no-such-batch"]
