"""The audit explorer's exports (records/audit/explorer.py), shared by the API and the console:
JSON lines are the hashed bytes themselves, an export resumes after a cursor, and one that runs
while the log grows ends at the size the log had when it started.

The million-event memory check is in ``python -m bench audit`` (bench/audit.py), not here.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, datetime

from litestar import Litestar
from litestar.testing import TestClient

from records.audit.events import AuditEventDraft, Outcome
from records.audit.explorer import EXPORT_PAGE, event_query, export_chunks
from tests.conftest import RoleClient
from tests.helpers.audit_events import EVENTS, canonical_from_api, is_problem


def _append(app: Litestar, client: TestClient, n: int, action: str, purpose: str | None = None) -> None:
    drafts = [AuditEventDraft(at=datetime.now(UTC), actor="bulk", role="agent", action=action, targets=[f"record:r-{i % 3}"],
                              outcome=Outcome.allowed, purpose=purpose) for i in range(n)]
    with client.portal() as portal:
        portal.call(app.state.audit_service.append, drafts)


def test_each_jsonl_line_is_the_hashed_canonical_event(app: Litestar, client: TestClient,
                                                       compliance_officer: RoleClient) -> None:
    _append(app, client, 5, "bulk.synthetic", purpose="检查, \"quoted\"\nline")
    exported = compliance_officer.get(EVENTS, params={"format": "jsonl", "action": "bulk.synthetic"})
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-disposition"] == 'attachment; filename="audit-events.jsonl"'
    lines = exported.content.split(b"\n")
    assert lines[-1] == b"" and len(lines) == 6
    sealed = compliance_officer.post("/api/v1/audit/checkpoints").json()["tree_size"]
    listed = compliance_officer.get(EVENTS, params={"action": "bulk.synthetic", "limit": 500}).json()["items"]
    by_seq = {e["seq"]: e for e in listed}
    for line in lines[:-1]:
        seq = json.loads(line)["seq"]
        assert line == canonical_from_api(by_seq[seq])  # the documented encoding, byte for byte
        proof = compliance_officer.get("/api/v1/audit/proofs/inclusion", params={"index": seq, "tree_size": sealed})
        assert proof.json()["leaf_hash"] == hashlib.sha256(b"\x00" + line).hexdigest()


def test_an_export_resumes_after_its_cursor(app: Litestar, client: TestClient, compliance_officer: RoleClient) -> None:
    _append(app, client, 30, "bulk.synthetic")
    whole = compliance_officer.get(EVENTS, params={"format": "csv", "action": "bulk.synthetic"})
    rows = list(csv.DictReader(io.StringIO(whole.text, newline="")))
    assert len(rows) == 30
    cut = rows[11]["seq"]
    rest = compliance_officer.get(EVENTS, params={"format": "csv", "action": "bulk.synthetic", "cursor": cut})
    assert [r["seq"] for r in csv.DictReader(io.StringIO(rest.text, newline=""))] == [r["seq"] for r in rows[12:]]
    is_problem(compliance_officer.get(EVENTS, params={"format": "csv", "cursor": "x1"}), 400, "invalid_cursor")
    is_problem(compliance_officer.get(EVENTS, params={"format": "jsonl", "since": "2026-01-01T00:00:00"}), 422)


def test_an_export_ends_at_the_size_the_log_had_when_it_started(app: Litestar, client: TestClient) -> None:
    _append(app, client, EXPORT_PAGE + 10, "bulk.synthetic")
    service = app.state.audit_service

    async def export_while_appending() -> tuple[int, int]:
        size = await app.state.storage.audit.size()
        seen = chunks = 0
        async for chunk in export_chunks(service, event_query(), "jsonl"):
            seen += chunk.count(b"\n")
            chunks += 1
            if chunks > 3:
                continue
            # Another writer adds a page's worth of events per page read (three times: bounded).
            await service.append([AuditEventDraft(at=datetime.now(UTC), action="bulk.later", outcome=Outcome.allowed)
                                  for _ in range(EXPORT_PAGE)])
        return size, seen

    with client.portal() as portal:
        size, seen = portal.call(export_while_appending)
    assert seen == size


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(app: Litestar, client: TestClient,
                                                                compliance_officer: RoleClient) -> None:
    _append(app, client, 1, "bulk.formula", purpose="=HYPERLINK(\"http://x\")")
    exported = compliance_officer.get(EVENTS, params={"format": "csv", "action": "bulk.formula"})
    (row,) = csv.DictReader(io.StringIO(exported.text, newline=""))
    assert row["purpose"] == "'=HYPERLINK(\"http://x\")"
