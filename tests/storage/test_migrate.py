"""``records migrate``: an embedded installation moves to MongoDB and S3 and is proven identical,
then opens on the new backends with its records, attachments, tokens and audit log intact."""

from __future__ import annotations

import asyncio

from click.testing import CliRunner
from litestar.testing import TestClient

from records.api.app import create_app
from records.cli import main
from records.installation import Installation
from records.settings import load_settings


def test_migrate_embedded_to_mongo_and_s3_proves_and_serves(data_dir, nx_mongodb_url, seaweedfs_s3, monkeypatch):
    settings = load_settings(data_dir=data_dir)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        with client.portal() as portal:
            token = portal.call(client.app.state.token_service.issue, "alice", "agent").token
        agent = {"Authorization": f"Bearer {token}"}
        created = client.post("/api/v1/records", headers=agent, json={
            "kind": "complaint", "channel": "phone", "urgency": "major",
            "customer": {"name": "张三", "phone": "13812345678", "account": "ACC-1001"},
            "subject": "No signal", "description": "No signal since Monday."})
        assert created.status_code == 201, created.text
        record_id = created.json()["id"]
        attached = client.post(f"/api/v1/records/{record_id}/attachments", headers=agent,
                               files={"file": ("report.txt", b"site report " * 10_000, "text/plain")})
        assert attached.status_code == 201, attached.text
        attachment_id = attached.json()["id"]

    async def govern() -> None:  # retention and plugin state the migration must carry over
        from datetime import UTC, datetime

        from records.ports import TrustedKey
        from records.retention.models import LegalHold
        from records.storage.embedded import EmbeddedStorage

        storage = EmbeddedStorage.open(data_dir)
        try:
            now = datetime.now(UTC)
            await storage.retention.add_hold(LegalHold(id="hold-1", reason="litigation", case_reference="case 7",
                                                       record_ids=[record_id], placed_at=now, placed_by="admin"))
            await storage.plugins.add_trusted_key(TrustedKey(name="acme", public_key="PEM", fingerprint="f1",
                                                             added_at=now, added_by="admin"))
            await storage.plugins.set_builtin_disabled("records-example", True)
        finally:
            await storage.close()

    asyncio.run(govern())

    for name, value in (("ENDPOINT", seaweedfs_s3.endpoint), ("ACCESS_KEY", seaweedfs_s3.access_key),
                        ("SECRET_KEY", seaweedfs_s3.secret_key), ("SECURE", "false")):
        monkeypatch.setenv(f"RECORDS_S3_{name}", value)
    store = f"{nx_mongodb_url}/migrated"
    result = CliRunner().invoke(main, ["migrate", "--data-dir", str(data_dir), "--to-store", store,
                                       "--to-blobs", "s3://migrated"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "DIFFERENT" not in result.stdout and "audit root" in result.stdout
    assert "records                 1          1  same" in result.stdout
    assert "legal holds             1          1  same" in result.stdout
    assert "trusted keys            1          1  same" in result.stdout

    again = CliRunner().invoke(main, ["migrate", "--data-dir", str(data_dir), "--to-store", store,
                                      "--to-blobs", "s3://migrated"])
    assert again.exit_code != 0 and "[migration_failed]" in again.output  # never into a non-empty store

    production = load_settings(data_dir=data_dir, store=store, blobs="s3://migrated")
    with TestClient(create_app(production), raise_server_exceptions=False) as client:
        read = client.get(f"/api/v1/records/{record_id}", headers=agent)  # the same token, migrated
        assert read.status_code == 200 and read.json()["subject"] == "No signal"
        download = client.get(f"/api/v1/records/{record_id}/attachments/{attachment_id}", headers=agent)
        assert download.status_code == 200 and download.content == b"site report " * 10_000

    async def verify() -> None:
        installation = await Installation.open(production)
        try:
            report = await installation.audit.verify()
            assert report.ok, report.problem
            storage = installation.storage
            assert await storage.retention.holds_on(record_id) == ["hold-1"]
            assert [k.name for k in await storage.plugins.list_trusted_keys()] == ["acme"]
            assert "records-example" in await storage.plugins.disabled_builtins()
            assert await storage.retention.schedules()  # the seeded defaults
        finally:
            await installation.close()

    asyncio.run(verify())
