"""Every hook is documented, and the key-provider hook really lets a plugin wrap data keys."""

from __future__ import annotations

import secrets
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from litestar.testing import TestClient

from records import hookimpl
from records.api.app import create_app
from records.crypto.keyring import KekInfo
from records.errors import KeyUnavailable
from records.plugins.manager import plugin_manager
from tests.conftest import record_body

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugin_hooks.md"


def test_every_hook_is_documented():
    pm = plugin_manager()
    documented = DOCS.read_text()
    hooks = [name for name in dir(pm.hook) if name.startswith("records_")]
    assert hooks, "no hooks found"
    for name in hooks:
        assert f"## {name}" in documented, f"hook {name} is missing from docs/plugin_hooks.md"


class FakeKms:
    """Stands in for a KMS: keys never leave it, data keys are wrapped by its current version."""

    def __init__(self) -> None:
        self.versions = {1: AESGCM(secrets.token_bytes(32))}
        self.calls: list[str] = []

    def active_kek_id(self) -> str:
        return f"fake-kms:{max(self.versions)}"

    def wrap(self, kek_id, data_key, associated_data):
        self.calls.append("wrap")
        nonce = secrets.token_bytes(12)
        return nonce + self.versions[int(kek_id.split(":")[1])].encrypt(nonce, data_key, associated_data)

    def unwrap(self, kek_id, wrapped, associated_data):
        self.calls.append("unwrap")
        version = int(kek_id.split(":")[1])
        if version not in self.versions:
            raise KeyUnavailable(f"{kek_id} destroyed")
        return self.versions[version].decrypt(wrapped[:12], wrapped[12:], associated_data)

    def keks(self):
        active = max(self.versions)
        return [KekInfo(f"fake-kms:{v}", "active" if v == active else "retiring", "") for v in self.versions]

    def begin_rotation(self):
        self.versions[max(self.versions) + 1] = AESGCM(secrets.token_bytes(32))
        return self.active_kek_id()

    def retire(self, kek_id):
        del self.versions[int(kek_id.split(":")[1])]


class KmsPlugin:
    def __init__(self, kms: FakeKms) -> None:
        self.kms = kms

    @hookimpl
    def records_key_provider(self, settings, keyring):
        return self.kms


@pytest.fixture
def kms_app(settings):
    kms = FakeKms()
    pm = plugin_manager()
    pm.register(KmsPlugin(kms), name="fake-kms")
    try:
        yield create_app(settings, plugins=pm), kms, pm
    finally:
        pm.unregister(name="fake-kms")


def test_a_key_provider_plugin_wraps_every_data_key(kms_app, data_dir):
    app, kms, pm = kms_app
    with TestClient(app) as client:
        with client.portal() as portal:
            token = portal.call(app.state.token_service.issue, "alice", "agent").token
        headers = {"Authorization": f"Bearer {token}"}
        record = client.post("/api/v1/records", json=record_body(), headers=headers).json()
        assert client.get(f"/api/v1/records/{record['id']}", headers=headers).json()["subject"] == record["subject"]
        assert kms.calls[:2] == ["wrap", "unwrap"]

        async def rotate():
            from records.installation import Installation

            installation = await Installation.open(app.state.settings, pm)
            try:
                return await installation.keys.rotate(grace_seconds=0)
            finally:
                await installation.close()

        with client.portal() as portal:
            report = portal.call(rotate)
        assert report.active_kek == "fake-kms:2" and report.retired == ["fake-kms:1"]
        assert client.get(f"/api/v1/records/{record['id']}", headers=headers).json()["subject"] == record["subject"]
    with sqlite3.connect(data_dir / "records.sqlite3") as conn:
        assert conn.execute("SELECT kek_id FROM data_keys").fetchall() == [("fake-kms:2",)]


def test_without_a_plugin_the_local_keyring_answers(settings):
    from records.crypto.keyring import LocalKeyring

    pm = plugin_manager()
    keyring = LocalKeyring.open(settings.keyring_path)
    assert pm.hook.records_key_provider(settings=settings, keyring=keyring) is keyring


def test_restore_judges_a_backup_by_the_plugin_provider(settings, data_dir, tmp_path, monkeypatch):
    """A backup whose keys a KMS wraps restores when that KMS is the provider."""
    from click.testing import CliRunner

    import records.installation
    import records.plugins.manager
    from records.cli import main

    kms = FakeKms()

    def with_kms(load_entry_points: bool = True, **selection):
        pm = plugin_manager()
        pm.register(KmsPlugin(kms), name="fake-kms")
        return pm

    monkeypatch.setattr(records.plugins.manager, "plugin_manager", with_kms)
    monkeypatch.setattr(records.installation, "plugin_manager", with_kms)
    app = create_app(settings, plugins=with_kms())
    with TestClient(app) as client:
        with client.portal() as portal:
            token = portal.call(app.state.token_service.issue, "alice", "agent").token
        record = client.post("/api/v1/records", json=record_body(), headers={"Authorization": f"Bearer {token}"}).json()
    runner = CliRunner()
    backup_dir = tmp_path / "backup"
    assert runner.invoke(main, ["backup", "--to", str(backup_dir), "--data-dir", str(data_dir)]).exit_code == 0
    restored = runner.invoke(main, ["restore", "--from", str(backup_dir), "--force", "--data-dir", str(data_dir)])
    assert restored.exit_code == 0, restored.output
    with sqlite3.connect(data_dir / "records.sqlite3") as conn:
        assert conn.execute("SELECT kek_id FROM data_keys WHERE record_id = ?", (record["id"],)).fetchone() == ("fake-kms:1",)
