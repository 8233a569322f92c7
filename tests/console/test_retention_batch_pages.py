"""A large disposition batch in the console: the batch page shows one page of items at a time and
the counts of the whole batch, and the reviews page lists what waits for the viewer, each asked of
the store (a batch holds up to 10,000 items; reading all of them made these pages take 0.5 s)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from records.models import Kind
from records.retention.models import (
    BatchItem,
    BatchStatus,
    Decision,
    DispositionAction,
    DispositionBatch,
    ItemState,
    RetentionAssignment,
    ScheduleRef,
)
from records.roles import Role

BATCHES = "/console/retention/batches"
ITEMS = 130


def _reference(n: int) -> str:
    return f"{'CP' if n % 2 else 'ZX'}-2026-{n:06d}"


def big_batch(app, client) -> str:  # type: ignore[no-untyped-def]
    """An open batch of 130 items under the two-person rule, stored as a sweep stores one: items
    1-3 approved by ada (short of a second approver), 4-5 by ada and bob, 6 rejected, the rest
    undecided; consultations every third item."""
    now = datetime.now(UTC) - timedelta(days=1)
    ref = ScheduleRef(id="s-paging", version=1, name="Paging test")
    items = []
    for n in range(1, ITEMS + 1):
        decided: dict[str, object] = {}
        if n <= 3:
            decided = {"decision": Decision.approve, "approvers": ["ada"]}
        elif n <= 5:
            decided = {"decision": Decision.approve, "approvers": ["ada", "bob"]}
        elif n == 6:
            decided = {"decision": Decision.reject, "approvers": ["ada"], "reason": "keep", "state": ItemState.kept}
        items.append(BatchItem(record_id=f"paging-{n:04d}", reference=_reference(n),
                               kind=Kind.consultation if n % 3 == 0 else Kind.complaint, action=DispositionAction.destroy,
                               retain_until=now - timedelta(minutes=n), schedule=ref, **decided))
    batch = DispositionBatch(id="b-paging", status=BatchStatus.open, as_of=now, created_at=now, created_by="ada",
                             items=items, two_person_rule=True)
    repo = app.state.storage.retention
    with client.portal() as portal:
        for i in items:
            portal.call(repo.put_assignment, RetentionAssignment(
                record_id=i.record_id, reference=i.reference, kind=i.kind, schedule=ref, retain_until=i.retain_until,
                basis=f"test basis of {i.reference}"))
        portal.call(repo.add_batch, batch)
    return "b-paging"


def _counts(page: str) -> dict[str, str]:
    return dict(re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", page))


def test_the_batch_page_shows_page_two_and_the_counts_of_the_whole_batch(console_as, app, client):
    batch_id = big_batch(app, client)
    console = console_as(Role.archivist, "ada")

    first = console.get(f"{BATCHES}/{batch_id}")
    assert first.status_code == 200, first.text
    assert "Items 1 to 100 of 130" in first.text and _reference(100) in first.text and _reference(101) not in first.text
    assert 'href="?offset=100"' in first.text
    counts = _counts(first.text)
    assert counts["Waiting for a decision"] == "124" and counts["Approved once, waiting for a second approver"] == "3"
    assert counts["Approved"] == "2" and counts["Rejected or extended (kept)"] == "1"
    # ada approved items 1-3 already: the 124 undecided ones wait for her, not those.
    assert "every item of this batch waiting for your decision (124)" in first.text
    assert "Execute the batch" not in first.text  # 124 undecided, 3 short of an approver

    second = console.get(f"{BATCHES}/{batch_id}", params={"offset": "100"})
    assert second.status_code == 200, second.text
    assert "Items 101 to 130 of 130" in second.text
    assert all(_reference(n) in second.text for n in range(101, ITEMS + 1)) and _reference(100) not in second.text
    assert "test basis of " + _reference(130) in second.text  # each shown item's basis, as its retention page gives it
    assert 'href="?offset=0"' in second.text and "Next items" not in second.text
    assert _counts(second.text) == counts  # the counts are the whole batch's, on every page

    # Filters are applied by the store before paging: a reference's start in any case, a kind, a decision.
    narrowed = console.get(f"{BATCHES}/{batch_id}", params={"reference": "zx-2026-00011", "kind": "complaint"})
    shown = sorted(set(re.findall(r"ZX-2026-\d{6}", narrowed.text)))
    assert shown == [_reference(n) for n in (110, 112, 116, 118)]
    assert "Items 1 to 4 of 4" in narrowed.text and "filtered from 130" in narrowed.text
    pending = console.get(f"{BATCHES}/{batch_id}", params={"decision": "pending", "offset": "100"})
    assert "Items 101 to 124 of 124" in pending.text and _reference(130) in pending.text
    assert 'href="?offset=0&amp;decision=pending"' in pending.text


def test_the_second_approver_sees_what_waits_for_them(console_as, app, client):
    batch_id = big_batch(app, client)
    console = console_as(Role.archivist, "bob")
    page = console.get(f"{BATCHES}/{batch_id}").text
    assert "every item of this batch waiting for your decision (127)" in page  # 124 undecided and 3 short

    reviews = console.get("/console/retention/reviews/")
    assert reviews.status_code == 200, reviews.text
    assert "100 item(s) waiting for you" in reviews.text and "more are waiting than shown" in reviews.text
    # The earliest due first: the batch's last items fell due first.
    assert _reference(130) in reviews.text and _reference(1) not in reviews.text
