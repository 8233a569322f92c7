"""Object Lock follows retention (issue 8, WORM) on S3 (SeaweedFS, and real MinIO when configured):
an archived record's attachments are kept by the storage itself until the retain-until date and
while a legal hold covers the record; afterwards destruction removes every version. On local disk
(no ``LockingBlobStore``) the same calls do nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from records.attachments import blob_key
from records.errors import BlobLocked
from records.ports import LockingBlobStore
from records.retention.holds import LegalHolds
from records.retention.models import LegalHold
from records.retention.object_locks import ObjectLocks
from records.stored import StoredAttachment
from tests.helpers.storages import STORAGES, Backends, chunks, key_of, make_record


@pytest.mark.parametrize("name", ["s3-seaweedfs", "s3-real", "embedded"])
def test_attachments_are_locked_until_retain_until_and_while_held(name, request, tmp_path):
    async def main():
        storage = STORAGES[name](Backends(tmp_path, request))
        locks = ObjectLocks(storage.blobs)
        holds = LegalHolds(storage.retention, None, storage.records, locks)  # type: ignore[arg-type]  # no lookups here
        now = datetime.now(UTC)
        record = make_record(1).model_copy(update={"attachments": [
            StoredAttachment(id="a1", content_type="text/plain", size=5, uploaded_at=now, uploaded_by="alice")]})
        await storage.records.add(record, key_of(record))
        key = blob_key(record.id, "a1")
        await storage.blobs.put(key, chunks(b"hello"))
        locking = isinstance(storage.blobs, LockingBlobStore)
        assert locking == name.startswith("s3")

        until = now + timedelta(seconds=3)
        await locks.lock(record, until)  # archived: retention up to retain-until
        await locks.lock(record, now - timedelta(days=1))  # a date already past: nothing to lock
        hold = LegalHold(id="h1", reason="r", case_reference="c", record_ids=[record.id], placed_at=now, placed_by="x")
        other = hold.model_copy(update={"id": "h2"})
        for h in (hold, other):
            await storage.retention.add_hold(h)
            await holds.apply_object_holds(h, True)
        if locking:
            assert (await storage.blobs.retention(key))[0] == "governance"
            assert await storage.blobs.legal_hold(key)
            with pytest.raises(BlobLocked):
                await storage.blobs.delete(key)
        while datetime.now(UTC) <= until + timedelta(seconds=1):
            await asyncio.sleep(0.2)
        released = hold.model_copy(update={"released_at": datetime.now(UTC), "released_by": "x", "release_reason": "r"})
        await storage.retention.release_hold(released)
        await holds.apply_object_holds(released, False)  # h2 still covers the record: the object stays held
        if locking:
            assert await storage.blobs.legal_hold(key)
            with pytest.raises(BlobLocked):
                await storage.blobs.delete(key)
        released = other.model_copy(update={"released_at": datetime.now(UTC), "released_by": "x", "release_reason": "r"})
        await storage.retention.release_hold(released)
        await holds.apply_object_holds(released, False)
        if locking:
            assert not await storage.blobs.legal_hold(key)
        await storage.blobs.delete(key)  # retention over, no hold: destruction removes every version
        assert not await storage.blobs.exists(key)
        if locking:
            assert await storage.blobs._versions(key) == []
        await storage.close()

    asyncio.run(main())


@pytest.mark.parametrize("fixture", ["seaweedfs_s3", "real_s3"], ids=["s3-seaweedfs", "s3-real"])
def test_fsck_finds_and_repairs_a_held_attachment_without_its_object_legal_hold(fixture, request, tmp_path, monkeypatch):
    """Setting the object legal hold can fail after the hold committed (the database hold still stops
    every destruction); `records fsck` reports the gap and `--repair` closes it."""
    import json
    import uuid

    from click.testing import CliRunner
    from litestar.testing import TestClient

    from records.api.app import create_app
    from records.cli import main
    from records.roles import Role
    from records.settings import RecordsSettings
    from tests.conftest import record_body

    server = request.getfixturevalue(fixture)
    env = {"RECORDS_DATA_DIR": str(tmp_path / "data"), "RECORDS_BLOBS": f"s3://fsck-{uuid.uuid4().hex[:12]}",
           "RECORDS_S3_ENDPOINT": server.endpoint, "RECORDS_S3_ACCESS_KEY": server.access_key,
           "RECORDS_S3_SECRET_KEY": server.secret_key, "RECORDS_S3_SECURE": str(server.secure).lower()}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = RecordsSettings()
    with TestClient(create_app(settings)) as client:
        with client.portal() as portal:
            agent, archivist = (portal.call(client.app.state.token_service.issue, n, r.value).token
                                for n, r in (("alice", Role.agent), ("ann", Role.archivist)))
            made = client.post("/api/v1/records", json=record_body(), headers={"Authorization": f"Bearer {agent}"}).json()
            uploaded = client.post(f"/api/v1/records/{made['id']}/attachments", headers={"Authorization": f"Bearer {agent}"},
                                   files={"file": ("log.txt", b"signal log", "text/plain")}).json()
            held = client.post("/api/v1/retention/holds", headers={"Authorization": f"Bearer {archivist}"},
                               json={"reason": "Litigation", "case_reference": "C-1", "record_ids": [made["id"]]})
            assert held.status_code == 201, held.text
            blobs, key = client.app.state.storage.blobs, blob_key(made["id"], uploaded["id"])
            assert portal.call(blobs.legal_hold, key)
            portal.call(blobs.set_legal_hold, key, False)  # as if setting it had failed

    def fsck(*flags: str) -> tuple[int, dict]:
        result = CliRunner().invoke(main, ["fsck", "--json", *flags], catch_exceptions=False)
        return result.exit_code, json.loads(result.stdout)

    code, report = fsck()
    assert code == 1 and [f["code"] for f in report["findings"]] == ["legal_hold_missing"]
    assert report["findings"][0]["subject"] == f"blob:{key}"
    code, report = fsck("--repair")
    assert code == 0 and report["findings"][0]["repaired"]
    code, report = fsck()
    assert code == 0 and report["findings"] == []
