"""Evidence of destruction survives a restore (issue 15, item 3): the batch and its decisions, the
certificate and each tombstone's link to it come back, and ``records fsck`` reports what is missing."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from records.api.app import create_app
from records.retention.certificates import verify
from records.retention.evidence import EvidenceRegister
from records.roles import Role
from tests.conftest import RoleClient
from tests.retention.conftest import RETENTION, approve_and_execute, archive, sweep


@pytest.fixture
def cli():
    runner = CliRunner()
    return lambda *args: runner.invoke(main_cli(), list(args), catch_exceptions=False)


def main_cli():  # type: ignore[no-untyped-def]
    from records.cli import main

    return main


def _destroy_after_a_backup(clock, settings, data_dir, tmp_path, cli):  # type: ignore[no-untyped-def]
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        with client.portal() as portal:
            agent = RoleClient(client, portal.call(app.state.token_service.issue, "alice", "agent").token, "alice", Role.agent)
            ada = RoleClient(client, portal.call(app.state.token_service.issue, "ada", "archivist").token, "ada", Role.archivist)
            cora = RoleClient(client, portal.call(app.state.token_service.issue, "cora", "compliance_officer").token,
                              "cora", Role.compliance_officer)
        record = archive(agent, ada)
    backup = tmp_path / "backup"
    assert cli("backup", "--to", str(backup), "--data-dir", str(data_dir)).exit_code == 0
    clock.set(2030, 1, 2)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        ada = RoleClient(client, ada.token, "ada", Role.archivist)
        done = approve_and_execute(ada, sweep(ada)["batches"][0])
        before = ada.get(f"{RETENTION}/certificates/{done['certificate_id']}").json()
    return record, done, before, backup, ada, cora


def test_a_restore_keeps_the_certificate_batch_and_link(clock, settings, data_dir, tmp_path, cli):
    record, done, before, backup, ada, cora = _destroy_after_a_backup(clock, settings, data_dir, tmp_path, cli)
    restored = cli("restore", "--from", str(backup), "--force", "--data-dir", str(data_dir))
    assert restored.exit_code == 0, restored.output
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        ada = RoleClient(client, ada.token, "ada", Role.archivist)
        cora = RoleClient(client, cora.token, "cora", Role.compliance_officer)
        gone = ada.get(f"/api/v1/records/{record['id']}")
        assert gone.status_code == 410 and gone.json()["certificate_id"] == done["certificate_id"]
        batch = cora.get(f"{RETENTION}/batches/{done['id']}")
        assert batch.status_code == 200, batch.text
        body = batch.json()
        assert body["status"] == "done" and body["certificate_id"] == done["certificate_id"]
        assert body["items"][0]["decision"] == "approve" and body["items"][0]["approvers"] == ["ada"]
        assert body["items"][0]["state"] == "disposed"
        cert = cora.get(f"{RETENTION}/certificates/{done['certificate_id']}")
        assert cert.status_code == 200 and cert.json() == before
        assert verify(cert.json()) == []
    check = cli("fsck", "--json", "--data-dir", str(data_dir))
    report = json.loads(check.stdout)
    assert check.exit_code == 0 and report["clean"], report


def test_a_lost_register_is_written_again_and_fsck_reports_a_tombstone_without_certificate(
        clock, settings, data_dir, tmp_path, cli):
    record, done, _, backup, _, _ = _destroy_after_a_backup(clock, settings, data_dir, tmp_path, cli)
    register = EvidenceRegister(settings.keyring_path)
    register.path.unlink()
    # the next start registers what the database holds (here fsck's): the register is whole again
    check = cli("fsck", "--json", "--data-dir", str(data_dir))
    assert json.loads(check.stdout)["clean"], check.output
    assert register.entries()[done["id"]].certificate.id == done["certificate_id"]

    # a restore with the register lost as well: the tombstone comes back, its certificate cannot
    register.path.unlink()
    assert cli("restore", "--from", str(backup), "--force", "--data-dir", str(data_dir)).exit_code == 0
    check = cli("fsck", "--json", "--data-dir", str(data_dir))
    findings = [f for f in json.loads(check.stdout)["findings"] if f["code"] == "tombstone_without_certificate"]
    assert check.exit_code != 0 and findings[0]["subject"] == f"record:{record['id']}"
    assert not findings[0]["repairable"]
