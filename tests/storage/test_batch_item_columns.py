"""Migration 14 gives the batch items already stored the columns the batch page, its counts and
the reviews list are answered from, with the values the embedded store writes for new items."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from records.models import Kind
from records.retention.models import BatchItem, Decision, DispositionAction, ItemState, ScheduleRef
from records.retention.review import ReviewStage
from records.roles import Role
from records.storage.sqlite.migrations import migrate
from records.storage.sqlite.retention import _item_values

COLUMNS = "decision, kind, reference, retain_until, staged, approvals, reviewers, approved_by"


def test_migration_14_fills_the_columns_of_existing_items_as_new_ones_are_written(tmp_path, monkeypatch):
    from records.storage.sqlite import migrations

    conn = sqlite3.connect(tmp_path / "records.sqlite3", isolation_level=None)
    every = list(migrations.MIGRATIONS)
    monkeypatch.setattr(migrations, "MIGRATIONS", [m for m in every if m[0] < 14])
    migrate(conn)
    ref = ScheduleRef(id="s1", version=1, name="complaints")
    stages = [ReviewStage(name="records manager", roles=[Role.archivist, Role.admin]),
              ReviewStage(name="legal", roles=[Role.compliance_officer], users=["zoe", "yan"], approvals=2)]
    until = datetime(2026, 5, 1, 8, 30, 15, 250000, tzinfo=UTC)
    items = [
        BatchItem(record_id="r1", reference="CP-2026-000001", kind=Kind.complaint, action=DispositionAction.destroy,
                  retain_until=until, schedule=ref),
        BatchItem(record_id="r2", reference="ZX-2026-000002", kind=Kind.consultation, action=DispositionAction.destroy,
                  retain_until=until.replace(microsecond=0), schedule=ref, decision=Decision.approve, approvers=["ada"]),
        BatchItem(record_id="r3", reference="CP-2026-000003", kind=Kind.complaint, action=DispositionAction.destroy,
                  retain_until=until, schedule=ref, stages=stages, stage=1, approvers=["ada"], stage_approvers=["zoe"]),
        BatchItem(record_id="r4", reference="CP-2026-000004", kind=Kind.complaint, action=DispositionAction.destroy,
                  retain_until=until, schedule=ref, stages=stages, decision=Decision.reject, approvers=["ada"],
                  reason="keep", state=ItemState.kept),
    ]
    conn.execute("INSERT INTO disposition_batches (id, status, created_at, doc) VALUES ('b1', 'open', '2026', '{}')")
    conn.executemany("INSERT INTO disposition_items (batch_id, position, record_id, state, doc) VALUES ('b1', ?, ?, ?, ?)",
                     [(n, i.record_id, i.state.value, i.model_dump_json()) for n, i in enumerate(items)])
    monkeypatch.setattr(migrations, "MIGRATIONS", [m for m in every if m[0] <= 14])
    assert migrate(conn) == [14]
    rows = conn.execute(f"SELECT {COLUMNS} FROM disposition_items ORDER BY position").fetchall()
    for item, row in zip(items, rows, strict=True):
        written = _item_values(item)[2:]
        # Stored times keep milliseconds (SQLite's strftime): the order of items due within one
        # millisecond may differ from that of new items, nothing else.
        assert row[:3] == written[:3] and row[4:] == written[4:], item.record_id
        assert row[3][:23] == written[3][:23] and len(row[3]) == len(written[3])
    assert rows[2][6] == "\x1frole:compliance_officer\x1fuser:zoe\x1fuser:yan\x1f" and rows[2][7] == "\x1fzoe\x1f"
    assert rows[3][6] is None  # decided: nobody's to review
