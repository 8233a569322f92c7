"""Past one machine: the per-unit costs ``docs/scaling.md`` builds its cluster on, measured here.

- **Many logs under a log of logs**: N audit events (default 10,000,000) split over one log per
  shard, each sealed (RFC 9162 leaf and node hashing by ``records.audit.merkle``) in its own
  process, its checkpoint signed (Ed25519), the checkpoints the leaves of a top log; then every
  log verified the same way; beside raw SHA-256 of the same leaves in the same run.
- **The whole audit code path**: ``AuditService.seal`` and ``verify`` (canonical form, queryable
  copies, stored nodes, signatures) over an in-memory log, for the per-event cost without a database.
- **A retention sweep over a shard's assignments**: N rows (default 10,000,000, 1% due, what one
  of 100 shards holds when a billion files shed ten million a day): forecast and swept by
  ``RetentionService.sweep``, and counted by the one SQL aggregate a count-only forecast would run.
- **Access events on MongoDB (nx-27017)**: ``MongoAuditLog.append`` one event per transaction,
  in batches, and through the group committer with 64 concurrent readers.
- **Destruction's writes on MongoDB (nx-27017)**: a destroyed file's six documents, one
  transaction per file and one per 100 files.
- **Sizes**: BSON bytes of each document kind per file and per event, and of sealed events
  compressed into segments, for the storage arithmetic.

``BENCH_SCALE`` (default 1) multiplies every size; ``BENCH_SCALE_EVENTS``, ``BENCH_SCALE_LOGS``
(default 16), ``BENCH_SCALE_SERVICE_EVENTS`` (default 200,000), ``BENCH_SCALE_ASSIGNMENTS`` and
``BENCH_SCALE_MONGO_EVENTS`` (default 20,000) and ``BENCH_SCALE_MONGO_FILES`` (default 2,000) set each one.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from records.audit.events import AuditEvent, AuditEventDraft, Outcome
from records.audit.log import Checkpoint, StoredEvent, checkpoint_message
from records.audit.merkle import MerkleFrontier, leaf_hash

SCALE = float(os.environ.get("BENCH_SCALE", "1"))


def _size(name: str, default: int) -> int:
    return max(1, int(os.environ.get(name, str(round(default * SCALE)))))


EVENTS = _size("BENCH_SCALE_EVENTS", 10_000_000)
LOGS = int(os.environ.get("BENCH_SCALE_LOGS", "16"))
SERVICE_EVENTS = _size("BENCH_SCALE_SERVICE_EVENTS", 200_000)
ASSIGNMENTS = _size("BENCH_SCALE_ASSIGNMENTS", 10_000_000)
MONGO_EVENTS = _size("BENCH_SCALE_MONGO_EVENTS", 20_000)
MONGO_FILES = _size("BENCH_SCALE_MONGO_FILES", 2_000)
AT = datetime(2026, 12, 1, tzinfo=UTC)


# --- events as the log stores them --------------------------------------------------------------

def _event(seq: int, rng: random.Random | None = None) -> AuditEvent:
    """An audited read as the service writes it (varied when ``rng`` is given, for compression)."""
    r = rng or random.Random(seq)
    return AuditEvent(seq=seq, at=AT + timedelta(microseconds=seq * 100 + r.randrange(100)),
                      actor=f"agent-{r.randrange(5000):04d}", role="agent", action="record.read",
                      targets=[f"record:{uuid.UUID(int=r.getrandbits(128), version=4)}"], outcome=Outcome.allowed,
                      status=200, request_id=uuid.UUID(int=r.getrandbits(128)).hex, client=f"10.{r.randrange(256)}.0.1")


def _template() -> bytes:
    """The canonical bytes of an audited read with the sequence number and the record's id left
    as ``%d`` and ``%032x``: making 10M events through pydantic would time pydantic, not the log."""
    probe = _event(7_654_321).canonical()
    target = probe.split(b'"targets":["record:')[1][:36]
    return probe.replace(b'"seq":7654321,', b'"seq":%d,').replace(target, b"%032x")


def _seal_log(log: int, size: int) -> tuple[int, str, int, float]:
    """Seal one shard's log of ``size`` events: every leaf and node hash, as the sealer computes
    them (the nodes are counted, not stored). Returns (log, root hex, nodes made, seconds)."""
    from records.audit.merkle import frontier_root as _frontier_root

    template = _template()
    frontier, nodes = MerkleFrontier(0, {}), 0
    base = log << 40
    start = time.perf_counter()
    for i in range(size):
        nodes += len(frontier.append(leaf_hash(template % (i, base + i))))
    return log, _frontier_root(frontier).hex(), nodes, time.perf_counter() - start


def _raw_sha256(size: int) -> float:
    template = _template()
    start = time.perf_counter()
    for i in range(size):
        hashlib.sha256(b"\x00" + template % (i, i)).digest()
    return size / (time.perf_counter() - start)


def log_of_logs(events: int, logs: int) -> dict[str, float]:
    """Seal ``logs`` shard logs in parallel (one process per core), sign each checkpoint, make the
    checkpoints the leaves of a top log and sign that; then verify all of it from the events."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from records.audit.merkle import frontier_root as _frontier_root

    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    sizes = [events // logs + (1 if i < events % logs else 0) for i in range(logs)]
    workers = os.cpu_count() or 1

    def top_log(checkpoints: list[tuple[int, str, str]]) -> bytes:
        frontier = MerkleFrontier(0, {})
        for log, root_hex, stamp in checkpoints:
            frontier.append(leaf_hash(f"log {log}\n".encode() + checkpoint_message(sizes[log], root_hex, stamp)))
        return _frontier_root(frontier)

    with ProcessPoolExecutor(max_workers=workers) as pool:
        start = time.perf_counter()
        sealed = sorted(pool.map(_seal_log, range(logs), sizes))
        stamp = "2026-12-01T00:00:01.000000Z"
        signatures = {log: key.sign(checkpoint_message(sizes[log], root_hex, stamp)) for log, root_hex, _, _ in sealed}
        top_root = top_log([(log, root_hex, stamp) for log, root_hex, _, _ in sealed])
        top_signature = key.sign(checkpoint_message(logs, top_root.hex(), stamp))
        seal_s = time.perf_counter() - start

        start = time.perf_counter()
        again = sorted(pool.map(_seal_log, range(logs), sizes))
        for (log, root_hex, _, _), (_, expected, _, _) in zip(again, sealed, strict=True):
            if root_hex != expected:
                raise RuntimeError(f"log {log} does not verify")
            public.verify(signatures[log], checkpoint_message(sizes[log], root_hex, stamp))
        public.verify(top_signature, checkpoint_message(logs, top_log([(log, r, stamp) for log, r, _, _ in again]).hex(), stamp))
        verify_s = time.perf_counter() - start
    one_log = sealed[0]
    return {"events": events, "logs": logs, "processes": workers,
            "seal_events_per_s": events / seal_s, "seal_seconds": seal_s,
            "verify_events_per_s": events / verify_s, "verify_seconds": verify_s,
            "nodes_per_event": sum(s[2] for s in sealed) / events,
            "one_log_seal_events_per_s": sizes[0] / one_log[3],
            "raw_sha256_leaves_per_s": _raw_sha256(min(events, 1_000_000))}


# --- the whole audit code path, without a database ------------------------------------------------

class MemoryAuditLog:
    """The parts of the AuditLogStore port that sealing and verifying use, in memory: what the
    audit service itself costs per event, without a database."""

    def __init__(self, events: list[AuditEvent]) -> None:
        self._entries = [StoredEvent(seq=e.seq, canonical=e.canonical(), at=_at_text(e), actor=e.actor, role=e.role,
                                     action=e.action, outcome=e.outcome.value, request_id=e.request_id,
                                     targets=sorted(set(e.targets)))
                         for e in events]
        self._nodes: dict[tuple[int, int], bytes] = {}
        self._checkpoints: list[Checkpoint] = []

    async def size(self) -> int:
        return len(self._entries)

    async def entries(self, start: int, end: int) -> list[StoredEvent]:
        return self._entries[start:end]

    async def nodes(self, keys: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return {k: self._nodes[k] for k in keys if k in self._nodes}

    async def seal(self, nodes: list[tuple[int, int, bytes]], checkpoint: Checkpoint | None) -> None:
        self._nodes.update(((level, index), digest) for level, index, digest in nodes)
        if checkpoint is not None:
            self._checkpoints.append(checkpoint)

    async def checkpoints(self) -> list[Checkpoint]:
        return list(self._checkpoints)

    async def head(self) -> tuple[int, list[Checkpoint]]:
        return len(self._entries), list(self._checkpoints)

    async def latest_checkpoint(self) -> Checkpoint | None:
        return self._checkpoints[-1] if self._checkpoints else None


def _at_text(event: AuditEvent) -> str:
    from records.clock import to_text

    return to_text(event.at)


def audit_service_path(tmp: Path, events: int) -> dict[str, float]:
    from records.audit.service import AuditService
    from records.crypto.keyring import LocalKeyring

    log = MemoryAuditLog([_event(i) for i in range(events)])
    service = AuditService(log, LocalKeyring.open(tmp / "keys"), tmp / "checkpoints.jsonl")

    async def run() -> dict[str, float]:
        start = time.perf_counter()
        await service.seal()
        seal_s = time.perf_counter() - start
        start = time.perf_counter()
        report = await service.verify()
        verify_s = time.perf_counter() - start
        if not report.ok:
            raise RuntimeError(f"the in-memory log does not verify: {report.problem}")
        return {"events": events, "seal_events_per_s": events / seal_s, "verify_events_per_s": events / verify_s,
                "verify_us_per_event": verify_s / events * 1e6}

    return asyncio.run(run())


# --- a retention sweep over one shard's assignments ------------------------------------------------

def _bulk_assignments(db: Path, n: int, schedule) -> int:  # type: ignore[no-untyped-def]
    """``n`` archived files' assignments, 1% due (setup, not measured). One assignment is
    serialised by pydantic and the rest copied from it with their ids and dates put in."""
    from records.models import Kind
    from records.retention.models import RetentionAssignment

    base = datetime(2030, 1, 1, tzinfo=UTC)
    probe = RetentionAssignment(record_id="R" * 24, reference="F" * 19, kind=Kind.consultation, schedule=schedule,
                                trigger="archived", trigger_at=base, retain_until=base, action="destroy", basis="bench")
    template = probe.model_dump_json().replace("%", "%%").replace("R" * 24, "%s").replace("F" * 19, "%s")
    stamp = base.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert template.count(stamp) == 2, template
    template = template.replace(stamp, "%s")
    days = [(base + timedelta(days=d)).strftime("%Y-%m-%dT%H:%M:%S") for d in range(-400, 3001)]
    conn = sqlite3.connect(db)
    # A bulk load with nothing to protect: no journal, and a cache the indexes fit in.
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1000000")
    due, rows = 0, []
    sql = "INSERT INTO retention_assignments (record_id, schedule_id, retain_until, doc) VALUES (?, ?, ?, ?)"
    for i in range(n):
        is_due = i % 100 == 0
        due += is_due
        day = days[400 - 1 - i % 300] if is_due else days[400 + 1 + i % 3000]
        record_id, until = f"bench-{i:012d}-{i % 9973:05d}", day + ".000000Z"
        # The JSON doc keeps pydantic's form of the time (second precision, 'Z'), as model_dump_json would.
        rows.append((record_id, schedule.id, until,
                     template % (record_id, f"CN-2026-{i:011d}", day + "Z", day + "Z")))
        if len(rows) >= 100_000:
            conn.executemany(sql, rows)
            conn.commit()
            rows = []
    conn.executemany(sql, rows)
    conn.commit()
    conn.execute("PRAGMA journal_mode=WAL")  # as the store keeps it
    conn.close()
    return due


def _count_only_forecast(db: Path, as_of: datetime) -> tuple[float, int, float]:
    """What the count-only forecast docs/scaling.md proposes would cost on SQLite: the due-looking
    assignments counted by horizon (three, the last at ``as_of``), kind and schedule in one
    aggregate over the retain-until index; then the holds' join over the same rows (the files
    whose verdict the sweep's per-file rules would still decide). Returns (seconds, files
    counted, seconds of the join)."""
    from records.storage.sqlite.retention import _HOLDS_ON

    horizons = [(as_of - timedelta(days=d)).strftime("%Y-%m-%dT%H:%M:%S.%fZ") for d in (60, 30, 0)]
    due = ("FROM retention_assignments a INDEXED BY retention_due WHERE a.retain_until IS NOT NULL"
           " AND a.batch_id IS NULL AND a.disposed_at IS NULL AND a.retain_until <= :h2"
           " AND json_extract(a.doc, '$.action') IN ('destroy', 'transfer', 'review')")
    args = dict(zip(("h0", "h1", "h2"), horizons, strict=True))
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        start = time.perf_counter()
        rows = conn.execute(
            "SELECT CASE WHEN a.retain_until <= :h0 THEN 0 WHEN a.retain_until <= :h1 THEN 1 ELSE 2 END,"
            " json_extract(a.doc, '$.kind'), a.schedule_id, json_extract(a.doc, '$.schedule.version'), count(*) "
            f"{due} GROUP BY 1, 2, 3, 4", args).fetchall()
        counted_s = time.perf_counter() - start
        start = time.perf_counter()
        conn.execute(f"SELECT count(*) {due} AND EXISTS ({_HOLDS_ON.replace(':rid', 'a.record_id')})", args).fetchone()
        held_s = time.perf_counter() - start
    finally:
        conn.close()
    return counted_s, sum(r[-1] for r in rows), held_s


def retention_sweep(tmp: Path, n: int) -> dict[str, float]:
    from records import clock
    from records.installation import Installation
    from records.models import Kind
    from records.retention.models import ScheduleRef
    from records.roles import Principal, Role
    from records.settings import load_settings

    settings = load_settings(data_dir=tmp / "sweep")

    async def schedule_ref() -> ScheduleRef:
        installation = await Installation.open(settings)
        try:
            assert installation.retention is not None
            schedule = next(s for s in await installation.retention.schedules() if s.kinds == [Kind.consultation])
            return ScheduleRef(id=schedule.id, version=schedule.version, name=schedule.name)
        finally:
            await installation.close()

    ref = asyncio.run(schedule_ref())
    start = time.perf_counter()
    due = _bulk_assignments(tmp / "sweep" / "records.sqlite3", n, ref)
    insert_s = time.perf_counter() - start

    async def sweep(forecast: bool) -> tuple[float, int, int]:
        """A forecast (run at today's clock over a future date: nothing stored, what the
        forecast page asks) or the real sweep on the day (due files stored in batches)."""
        installation = await Installation.open(settings)
        on_the_day = datetime(2030, 1, 1, tzinfo=UTC)
        if not forecast:
            clock.set_clock(lambda: on_the_day)
        try:
            assert installation.retention is not None
            start = time.perf_counter()
            swept = await installation.retention.sweep(Principal("bench", Role.archivist), as_of=on_the_day)
            seconds = time.perf_counter() - start
            return seconds, swept.due, len([b for b in swept.batches if b.id is not None])
        finally:
            clock.set_clock(None)
            await installation.close()

    forecast_s, forecast_due, _ = asyncio.run(sweep(forecast=True))
    counted_s, counted, held_s = _count_only_forecast(tmp / "sweep" / "records.sqlite3", datetime(2030, 1, 1, tzinfo=UTC))
    sweep_s, swept, batches = asyncio.run(sweep(forecast=False))
    if not swept == forecast_due == counted == due:
        raise RuntimeError(f"the sweep gathered {swept:,}, the forecast counted {forecast_due:,} and the aggregate "
                           f"{counted:,} of {due:,} due files")
    return {"assignments": n, "due": due, "batches": batches, "bulk_insert_rows_per_s": n / insert_s,
            "forecast_seconds": forecast_s, "forecast_due_per_s": due / forecast_s,
            "count_only_forecast_seconds": counted_s, "count_only_held_join_seconds": held_s,
            "sweep_seconds": sweep_s, "sweep_due_per_s": due / sweep_s,
            "database_mib": (tmp / "sweep" / "records.sqlite3").stat().st_size / 2**20}


# --- access events on MongoDB ---------------------------------------------------------------------

def _nx_27017(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start nx-27017 (MongoDB's wire protocol over in-memory SQLite) on a free port."""
    from pymongo import MongoClient

    from bench.server import free_port

    binary = Path(sys.executable).with_name("nx-27017")
    if not binary.exists():
        raise FileNotFoundError("nx-27017 is not installed (pip install -e '.[test]')")
    port = free_port()
    proc = subprocess.Popen([str(binary), "--host", "127.0.0.1", "-p", str(port), "--data-dir", "memory",
                             "--log-file", str(workdir / "nx.log"), "--pid-file", str(workdir / "nx.pid")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    url = f"mongodb://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with MongoClient(url, serverSelectionTimeoutMS=300) as client:
                if client.admin.command("ping").get("ok") == 1:
                    return proc, url
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("nx-27017 did not start")


def mongo_access_events(tmp: Path, events: int) -> dict[str, float]:
    from records.audit.service import GroupCommitter
    from records.storage.mongodb.audit import MongoAuditLog
    from records.storage.mongodb.database import MongoDatabase

    proc, url = _nx_27017(tmp)

    def draft(i: int) -> AuditEventDraft:
        return AuditEventDraft(at=AT, actor="agent-0001", role="agent", action="record.read",
                               targets=[f"record:{i}"], outcome=Outcome.allowed, status=200)

    async def run() -> dict[str, float]:
        results: dict[str, float] = {}
        for name in ("one_by_one", "batch_10", "batch_100", "batch_1000", "group_commit_64"):
            db = MongoDatabase(f"{url}/{name}")
            log = MongoAuditLog(db)
            await db.ready()
            # One event per transaction is slow: a tenth of the events is enough to time it.
            n = max(events // 10, 100) if name == "one_by_one" else events
            start = time.perf_counter()
            if name == "one_by_one":
                for i in range(n):
                    await log.append([draft(i)])
            elif name.startswith("batch_"):
                size = int(name.removeprefix("batch_"))
                for first in range(0, n, size):
                    await log.append([draft(i) for i in range(first, min(first + size, n))])
            else:
                committer = GroupCommitter(log)

                async def reader(slot: int) -> None:
                    for i in range(slot, n, 64):  # noqa: B023 - called within the iteration
                        await committer.append([draft(i)])  # noqa: B023 - called within the iteration

                await asyncio.gather(*(reader(s) for s in range(64)))
            results[f"{name}_events_per_s"] = n / (time.perf_counter() - start)
            if await log.size() != n:
                raise RuntimeError(f"{name}: the log holds {await log.size()} of {n} events")
            await db.close()
        return results

    try:
        return asyncio.run(run())
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def mongo_destruction_writes(tmp: Path, files: int) -> dict[str, float]:
    """The writes destroying a file makes on MongoDB (data key deleted, record replaced by its
    pruned copy, tombstone inserted, assignment and batch item marked disposed, one audit event
    with its counter) for ``files`` files, one transaction per file and one per 100 files: what
    docs/scaling.md's destruction in batches would commit. Setup (the files' documents) is not timed."""
    from pymongo import ReplaceOne

    from records.storage.mongodb.audit import insert_events
    from records.storage.mongodb.database import MongoDatabase

    proc, url = _nx_27017(tmp)
    body = {"status": "archived", "kind": "complaint", "doc": {"sealed": {"description": "v1." + "x" * 2400}}}

    def ids(run: str) -> list[str]:
        return [f"{run}-{i:08d}" for i in range(files)]

    async def seed(db: MongoDatabase, run: str) -> None:
        c = db.collection
        await c("records").insert_many([{"_id": i, "record_id": i, **body} for i in ids(run)])
        await c("data_keys").insert_many([{"_id": i, "wrapped": os.urandom(60), "doomed_at": "2030"} for i in ids(run)])
        await c("retention_assignments").insert_many([{"_id": i, "record_id": i, "disposed": False} for i in ids(run)])
        await c("disposition_items").insert_many([{"_id": f"b/{i}", "batch_id": "b", "state": "approved"} for i in ids(run)])

    async def destroy(db: MongoDatabase, batch: list[str]) -> None:
        async def writes(session) -> None:  # type: ignore[no-untyped-def]
            c = db.collection
            await c("data_keys").delete_many({"_id": {"$in": batch}}, session=session)
            await c("records").bulk_write([ReplaceOne({"_id": i}, {"record_id": i, "status": "destroyed", "kind": "complaint",
                                                               "destroyed_at": "2030-01-01", "doc": {"sealed": {}}})
                                           for i in batch], ordered=False, session=session)
            await c("tombstones").insert_many([{"_id": i, "batch_id": "b", "doc": {"content_hash": "0" * 64}}
                                               for i in batch], session=session)
            await c("retention_assignments").update_many({"_id": {"$in": batch}}, {"$set": {"disposed": True}},
                                                         session=session)
            await c("disposition_items").update_many({"_id": {"$in": [f"b/{i}" for i in batch]}},
                                                     {"$set": {"state": "disposed"}}, session=session)
            await insert_events(db, [AuditEventDraft(at=AT, actor="system:retention", role="system",
                                                     action="retention.destroy", targets=[f"record:{i}"],
                                                     outcome=Outcome.allowed) for i in batch], session)

        await db.transaction(writes)

    async def run() -> dict[str, float]:
        results: dict[str, float] = {}
        for name, size in (("one_per_transaction", 1), ("batch_100", 100)):
            db = MongoDatabase(f"{url}/destroy_{name}")
            await db.ready()
            await seed(db, name)
            batch_ids = ids(name)
            start = time.perf_counter()
            for first in range(0, files, size):
                await destroy(db, batch_ids[first:first + size])
            results[f"{name}_files_per_s"] = files / (time.perf_counter() - start)
            if await db.collection("data_keys").count_documents({}) != 0:
                raise RuntimeError(f"{name}: keys were left behind")
            await db.close()
        return results

    try:
        return asyncio.run(run())
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --- sizes ----------------------------------------------------------------------------------------

def document_sizes(tmp: Path) -> dict[str, float]:
    """BSON bytes of what one file and one access event put in MongoDB, and the bytes an event
    takes in a sealed, compressed segment in object storage."""
    import bson

    from records.audit.merkle import leaf_hash as _leaf
    from records.clock import to_text
    from records.installation import Installation
    from records.models import Channel, Customer, Kind, RecordCreate, Urgency
    from records.retention.models import RetentionAssignment, ScheduleRef
    from records.roles import Principal, Role
    from records.settings import load_settings
    from records.storage.mongodb.records import record_document
    from records.storage.mongodb.retention import assignment_doc

    async def filed():  # type: ignore[no-untyped-def]
        installation = await Installation.open(load_settings(data_dir=tmp / "sizes"))
        try:
            rec = await installation.records.file(RecordCreate(
                kind=Kind.complaint, channel=Channel.phone, urgency=Urgency.general, subject="宽带每晚断线，已报修两次",
                description="客户反映家中宽带每晚八点后频繁断线，已两次报修未解决，要求上门检修并减免当月费用。",
                customer=Customer(name="张三", phone="13812345678", account="A10000001")), Principal("bench", Role.admin))
            return await installation.storage.records.get(rec.id)
        finally:
            await installation.close()

    stored = asyncio.run(filed())
    record = record_document(stored).model_dump(by_alias=True)
    deadlines = [{"_id": f"{stored.id}/{d.name}", "record_id": stored.id, "name": d.name, "reference": stored.reference,
                  "kind": stored.kind.value, "due_at": to_text(d.due_at), "met_at": None, "open": True, "late": False,
                  "record_destroyed": False, "breach_reported_at": None} for d in stored.deadlines]
    key = {"_id": stored.id, "key_version": 1, "kek_id": "kek-2026-01", "wrapped": os.urandom(60),
           "created_at": to_text(stored.created_at), "doomed_at": None}
    assignment = assignment_doc(RetentionAssignment(
        record_id=stored.id, reference=stored.reference, kind=stored.kind,
        schedule=ScheduleRef(id=str(uuid.uuid4()), version=1, name="Complaints: 3 years after closing"),
        trigger="archived", trigger_at=AT, retain_until=AT + timedelta(days=3 * 365), action="destroy",
        basis="Complaints: 3 years after closing, from archived on 2026-12-01"))
    event = _event(123_456_789)
    event_doc = {"_id": event.seq, "seq": event.seq, "at": to_text(event.at), "actor": event.actor, "role": event.role,
                 "action": event.action, "outcome": event.outcome.value, "request_id": event.request_id,
                 "targets": event.targets, "canonical": event.canonical()}
    rng = random.Random(19)
    segment = b"\n".join(_event(i, rng).canonical() for i in range(100_000))
    start = time.perf_counter()
    packed = zlib.compress(segment, 6)
    compress_s = time.perf_counter() - start
    return {"record_bson_bytes": len(bson.encode(record)),
            "deadlines_bson_bytes": sum(len(bson.encode(d)) for d in deadlines), "deadlines_per_file": len(deadlines),
            "data_key_bson_bytes": len(bson.encode(key)), "assignment_bson_bytes": len(bson.encode(assignment)),
            "event_bson_bytes": len(bson.encode(event_doc)), "event_canonical_bytes": len(event.canonical()),
            "event_compressed_bytes": len(packed) / 100_000, "compress_mib_per_s": len(segment) / 2**20 / compress_s,
            "node_bytes": len(bson.encode({"_id": "0:123456789", "hash": _leaf(b"x")}))}


# --- the run --------------------------------------------------------------------------------------

def run() -> dict:
    results: dict = {"load_average_at_start": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as name:
        tmp = Path(name)
        parts = (("log_of_logs", lambda: log_of_logs(EVENTS, LOGS)),
                 ("audit_service", lambda: audit_service_path(tmp, SERVICE_EVENTS)),
                 ("mongo_access_events", lambda: mongo_access_events(tmp, MONGO_EVENTS)),
                 ("mongo_destruction_writes", lambda: mongo_destruction_writes(tmp, MONGO_FILES)),
                 ("sizes", lambda: document_sizes(tmp)),
                 ("retention_sweep", lambda: retention_sweep(tmp, ASSIGNMENTS)))
        for part, measure in parts:
            start = time.perf_counter()
            results[part] = {k: round(v, 2) if isinstance(v, float) else v for k, v in measure().items()}
            print(f"  {part}: {time.perf_counter() - start:.0f} s")
    _report(results)
    return results


def _report(r: dict) -> None:
    logs, svc, mongo, sizes, sweep = (r[k] for k in ("log_of_logs", "audit_service", "mongo_access_events", "sizes",
                                                     "retention_sweep"))
    print(f"scale (load average {r['load_average_at_start']} at start)")
    print(f"  {logs['events']:,} events in {logs['logs']} logs under a log of logs, {logs['processes']} processes:")
    print(f"    seal   {logs['seal_events_per_s']:>12,.0f} events/s ({logs['seal_seconds']:.1f} s), "
          f"one log alone {logs['one_log_seal_events_per_s']:,.0f}/s; raw SHA-256 {logs['raw_sha256_leaves_per_s']:,.0f} leaves/s")
    print(f"    verify {logs['verify_events_per_s']:>12,.0f} events/s ({logs['verify_seconds']:.1f} s); "
          f"{logs['nodes_per_event']:.2f} stored nodes per event")
    print(f"  AuditService over {svc['events']:,} events in memory: seal {svc['seal_events_per_s']:,.0f}/s, "
          f"verify {svc['verify_events_per_s']:,.0f}/s ({svc['verify_us_per_event']:.1f} µs per event)")
    print(f"  nx-27017 access events/s: one per transaction {mongo['one_by_one_events_per_s']:,.0f}, batches of 10 "
          f"{mongo['batch_10_events_per_s']:,.0f}, 100 {mongo['batch_100_events_per_s']:,.0f}, 1000 "
          f"{mongo['batch_1000_events_per_s']:,.0f}; 64 readers through the group committer "
          f"{mongo['group_commit_64_events_per_s']:,.0f}")
    destroy = r["mongo_destruction_writes"]
    print(f"  nx-27017 destruction writes: {destroy['one_per_transaction_files_per_s']:,.0f} files/s one per transaction, "
          f"{destroy['batch_100_files_per_s']:,.0f} files/s in batches of 100")
    print(f"  BSON bytes: record {sizes['record_bson_bytes']}, {sizes['deadlines_per_file']} deadlines "
          f"{sizes['deadlines_bson_bytes']}, data key {sizes['data_key_bson_bytes']}, assignment "
          f"{sizes['assignment_bson_bytes']}, event {sizes['event_bson_bytes']} ({sizes['event_canonical_bytes']} canonical, "
          f"{sizes['event_compressed_bytes']:.0f} compressed in a segment), node {sizes['node_bytes']}")
    print(f"  over {sweep['assignments']:,} assignments, {sweep['due']:,} due: forecast {sweep['forecast_seconds']:.1f} s "
          f"= {sweep['forecast_due_per_s']:,.0f} due files/s; counted by one aggregate {sweep['count_only_forecast_seconds']:.2f} s "
          f"(+ the holds' join {sweep['count_only_held_join_seconds']:.2f} s); sweep into {sweep['batches']} batches "
          f"{sweep['sweep_seconds']:.1f} s = {sweep['sweep_due_per_s']:,.0f} due files/s "
          f"(setup {sweep['bulk_insert_rows_per_s']:,.0f} rows/s, {sweep['database_mib']:,.0f} MiB)")
