"""Retention fixtures: a clock the test sets, archived records, and a disposition driver."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from records import clock as clock_module
from tests.conftest import RoleClient, record_body

RETENTION = "/api/v1/retention"
STAGES = {
    "consultation": ["accepted", "classified", "processing", "answered"],
    "complaint": ["investigating", "handling", "feedback"],
    "emergency": ["assigned", "processing", "feedback"],
}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def set(self, *parts: int) -> None:
        self.now = datetime(*parts, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[Clock]:
    """Time starts at 2026-03-04 10:00 UTC and moves only when the test moves it."""
    c = Clock(datetime(2026, 3, 4, 10, tzinfo=UTC))
    clock_module.set_clock(lambda: c.now)
    try:
        yield c
    finally:
        clock_module.set_clock(None)


def archive(agent: RoleClient, archivist: RoleClient, kind: str = "consultation", **body: Any) -> dict[str, Any]:
    """File a record and take it through its workflow to archived."""
    filed = agent.post("/api/v1/records", json=record_body(kind, **body))
    assert filed.status_code == 201, filed.text
    record_id = filed.json()["id"]
    for stage in STAGES[kind]:
        if stage in ("answered", "feedback"):
            version = agent.get(f"/api/v1/records/{record_id}").json()["version"]
            patch = {"result": "Explained the tariff."}
            if kind == "complaint":
                patch["feedback"] = {"satisfaction": 4}
            r = agent.patch(f"/api/v1/records/{record_id}", json=patch, headers={"If-Match": f'"{version}"'})
            assert r.status_code == 200, r.text
        r = agent.post(f"/api/v1/records/{record_id}/transitions", json={"to": stage})
        assert r.status_code == 200, r.text
    r = archivist.post(f"/api/v1/records/{record_id}/transitions", json={"to": "archived"})
    assert r.status_code == 200, r.text
    return r.json()


def sweep(caller: RoleClient, **body: Any) -> dict[str, Any]:
    r = caller.post(f"{RETENTION}/sweeps", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def wait_done(caller: RoleClient, batch_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = caller.get(f"{RETENTION}/batches/{batch_id}").json()
        if batch["status"] == "done":
            return batch
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} did not finish: {batch}")


def approve_and_execute(caller: RoleClient, batch: dict[str, Any]) -> dict[str, Any]:
    decisions = [{"record_id": i["record_id"], "decision": "approve"} for i in batch["items"]]
    r = caller.post(f"{RETENTION}/batches/{batch['id']}/decisions", json={"decisions": decisions})
    assert r.status_code == 200, r.text
    r = caller.post(f"{RETENTION}/batches/{batch['id']}/execute")
    assert r.status_code == 202, r.text
    return wait_done(caller, batch["id"])
