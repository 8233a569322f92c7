"""The audit log of a real ``records serve`` survives ``kill -9``: every request the server
answered with a 2xx has its event in the log after a restart, and the log still verifies.

An event is stored before its response starts (reads: group commit; changes: in the change's own
transaction), so a client that saw a 2xx may rely on the event having been durable.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from records.cli import main
from tests.helpers.server_process import RECORDS_URL, ServerProcess, api, create_token, record_body

pytestmark = pytest.mark.slow

ACTIONS = {"file": "record.create", "read": "record.read", "amend": "record.amend", "list": "record.list"}


class AuditedTraffic(threading.Thread):
    """Files, reads, amends and lists in a loop; remembers the request id of every 2xx answer."""

    def __init__(self, base_url: str, token: str) -> None:
        super().__init__(daemon=True)
        self._base_url, self._token = base_url, token
        self.acknowledged: dict[str, str] = {}  # request id -> what the request did
        self.stop = threading.Event()
        self.errors: list[str] = []

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self._token}"}
        record_id, version, n = None, 0, 0
        with httpx.Client(base_url=self._base_url, headers=headers, timeout=5.0) as client:
            while not self.stop.is_set():
                n += 1
                kind = "file" if record_id is None or n % 4 == 0 else ("read", "amend", "list")[n % 4 - 1]
                try:
                    if kind == "file":
                        response = client.post(RECORDS_URL, json=record_body("complaint", subject=f"audited {n}"))
                    elif kind == "read":
                        response = client.get(f"{RECORDS_URL}/{record_id}")
                    elif kind == "amend":
                        response = client.patch(f"{RECORDS_URL}/{record_id}", json={"subject": f"amended {n}"},
                                                headers={"If-Match": f'"{version}"'})
                    else:
                        response = client.get(RECORDS_URL, params={"limit": 5})
                except httpx.TransportError:
                    time.sleep(0.01)  # killed: keep trying until told to stop
                    continue
                if not 200 <= response.status_code < 300:
                    self.errors.append(f"{kind}: {response.status_code} {response.text[:200]}")
                    continue
                request_id = response.headers.get("x-request-id")
                if not request_id:
                    self.errors.append(f"{kind}: {response.status_code} without X-Request-ID")
                    continue
                self.acknowledged[request_id] = kind
                if kind in ("file", "amend"):
                    record_id, version = response.json()["id"], response.json()["version"]


def all_events(client: httpx.Client) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        response = client.get("/api/v1/audit/events", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        found.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def test_acknowledged_requests_keep_their_events_through_kill_9(server: ServerProcess, data_dir: Path) -> None:
    agent = create_token(data_dir, "alice", "agent")
    officer = create_token(data_dir, "carl", "compliance_officer")
    server.start()
    traffic = AuditedTraffic(server.base_url, agent)
    try:
        traffic.start()
        deadline = time.monotonic() + 15
        while (len(traffic.acknowledged) < 150 or len(set(traffic.acknowledged.values())) < 4) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert traffic.is_alive(), traffic.errors[:3]
        server.kill9()  # while the thread is mid-request
    finally:
        traffic.stop.set()
        traffic.join(timeout=10)
    assert not traffic.is_alive()
    assert not traffic.errors, traffic.errors[:3]
    acknowledged = dict(traffic.acknowledged)
    assert len(acknowledged) >= 150 and set(acknowledged.values()) == set(ACTIONS), len(acknowledged)

    server.start()
    with api(server, officer) as client:
        events = all_events(client)
        assert [e["seq"] for e in events] == list(range(len(events)))
        by_request = {e["request_id"]: e for e in events}
        missing = sorted(set(acknowledged) - set(by_request))
        assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged requests have no event: {missing[:5]}"
        for request_id, kind in acknowledged.items():
            event = by_request[request_id]
            assert (event["action"], event["outcome"], event["actor"], event["role"]) == (
                ACTIONS[kind], "allowed", "alice", "agent"), event
        sealed = client.post("/api/v1/audit/checkpoints")
        assert sealed.status_code == 201, sealed.text
        assert sealed.json()["tree_size"] >= len(events)
    server.stop()

    result = CliRunner().invoke(main, ["audit", "verify", "--data-dir", str(data_dir)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("audit log intact:"), result.stdout
