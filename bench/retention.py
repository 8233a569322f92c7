"""Retention: sweep time over N archived records (only the due ones are read, through the
retain-until index) and destruction throughput in records/s (crypto-shred, blobs, tombstone,
audit event, certificate with inclusion proofs).

``python -m bench retention --records 1000000`` (or ``BENCH_RETENTION_RECORDS``; default 20,000)
sets how many archived records the sweep runs over; 1% of them are due.
``BENCH_RETENTION_DESTROY`` (default 200) sets how many real records are destroyed.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from records import clock
from records.models import Channel, Customer, Kind, RecordCreate, Urgency
from records.retention.models import Decision, DecisionIn, DecisionsIn, RetentionAssignment, ScheduleRef
from records.roles import Principal, Role


def _records() -> int:
    return int(os.environ.get("BENCH_RETENTION_RECORDS", "20000"))


def _bulk_assignments(db: Path, n: int, schedule: ScheduleRef) -> int:
    """N archived records' assignments, inserted directly (setup, not measured); 1% due."""
    base = datetime(2030, 1, 1, tzinfo=UTC)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA synchronous=OFF")
    due = 0
    rows = []
    for i in range(n):
        is_due = i % 100 == 0
        due += is_due
        until = base - timedelta(days=1 + i % 300) if is_due else base + timedelta(days=1 + i % 3000)
        a = RetentionAssignment(record_id=f"bench-{i:09d}-{uuid.uuid4().hex[:8]}", reference=f"CN-2026-{i:09d}",
                                kind=Kind.consultation, schedule=schedule, trigger="archived", trigger_at=until,
                                retain_until=until, action="destroy", basis="bench")
        rows.append((a.record_id, schedule.id, until.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), a.model_dump_json()))
        if len(rows) >= 50_000:
            conn.executemany("INSERT INTO retention_assignments (record_id, schedule_id, retain_until, doc) VALUES (?, ?, ?, ?)", rows)
            conn.commit()
            rows = []
    conn.executemany("INSERT INTO retention_assignments (record_id, schedule_id, retain_until, doc) VALUES (?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()
    return due


async def _run(root: Path, n: int, destroy: int) -> dict:
    from records.installation import Installation
    from records.settings import load_settings

    settings = load_settings(data_dir=root / "data", retention_batch_max_items=max(destroy, 1000))
    installation = await Installation.open(settings)
    retention = installation.retention
    assert retention is not None
    schedule = next(s for s in await retention.schedules() if s.kinds == [Kind.consultation])
    ref = ScheduleRef(id=schedule.id, version=schedule.version, name=schedule.name)
    await installation.close()

    due = _bulk_assignments(root / "data" / "records.sqlite3", n, ref)
    installation = await Installation.open(settings)
    retention = installation.retention
    actor = Principal("bench", Role.archivist)
    start = time.perf_counter()
    swept = await retention.sweep(actor, as_of=datetime(2030, 1, 1, tzinfo=UTC))
    sweep_seconds = time.perf_counter() - start
    assert swept.due == due, (swept.due, due)

    # The synthetic assignments have no records behind them: out of the way of the destruction run.
    conn = sqlite3.connect(root / "data" / "records.sqlite3")
    conn.execute("DELETE FROM retention_assignments WHERE record_id LIKE 'bench-%'")
    conn.commit()
    conn.close()
    # Destruction: real records, filed and archived through the services.
    admin = Principal("bench", Role.admin)
    ids = []
    for i in range(destroy):
        rec = await installation.records.file(RecordCreate(
            kind=Kind.consultation, channel=Channel.phone, urgency=Urgency.general, subject=f"Question {i}",
            description="What does my plan include?", customer=Customer(name="张三", phone="13812345678", account="A1")),
            admin)
        stored = await installation.storage.records.get(rec.id)
        now = clock.utcnow()
        archived = stored.model_copy(update={"status": "archived", "archived_at": now, "archived_by": "bench",
                                             "version": stored.version + 1})
        await installation.storage.records.replace(archived, expected_version=stored.version)
        await retention.assign(rec.id)
        ids.append(rec.id)
    clock.set_clock(lambda: datetime(2040, 1, 1, tzinfo=UTC))
    try:
        later = await retention.sweep(actor)
        batch = next(b for b in later.batches if any(i.record_id == ids[0] for i in b.items))
        await retention.decide(batch.id, DecisionsIn(decisions=[
            DecisionIn(record_id=i.record_id, decision=Decision.approve) for i in batch.items]), actor)
        await retention.start_execution(batch.id, actor)
        start = time.perf_counter()
        done = await retention.run(batch.id)
        destroy_seconds = time.perf_counter() - start
    finally:
        clock.set_clock(None)
    await installation.close()
    return {"archived_records": n, "due": due, "sweep_seconds": round(sweep_seconds, 3),
            "destroyed": done.progress.disposed, "destroy_seconds": round(destroy_seconds, 3),
            "destroyed_per_second": round(done.progress.disposed / destroy_seconds, 1)}


def run() -> dict:
    n, destroy = _records(), int(os.environ.get("BENCH_RETENTION_DESTROY", "200"))
    with tempfile.TemporaryDirectory(prefix="bench-retention-") as tmp:
        result = asyncio.run(_run(Path(tmp), n, destroy))
    print(f"retention sweep over {result['archived_records']:,} archived records ({result['due']:,} due): "
          f"{result['sweep_seconds']} s")
    print(f"destruction: {result['destroyed']} records in {result['destroy_seconds']} s = "
          f"{result['destroyed_per_second']} records/s (shred, blobs, tombstone, audit event, signed certificate)")
    return result
