"""Checkpoints under Object Lock (issue 8): a data dir rolled back whole — database and the
published checkpoint file together — is still caught, by the copies the bucket keeps locked."""

from __future__ import annotations

import asyncio
import shutil
import uuid

import pytest

from records.audit.events import AuditEventDraft, Outcome
from records.audit.service import AuditUnavailable
from records.clock import utcnow
from records.installation import Installation
from records.settings import RecordsSettings


def _drafts(n: int) -> list[AuditEventDraft]:
    return [AuditEventDraft(at=utcnow(), actor="alice", role="agent", action="record.read",
                            targets=[f"record:{uuid.uuid4()}"], outcome=Outcome.allowed) for _ in range(n)]


@pytest.mark.parametrize("fixture", ["seaweedfs_s3", "real_s3"], ids=["s3-seaweedfs", "s3-real"])
def test_a_data_dir_rolled_back_whole_is_caught_by_the_locked_checkpoints(fixture, request, tmp_path):
    server = request.getfixturevalue(fixture)
    data_dir = tmp_path / "data"
    settings = RecordsSettings(data_dir=data_dir, blobs=f"s3://ckpt-{uuid.uuid4().hex[:12]}", s3_endpoint=server.endpoint,
                               s3_access_key=server.access_key, s3_secret_key=server.secret_key, s3_secure=server.secure)

    async def seal_more(n: int) -> int:
        installation = await Installation.open(settings)
        try:
            await installation.audit.append(_drafts(n))
            return (await installation.audit.seal()).tree_size
        finally:
            await installation.close()

    async def main() -> None:
        await seal_more(3)
        snapshot = tmp_path / "snapshot"
        shutil.copytree(data_dir, snapshot)  # what an attacker keeps to roll back to
        newer = await seal_more(5)

        shutil.rmtree(data_dir)
        shutil.copytree(snapshot, data_dir)  # database and checkpoint file rolled back together

        installation = await Installation.open(settings)
        try:
            report = await installation.audit.verify()
            assert not report.ok
            assert f"tree size {newer}" in report.problem and "rolled back" in report.problem
            with pytest.raises(AuditUnavailable):
                await installation.audit.seal()  # never signs a fork of what the bucket holds
        finally:
            await installation.close()

    asyncio.run(main())


def test_an_untouched_installation_verifies_with_its_locked_checkpoints(seaweedfs_s3, tmp_path):
    server = seaweedfs_s3
    settings = RecordsSettings(data_dir=tmp_path / "data", blobs=f"s3://ckpt-{uuid.uuid4().hex[:12]}",
                               s3_endpoint=server.endpoint, s3_access_key=server.access_key,
                               s3_secret_key=server.secret_key, s3_secure=server.secure)

    async def main() -> None:
        for _ in range(2):
            installation = await Installation.open(settings)
            try:
                await installation.audit.append(_drafts(2))
                await installation.audit.seal()
                assert (await installation.audit.verify()).ok
                assert installation.audit._locked is not None and await installation.audit._locked.latest() is not None
            finally:
                await installation.close()

    asyncio.run(main())
