"""``records fsck``: consistency of store, blobs, keys and access log, and what --repair fixes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from records.api.app import create_app
from records.cli import main
from records.roles import Role
from records.settings import RecordsSettings
from tests.conftest import record_body


def _fsck(data_dir: Path, *flags: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["fsck", "--json", "--data-dir", str(data_dir), *flags], catch_exceptions=False)
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout)


def _codes(report: dict[str, Any]) -> list[str]:
    return sorted(f["code"] for f in report["findings"])


@pytest.fixture
def populated(data_dir: Path) -> dict[str, str]:
    """Two complaints, one with an attachment; the service stopped afterwards."""
    settings = RecordsSettings(data_dir=data_dir)
    with TestClient(create_app(settings)) as client:
        with client.portal() as portal:
            token = portal.call(client.app.state.token_service.issue, "alice", Role.agent.value).token
        headers = {"Authorization": f"Bearer {token}"}
        first = client.post("/api/v1/records", json=record_body(), headers=headers).json()
        second = client.post("/api/v1/records", json=record_body(subject="second"), headers=headers).json()
        uploaded = client.post(f"/api/v1/records/{first['id']}/attachments", headers=headers,
                               files={"file": ("log.txt", b"signal log", "text/plain")}).json()
    return {"first": first["id"], "second": second["id"], "attachment": uploaded["id"]}


def test_a_consistent_installation_is_clean(data_dir, populated):
    code, report = _fsck(data_dir)
    assert code == 0 and report["clean"] and report["findings"] == []
    assert (report["records"], report["keys"], report["blobs"]) == (2, 2, 1)
    assert report["audit_events"] > 0


def test_an_orphan_blob_is_reported_then_repaired(data_dir, populated):
    orphan = data_dir / "blobs" / "attachments" / "no-such-record" / "some-attachment"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"ciphertext of nothing")
    code, report = _fsck(data_dir)
    assert code == 1 and _codes(report) == ["orphan_blob"]
    assert report["findings"][0]["repairable"] and not report["findings"][0]["repaired"]
    assert orphan.exists()  # checking changes nothing
    code, report = _fsck(data_dir, "--repair")
    assert code == 0 and report["findings"][0]["repaired"]
    assert not orphan.exists()
    assert _fsck(data_dir)[0] == 0


def test_a_missing_blob_needs_a_person(data_dir, populated):
    blob = data_dir / "blobs" / "attachments" / populated["first"] / populated["attachment"]
    blob.unlink()
    code, report = _fsck(data_dir, "--repair")
    assert code == 1 and _codes(report) == ["missing_blob"]
    assert not report["findings"][0]["repairable"] and not report["findings"][0]["repaired"]


def test_a_record_without_its_key_is_reported_never_invented(data_dir, populated):
    with sqlite3.connect(data_dir / "records.sqlite3") as conn:
        conn.execute("DELETE FROM data_keys WHERE record_id = ?", (populated["second"],))
    code, report = _fsck(data_dir, "--repair")
    assert code == 1 and _codes(report) == ["record_without_key"]
    assert populated["second"] in report["findings"][0]["subject"]


def test_an_orphan_key_is_erased_on_repair(data_dir, populated):
    with sqlite3.connect(data_dir / "records.sqlite3") as conn:
        row = conn.execute("SELECT key_version, kek_id, wrapped, created_at FROM data_keys LIMIT 1").fetchone()
        conn.execute("INSERT INTO data_keys (record_id, key_version, kek_id, wrapped, created_at) VALUES ('ghost', ?, ?, ?, ?)", row)
    code, report = _fsck(data_dir)
    assert code == 1 and _codes(report) == ["orphan_key"]
    assert _fsck(data_dir, "--repair")[0] == 0
    with sqlite3.connect(data_dir / "records.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM data_keys WHERE record_id = 'ghost'").fetchone()[0] == 0


def test_a_tampered_access_log_is_reported_and_never_repaired(data_dir, populated):
    with sqlite3.connect(data_dir / "records.sqlite3") as conn:
        conn.execute("UPDATE audit_events SET canonical = CAST(replace(CAST(canonical AS TEXT), 'allowed', 'denied') AS BLOB)"
                     " WHERE seq = 1")
    code, report = _fsck(data_dir, "--repair")
    assert code == 1 and "audit_inconsistent" in _codes(report)
    assert not next(f for f in report["findings"] if f["code"] == "audit_inconsistent")["repaired"]


def test_partial_uploads_are_discarded_on_repair(data_dir, populated):
    partial = data_dir / "blobs" / ".incoming" / "crashed.part"
    partial.write_bytes(b"half an upload")
    code, report = _fsck(data_dir)
    assert code == 1 and _codes(report) == ["incomplete_uploads"]
    assert _fsck(data_dir, "--repair")[0] == 0 and not partial.exists()


def test_repair_refuses_while_the_service_runs(data_dir, populated):
    from records.storage.sqlite.backup import serving_lock

    with serving_lock(data_dir, exclusive=False):  # what `records serve` holds
        result = CliRunner().invoke(main, ["fsck", "--repair", "--data-dir", str(data_dir)])
        assert result.exit_code == 2 and "[invalid_input]" in result.output and "stop it" in result.output
        assert CliRunner().invoke(main, ["fsck", "--data-dir", str(data_dir)]).exit_code == 0  # checking is allowed


def test_fsck_is_in_the_access_log(data_dir, populated):
    _fsck(data_dir)
    _fsck(data_dir, "--repair")
    with sqlite3.connect(data_dir / "records.sqlite3") as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_events")]
    assert "fsck.check" in actions and "fsck.repair" in actions
