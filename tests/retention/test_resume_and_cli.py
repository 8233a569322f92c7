"""A disposition killed half-way resumes without doing anything twice; the CLI sweeps, executes
and verifies certificates offline; destruction reaches a restored backup."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from records.api.app import create_app
from records.audit.log import EventQuery
from records.cli import main
from records.roles import Role
from tests.conftest import RoleClient
from tests.retention.conftest import RETENTION, archive, sweep


@pytest.fixture
def cli():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_an_execution_killed_mid_way_resumes_without_doing_anything_twice(clock, app, client, agent, archivist):
    records = [archive(agent, archivist) for _ in range(4)]
    clock.set(2030, 1, 2)
    batch = sweep(archivist)["batches"][0]
    decisions = [{"record_id": r["id"], "decision": "approve"} for r in records]
    archivist.post(f"{RETENTION}/batches/{batch['id']}/decisions", json={"decisions": decisions})
    service = app.state.retention_service
    with client.portal() as portal:
        portal.call(service.start_execution, batch["id"], archivist_principal(archivist))
        partial = portal.call(lambda: service.run(batch["id"], stop_after=2))
        assert partial.status.value == "executing" and partial.progress.disposed == 2
        # The crash happened inside the third item: claimed, tombstone written, key destroyed, not finished.
        third = partial.items[2]
        assert portal.call(app.state.storage.retention.claim_item, batch["id"], third.record_id) == "claimed"
        portal.call(app.state.record_service.shred, third.record_id)
        done = portal.call(service.run, batch["id"])
        assert done.status.value == "done" and done.progress.disposed == 4
        for record in records:
            events = portal.call(app.state.audit_service.find, EventQuery(target=f"record:{record['id']}", limit=1000))
            assert [e.action for e in events].count("retention.destroy") == 1
            assert [e.action for e in events].count("record.destroy") <= 1  # the simulated crash shredded outside a trail
        again = portal.call(service.run, batch["id"])
        assert again.certificate_id == done.certificate_id
    for record in records:
        assert agent.get(f"/api/v1/records/{record['id']}").status_code == 410


def archivist_principal(client: RoleClient):
    from records.roles import Principal

    return Principal(client.name, client.role)


def test_cli_sweep_execute_and_verify_certificate(clock, settings, data_dir, tmp_path, cli):
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        with client.portal() as portal:
            agent = RoleClient(client, portal.call(app.state.token_service.issue, "alice", "agent").token, "alice", Role.agent)
            ada = RoleClient(client, portal.call(app.state.token_service.issue, "ada", "archivist").token, "ada", Role.archivist)
        record = archive(agent, ada)
    clock.set(2030, 1, 2)
    swept = cli("retention", "sweep", "--data-dir", str(data_dir), "--json")
    assert swept.exit_code == 0, swept.output
    batch = json.loads(swept.stdout)["batches"][0]
    refused = cli("retention", "execute", batch["id"], "--data-dir", str(data_dir))
    assert refused.exit_code == 2 and "[batch_undecided]" in refused.stderr
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        ada = RoleClient(client, ada.token, "ada", Role.archivist)
        r = ada.post(f"{RETENTION}/batches/{batch['id']}/decisions",
                     json={"decisions": [{"record_id": record["id"], "decision": "approve"}]})
        assert r.status_code == 200, r.text
    executed = cli("retention", "execute", batch["id"], "--data-dir", str(data_dir))
    assert executed.exit_code == 0, executed.output
    certificate_id = executed.stdout.strip()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        ada = RoleClient(client, ada.token, "ada", Role.archivist)
        cert = ada.get(f"{RETENTION}/certificates/{certificate_id}").json()
        keys = ada.get("/api/v1/audit/public-keys")
        assert keys.status_code == 403  # archivists do not read the audit log; the key is in the certificate
    path = tmp_path / "cert.json"
    path.write_text(json.dumps(cert))
    key_file = tmp_path / "key.pem"
    key_file.write_text(cert["public_key"])
    ok = cli("retention", "verify-certificate", str(path), "--public-key", str(key_file))
    assert ok.exit_code == 0 and "valid" in ok.stdout, ok.output
    cert["items"][0]["content_hash"] = "0" * 64
    path.write_text(json.dumps(cert))
    bad = cli("retention", "verify-certificate", str(path), "--data-dir", str(data_dir))
    assert bad.exit_code == 1 and "NOT valid" in bad.stderr
    path.write_text("[1, 2]")
    garbage = cli("retention", "verify-certificate", str(path))
    assert garbage.exit_code == 2 and "[certificate_unreadable]" in garbage.stderr


def test_a_restored_backup_stays_destroyed_and_answers_410(clock, settings, data_dir, tmp_path, cli):
    app = create_app(settings)
    backup_dir = tmp_path / "backup"
    with TestClient(app, raise_server_exceptions=False) as client:
        with client.portal() as portal:
            agent = RoleClient(client, portal.call(app.state.token_service.issue, "alice", "agent").token, "alice", Role.agent)
            ada = RoleClient(client, portal.call(app.state.token_service.issue, "ada", "archivist").token, "ada", Role.archivist)
        record = archive(agent, ada)
        up = agent.post(f"/api/v1/records/{record['id']}/attachments", files={"file": ("a.txt", b"secret", "text/plain")})
        assert up.status_code == 409  # archived: content is immutable
    assert cli("backup", "--to", str(backup_dir), "--data-dir", str(data_dir)).exit_code == 0
    clock.set(2030, 1, 2)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        ada = RoleClient(client, ada.token, "ada", Role.archivist)
        from tests.retention.conftest import approve_and_execute

        approve_and_execute(ada, sweep(ada)["batches"][0])
    restored = cli("restore", "--from", str(backup_dir), "--force", "--data-dir", str(data_dir))
    assert restored.exit_code == 0, restored.output
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        agent = RoleClient(client, agent.token, "alice", Role.agent)
        gone = agent.get(f"/api/v1/records/{record['id']}")
        assert gone.status_code == 410 and gone.json()["reference"] == record["reference"]
    raw = (data_dir / "records.sqlite3").read_bytes()
    assert "No signal since Monday".encode() not in raw
