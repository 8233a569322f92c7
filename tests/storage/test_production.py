"""What the production backends add to the storage contract, run over every adapter it applies
to: the audit log (contiguous numbering under concurrency, sealing, verification), breach claims,
metric aggregation (identical to SQLite's on the same files), leases, and S3 Object Lock
(retention, legal hold, destruction of every version)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from records.audit.events import AuditEventDraft, Outcome
from records.audit.service import AuditService
from records.crypto.keyring import LocalKeyring
from records.errors import BlobLocked
from records.metrics import Measure, MetricQuery, MetricRegistry, Period
from records.models import Complexity, Deadline, Delivery, Kind, ServiceType, Urgency
from records.plugins.manager import plugin_manager
from records.stored import IncidentWindow, StoredFeedback
from tests.helpers.storages import STORAGES, Backends, chunks, key_of, make_record

RECORD_STORES = sorted(n for n in STORAGES if not n.startswith("s3"))  # record-side ports
BLOB_STORES = ["s3-seaweedfs", "s3-real"]


def run(fn):  # type: ignore[no-untyped-def]
    return asyncio.run(fn())


@pytest.fixture(params=RECORD_STORES)
def backends(request, tmp_path) -> tuple[str, Backends]:
    return request.param, Backends(tmp_path, request)


def _draft(n: int) -> AuditEventDraft:
    return AuditEventDraft(at=datetime(2026, 5, 1, tzinfo=UTC) + timedelta(seconds=n), actor=f"user{n % 3}",
                           role="agent", action="record.read", targets=[f"record:rec-{n}"], outcome=Outcome.allowed)


def test_audit_log_numbers_concurrent_appends_contiguously_seals_and_verifies(backends, tmp_path: Path):
    name, b = backends

    async def main():
        storage = STORAGES[name](b)
        keyring = LocalKeyring.open(tmp_path / "keyring", None)
        audit = AuditService(storage.audit, keyring, tmp_path / "published.jsonl", storage.leases)
        # Appends straight to the store, concurrently: sequence numbers come from the store.
        batches = await asyncio.gather(*[storage.audit.append([_draft(i), _draft(i + 100)]) for i in range(20)])
        seqs = sorted(e.seq for batch in batches for e in batch)
        assert seqs == list(range(40))
        record = make_record(1)
        await storage.records.add(record, key_of(record), [_draft(500)])
        assert await storage.audit.size() == 41
        checkpoint = await audit.seal()
        assert checkpoint.tree_size == 41
        assert (await audit.verify()).ok
        await storage.audit.append([_draft(600)])
        assert (await audit.seal()).tree_size == 42
        report = await audit.verify()
        assert report.ok and report.events == 42 and report.checkpoints == 2
        assert await audit.root_at(41) == checkpoint.root_hash
        found = await storage.audit.find(__import__("records.audit.log", fromlist=["EventQuery"]).EventQuery(
            actor="user1", target="record:rec-1"))
        assert [e.seq for e in found] and all(e.actor == "user1" for e in found)
        await audit.resign()
        await storage.close()

    run(main)


def test_each_breach_is_claimed_once(backends):
    name, b = backends

    async def main():
        storage = STORAGES[name](b)
        now = datetime(2026, 6, 1, tzinfo=UTC)
        late = make_record(1).model_copy(update={"deadlines": [
            Deadline(name="response_general", title="r", due_at=now - timedelta(hours=1)),
            Deadline(name="registration", title="g", due_at=now + timedelta(days=1)),
        ]})
        await storage.records.add(late, key_of(late))

        def events(claims):  # type: ignore[no-untyped-def]
            return [_draft(0) for _ in claims]

        first, second = await asyncio.gather(storage.records.claim_breaches(now, 10, events),
                                             storage.records.claim_breaches(now, 10, events))
        assert sorted(c.name for c in first + second) == ["response_general"]
        assert await storage.audit.size() == 1
        # A replace keeps the report; the new deadline, met late, is a new breach.
        changed = late.model_copy(update={"version": 2, "deadlines": [
            *late.deadlines[:1], Deadline(name="registration", title="g", due_at=now - timedelta(days=2),
                                          met_at=now - timedelta(days=1))]})
        assert await storage.records.replace(changed, expected_version=1)
        assert [c.name for c in await storage.records.claim_breaches(now, 10, events)] == ["registration"]
        assert await storage.records.claim_breaches(now, 10, events) == []
        await storage.close()

    run(main)


def _files() -> list:  # type: ignore[type-arg]
    """Files over several days, weeks and months, with ratings, results, owners and deadlines."""
    base = datetime(2026, 9, 28, 9, tzinfo=UTC)  # a Monday
    files = []
    for n in range(1, 41):
        received = base + timedelta(days=n * 1.7, minutes=n)
        record = make_record(n, created=received, owner="alice")
        due = received + timedelta(minutes=20)
        met = received + timedelta(minutes=5 + n % 4 * 10) if n % 5 else None
        update = {
            "urgency": [Urgency.general, Urgency.urgent, Urgency.major][n % 3],
            "complexity": Complexity.complex if n % 4 == 0 else None,
            "owner": "alice" if n % 6 else "bob",
            "status": "archived" if n % 3 == 0 else "open",
            "archived_at": received + timedelta(days=2) if n % 3 == 0 else None,
            "result_at": received + timedelta(hours=n) if n % 2 else None,
            "feedback": StoredFeedback(satisfaction=1 + n % 5, given_at=received + timedelta(days=1)) if n % 4 else None,
            "deadlines": [Deadline(name="response_general", title="r", due_at=due, met_at=met),
                          Deadline(name="result_feedback", title="f", due_at=received + timedelta(days=2))]
                         + ([Deadline(name="delivery_feedback_response", title="d", due_at=received + timedelta(hours=24),
                                      met_at=received + timedelta(hours=n % 30))] if n % 7 < 3 else []),
            "service_failed": [None, True, False][n % 3],
            **({"kind": Kind.work_order} if n % 7 < 3 else {}),
            "delivery": Delivery(failed_attempts=n % 3, accepted_at=received + timedelta(days=1) if n % 2 else None)
            if n % 7 < 3 else None,
            "incident_window": IncidentWindow(
                started_at=received, ended_at=received + timedelta(minutes=30 * n) if n % 9 else None,
                service_type=[ServiceType.network, ServiceType.voice, None][n % 3]) if n % 4 == 1 else None,
        }
        files.append(record.model_copy(update=update))
    return files


def test_metrics_aggregate_like_sqlite(backends, tmp_path: Path):
    """Every built-in metric, grouped every way, filtered, gives what the SQLite adapter gives."""
    name, b = backends
    if name == "embedded":
        pytest.skip("the reference itself")
    metrics = MetricRegistry.from_plugins(plugin_manager().hook).metrics
    assert len(metrics) >= 8

    async def main():
        reference = STORAGES["embedded"](Backends(tmp_path / "reference", b.request))
        storage = STORAGES[name](b)
        for record in _files():
            await reference.records.add(record, key_of(record))
            await storage.records.add(record, key_of(record))
        now = datetime(2026, 12, 1, tzinfo=UTC)
        queries = [MetricQuery(now=now, group_by=period) for period in (None, *Period)]
        queries.append(MetricQuery(now=now, received_from=datetime(2026, 10, 10, tzinfo=UTC),
                                   received_to=datetime(2026, 11, 5, tzinfo=UTC), group_by=Period.week))
        for metric in metrics.values():
            if metric.measure is Measure.availability:
                continue  # computed from outages, compared below
            for query in queries:
                expected = await reference.records.aggregate(metric, query)
                assert expected, metric.name
                # As users get them (six decimals): julianday and millisecond arithmetic differ in the last bits.
                got = await storage.records.aggregate(metric, query)
                assert [g.model_dump(mode="json") for g in got] == [e.model_dump(mode="json") for e in expected], \
                    (metric.name, query.group_by)
        for service in (None, "network", "voice"):
            span = (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 15, tzinfo=UTC))
            expected = sorted(await reference.records.outages(*span, service))
            assert expected, service
            assert sorted(await storage.records.outages(*span, service)) == expected, service
        await reference.close()
        await storage.close()

    run(main)


def test_leases_admit_one_holder_and_pass_on_after_expiry(backends):
    name, b = backends
    if name == "embedded":
        pytest.skip("one serving process per data dir: the embedded store has no leases")

    async def main():
        first, second = STORAGES[name](b), STORAGES[name](b)
        assert await first.leases.acquire("audit-sealer", 0.5)
        assert not await second.leases.acquire("audit-sealer", 0.5)
        assert await first.leases.acquire("audit-sealer", 0.5)  # renewal
        await asyncio.sleep(0.7)
        assert await second.leases.acquire("audit-sealer", 30)  # the first stopped renewing
        assert not await first.leases.acquire("audit-sealer", 30)
        await second.leases.release("audit-sealer")
        assert await first.leases.acquire("audit-sealer", 30)
        await first.close()
        await second.close()

    run(main)


@pytest.fixture(params=BLOB_STORES)
def s3_blobs(request, tmp_path):  # type: ignore[no-untyped-def]
    return Backends(tmp_path, request).s3("seaweedfs_s3" if request.param == "s3-seaweedfs" else "real_s3")


def test_s3_retention_legal_hold_and_destruction_of_every_version(s3_blobs):
    blobs = s3_blobs

    async def main():
        await blobs.put("attachments/r1/a1", chunks(b"first version"))
        await blobs.put("attachments/r1/a1", chunks(b"second version"))  # a second version of the key
        until = datetime.now(UTC) + timedelta(seconds=4)
        await blobs.set_retention("attachments/r1/a1", until)
        mode, kept_until = await blobs.retention("attachments/r1/a1")
        assert mode == "governance" and abs((kept_until - until).total_seconds()) < 1.5
        with pytest.raises(BlobLocked):
            await blobs.delete("attachments/r1/a1")
        assert b"".join([c async for c in await blobs.open("attachments/r1/a1")]) == b"second version"

        await blobs.put("attachments/r1/held", chunks(b"evidence"))
        await blobs.set_legal_hold("attachments/r1/held", True)
        assert await blobs.legal_hold("attachments/r1/held")
        with pytest.raises(BlobLocked):
            await blobs.delete("attachments/r1/held")
        await blobs.set_legal_hold("attachments/r1/held", False)
        await blobs.delete("attachments/r1/held")
        assert not await blobs.exists("attachments/r1/held")
        assert await blobs._versions("attachments/r1/held") == []

        await asyncio.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 1.5)
        await blobs.delete("attachments/r1/a1")  # retention over: destruction removes every version
        assert await blobs._versions("attachments/r1/a1") == []
        assert not await blobs.exists("attachments/r1/a1")
        await blobs.close()

    run(main)


def test_s3_upload_streams_in_parts_and_a_failed_stream_leaves_nothing(s3_blobs):
    import hashlib

    blobs = s3_blobs
    data = bytes(range(256)) * (4096 * 21)  # 21 MiB: three parts

    async def main():
        stored = await blobs.put("attachments/big/a", chunks(data, 64 * 1024))
        assert stored.size == len(data) and stored.sha256 == hashlib.sha256(data).hexdigest()
        digest = hashlib.sha256()
        async for chunk in await blobs.open("attachments/big/a"):
            digest.update(chunk)
        assert digest.hexdigest() == stored.sha256

        async def failing():  # type: ignore[no-untyped-def]
            async for chunk in chunks(data, 64 * 1024):
                yield chunk
            raise RuntimeError("client went away")

        with pytest.raises(RuntimeError):
            await blobs.put("attachments/big/b", failing())
        assert not await blobs.exists("attachments/big/b")
        await blobs.close()

    run(main)
