"""Sealing after a restore: the published checkpoints are set aside (each restore's copy kept),
the log seals and verifies again, a database rolled back behind the published checkpoints is
not signed, and a log whose last event was deleted is unavailable rather than sealed."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from records.audit.service import AuditUnavailable
from tests.helpers.in_process import assert_problem, call, cli

# --- restore and the published audit checkpoints ---------------------------------------------


def _published(data_dir: Path) -> Path:
    return data_dir / "audit" / "checkpoints.jsonl"


def test_restore_sets_the_published_checkpoints_aside_and_the_log_seals_and_verifies_again(data_dir, tmp_path):
    d = ["--data-dir", str(data_dir)]
    assert cli("init", *d).exit_code == 0  # only serve and init create a data dir
    backup_dir = tmp_path / "backup"
    assert cli("tokens", "create", "--role", "admin", "--name", "root", *d).exit_code == 0
    assert cli("audit", "seal", *d).exit_code == 0
    assert cli("backup", "--to", str(backup_dir), *d).exit_code == 0
    # More activity after the backup, sealed and published: the restore rolls it back.
    assert cli("tokens", "create", "--role", "agent", "--name", "a1", *d).exit_code == 0
    assert cli("tokens", "create", "--role", "agent", "--name", "a2", *d).exit_code == 0
    assert cli("audit", "seal", *d).exit_code == 0
    published_before = _published(data_dir).read_bytes()
    assert published_before.count(b"\n") == 2

    restored = cli("restore", "--from", str(backup_dir), "--force", *d)
    assert restored.exit_code == 0, restored.output

    kept = sorted((data_dir / "audit").glob("checkpoints.before-restore-*.jsonl"))
    assert len(kept) == 1, sorted(p.name for p in (data_dir / "audit").iterdir())
    assert kept[0].read_bytes() == published_before  # kept whole, as evidence of what was rolled back
    assert not _published(data_dir).exists()

    sealed = cli("audit", "seal", *d)
    assert sealed.exit_code == 0, sealed.output
    verified = cli("audit", "verify", *d)
    assert verified.exit_code == 0, verified.output
    assert "audit log intact" in verified.output
    assert kept[0].read_bytes() == published_before


def test_two_restores_in_the_same_second_keep_both_published_files(data_dir, tmp_path, monkeypatch):
    from datetime import UTC, datetime

    import records.storage.sqlite.backup

    monkeypatch.setattr(records.storage.sqlite.backup, "utcnow", lambda: datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
    d = ["--data-dir", str(data_dir)]
    assert cli("init", *d).exit_code == 0  # only serve and init create a data dir
    backup_dir = tmp_path / "backup"
    assert cli("tokens", "create", "--role", "admin", "--name", "root", *d).exit_code == 0
    assert cli("backup", "--to", str(backup_dir), *d).exit_code == 0
    assert cli("audit", "seal", *d).exit_code == 0
    first = _published(data_dir).read_bytes()
    assert cli("restore", "--from", str(backup_dir), "--force", *d).exit_code == 0
    assert cli("audit", "seal", *d).exit_code == 0
    second = _published(data_dir).read_bytes()
    assert cli("restore", "--from", str(backup_dir), "--force", *d).exit_code == 0
    kept = sorted(p.read_bytes() for p in (data_dir / "audit").glob("checkpoints.before-restore-*.jsonl"))
    assert kept == sorted([first, second])


def test_seal_refuses_to_sign_a_database_rolled_back_behind_the_published_checkpoints(data_dir, tmp_path):
    d = ["--data-dir", str(data_dir)]
    assert cli("init", *d).exit_code == 0  # only serve and init create a data dir
    backup_dir = tmp_path / "backup"
    assert cli("tokens", "create", "--role", "admin", "--name", "root", *d).exit_code == 0
    assert cli("audit", "seal", *d).exit_code == 0
    assert cli("backup", "--to", str(backup_dir), *d).exit_code == 0
    assert cli("tokens", "create", "--role", "agent", "--name", "a1", *d).exit_code == 0
    assert cli("audit", "seal", *d).exit_code == 0
    published = _published(data_dir).read_bytes()

    # Roll the database back by hand, not through `records restore`.
    for suffix in ("-wal", "-shm"):
        (data_dir / f"records.sqlite3{suffix}").unlink(missing_ok=True)
    shutil.copyfile(backup_dir / "records.sqlite3", data_dir / "records.sqlite3")
    with sqlite3.connect(data_dir / "records.sqlite3") as conn:
        checkpoints_before = conn.execute("SELECT tree_size, root_hash FROM audit_checkpoints").fetchall()
    conn.close()

    sealed = cli("audit", "seal", *d)
    assert sealed.exit_code != 0, sealed.output
    assert "[audit_unavailable]" in sealed.output
    assert "Traceback" not in sealed.output
    # No forked checkpoint was signed: neither published nor stored.
    assert _published(data_dir).read_bytes() == published
    with sqlite3.connect(data_dir / "records.sqlite3") as conn:
        assert conn.execute("SELECT tree_size, root_hash FROM audit_checkpoints").fetchall() == checkpoints_before
    conn.close()


# --- sealing a log whose last event was deleted -----------------------------------------------


def test_seal_after_the_last_event_was_deleted_is_audit_unavailable(client, app, compliance_officer):
    audit = app.state.audit_service
    for _ in range(3):
        assert compliance_officer.get("/api/v1/me").status_code == 200  # audited: events to seal
    sealed = call(client, audit.seal)
    assert sealed.tree_size >= 3

    async def delete_last_event() -> None:
        def delete(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM audit_events WHERE seq = (SELECT max(seq) FROM audit_events)")

        await app.state.storage._db.run(delete)

    call(client, delete_last_event)

    async def seal_again() -> Exception | None:
        try:
            await audit.seal()
        except Exception as exc:  # noqa: BLE001 - examined below
            return exc
        return None

    refused = call(client, seal_again)
    assert isinstance(refused, AuditUnavailable), repr(refused)
    assert refused.code == "audit_unavailable"
    assert_problem(compliance_officer.post("/api/v1/audit/checkpoints"), 503, "audit_unavailable")
