"""GET /api/v1/retention/batches/{id} with ``limit``: one page of a large batch's items, its
progress counting the whole batch; without it, every item as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from records.models import Kind
from records.retention.models import (
    BatchItem,
    BatchStatus,
    Decision,
    DispositionAction,
    DispositionBatch,
    RetentionAssignment,
    ScheduleRef,
)
from tests.retention.setup import RETENTION


def stored_batch(app, client, items: int) -> str:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC) - timedelta(days=1)
    ref = ScheduleRef(id="s-api-paging", version=1, name="API paging")
    batch = DispositionBatch(id="b-api-paging", status=BatchStatus.open, as_of=now, created_at=now, created_by="ada",
                             items=[BatchItem(record_id=f"api-{n:04d}", reference=f"CP-2026-{n:06d}", kind=Kind.complaint,
                                              action=DispositionAction.destroy, retain_until=now, schedule=ref,
                                              **({"decision": Decision.approve, "approvers": ["ada"]} if n < 3 else {}))
                                    for n in range(items)])
    repo = app.state.storage.retention
    with client.portal() as portal:
        for i in batch.items:
            portal.call(repo.put_assignment, RetentionAssignment(record_id=i.record_id, reference=i.reference, kind=i.kind,
                                                                 schedule=ref, retain_until=now, basis="test"))
        portal.call(repo.add_batch, batch)
    return "b-api-paging"


def test_a_batch_is_read_a_page_at_a_time_with_limit(admin, app, client):
    batch_id = stored_batch(app, client, 25)
    whole = admin.get(f"{RETENTION}/batches/{batch_id}").json()
    assert [i["record_id"] for i in whole["items"]] == [f"api-{n:04d}" for n in range(25)]

    page = admin.get(f"{RETENTION}/batches/{batch_id}", params={"offset": 20, "limit": 10})
    assert page.status_code == 200, page.text
    body = page.json()
    assert [i["record_id"] for i in body["items"]] == [f"api-{n:04d}" for n in range(20, 25)]
    assert body["progress"] == whole["progress"] and body["progress"]["total"] == 25 and body["progress"]["decided"] == 3
    assert {k: v for k, v in body.items() if k != "items"} == {k: v for k, v in whole.items() if k != "items"}

    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1, "limit": 5}, {"offset": 5}, {"limit": "x"}):
        refused = admin.get(f"{RETENTION}/batches/{batch_id}", params=bad)
        assert refused.status_code in (400, 422), (bad, refused.text)
    assert admin.get(f"{RETENTION}/batches/nope", params={"limit": 5}).status_code == 404
