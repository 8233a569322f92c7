"""Regression tests for the defects a code review found (fixed in "Fixes from review: archived
records, last admin, sealed incidents, audit forks, rotation race, bad dates").

Each test reproduces the reviewer's scenario and fails on the code before the fix.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import json
import shutil
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from records.api.app import create_app
from records.audit.service import AuditUnavailable
from records.cli import main
from records.errors import KeyUnavailable, LastAdminToken, RecordArchived
from records.installation import Installation
from records.models import FeedbackIn, NoteIn, RecordCreate, RecordPatch, RecordQuery, TransitionIn
from records.roles import Principal, Role
from records.services.records import RecordService, UploadMeta
from records.settings import RecordsSettings
from tests.conftest import record_body

PROBLEM = "application/problem+json"

ALICE = Principal("alice", Role.agent)
SAM = Principal("sam", Role.supervisor)
ADA = Principal("ada", Role.archivist)


# --- helpers ----------------------------------------------------------------------------------


def call(client: TestClient, fn: Callable[..., Any], *args: Any) -> Any:
    """Run an async function on the app's own event loop (one portal call)."""
    with client.portal() as portal:
        return portal.call(fn, *args)


def cli(*args: str) -> Any:
    """``records …`` in-process; an exception escaping the command fails the test (no tracebacks)."""
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (except the serving lock restore takes) with its digest."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in files_under(root)
        if p.name != "serve.lock"
    }


def assert_problem(response: Any, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    if code is not None:
        assert response.json()["code"] == code, response.text
    assert "Traceback" not in response.text


class _Upload:
    """An ``Upload`` (see records.services.records.Upload) whose stream runs ``midway`` between two chunks."""

    def __init__(self, midway: Callable[[], Any]) -> None:
        self._midway = midway

    async def begin(self) -> UploadMeta:
        return UploadMeta("evidence.pdf", "application/pdf")

    async def chunks(self) -> AsyncIterator[bytes]:
        yield b"first half of the evidence " * 100
        await self._midway()
        yield b"second half of the evidence " * 100


# --- 1. an upload in flight when the record is archived --------------------------------------------


def test_an_upload_in_flight_when_the_record_is_archived_is_refused_and_leaves_nothing(client, app, agent, data_dir):
    service: RecordService = app.state.record_service
    state: dict[str, Any] = {}

    async def archive() -> None:
        # feedback → archived (needs feedback; for archivists), while the upload is streaming
        state["archived"] = await service.transition(state["id"], TransitionIn(to="archived"), None, ADA)

    async def scenario() -> Exception | None:
        record = await service.file(RecordCreate(**record_body()), ALICE)
        state["id"] = record.id
        await service.amend(record.id, RecordPatch(result="Base-station card replaced.",
                                                   feedback=FeedbackIn(satisfaction=4)), 1, ALICE)
        for stage in ("investigating", "handling", "feedback"):
            await service.transition(record.id, TransitionIn(to=stage), None, SAM)
        try:
            await service.attach(record.id, _Upload(archive), ALICE)
        except Exception as exc:  # noqa: BLE001 - examined below
            return exc
        return None

    refused = call(client, scenario)
    assert state["archived"].archived_at is not None  # the record really was archived mid-stream
    assert isinstance(refused, RecordArchived), repr(refused)
    assert (refused.code, refused.status) == ("record_archived", 409)

    url = f"/api/v1/records/{state['id']}"
    record = agent.get(url).json()
    assert record["status"] == "archived"
    assert record["attachments"] == []
    assert "attachment_added" not in [event["event"] for event in record["timeline"]]
    assert files_under(data_dir / "blobs") == []  # neither the blob nor a partial upload is left

    # Notes still annotate an archived record.
    note = agent.post(f"{url}/notes", json={"text": "Customer called again after archiving."})
    assert note.status_code == 201, note.text
    assert [n["text"] for n in agent.get(url).json()["notes"]] == ["Customer called again after archiving."]


# --- 2. the last admin token under concurrent revokes --------------------------------------------


def test_two_concurrent_revokes_of_the_only_two_admins_leave_one(client, app):
    tokens = app.state.token_service

    async def scenario() -> tuple[list[str], list[Any], list[str]]:
        await tokens.issue("admin-a", "admin")
        await tokens.issue("admin-b", "admin")
        before = [t.name for t in await tokens.list() if t.role is Role.admin]
        results = await asyncio.gather(tokens.revoke("admin-a"), tokens.revoke("admin-b"), return_exceptions=True)
        after = [t.name for t in await tokens.list() if t.role is Role.admin]
        return before, results, after

    before, results, after = call(client, scenario)
    assert sorted(before) == ["admin-a", "admin-b"]
    assert sum(r is None for r in results) == 1, results
    refused = [r for r in results if r is not None]
    assert len(refused) == 1 and isinstance(refused[0], LastAdminToken), results
    assert refused[0].code == "last_admin_token"
    assert len(after) == 1 and after[0] in ("admin-a", "admin-b")


# --- 3. emergency incident text is sealed -----------------------------------------------------------


INCIDENT = {"affected_area": "MARKER-INCIDENT-AREA", "affected_services": ["MARKER-SVC"]}
INCIDENT_MARKERS = [m.encode(enc) for m in ("MARKER-INCIDENT-AREA", "MARKER-SVC") for enc in ("utf-8", "utf-16-le")]


def test_emergency_incident_text_is_sealed_and_gone_after_shredding(settings: RecordsSettings, data_dir):
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        token = call(client, app.state.token_service.issue, "alice", "agent").token
        headers = {"Authorization": f"Bearer {token}"}
        filed = client.post("/api/v1/records", headers=headers, json=record_body("emergency", incident=INCIDENT))
        assert filed.status_code == 201, filed.text
        record = filed.json()
        for shown in (record, client.get(f"/api/v1/records/{record['id']}", headers=headers).json()):
            assert shown["incident"]["affected_area"] == "MARKER-INCIDENT-AREA"
            assert shown["incident"]["affected_services"] == ["MARKER-SVC"]

    # The app has stopped: no file under the data dir holds the incident text, in any encoding.
    found = [(str(p.relative_to(data_dir)), m) for p in files_under(data_dir) for m in INCIDENT_MARKERS if m in p.read_bytes()]
    assert found == []
    # ...while the scanner does see what is stored in clear (the reference), so an empty result means something.
    assert any(record["reference"].encode() in p.read_bytes() for p in files_under(data_dir))

    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        shredded = call(client, app.state.record_service.shred, record["id"])
        assert shredded.destroyed_at is not None
        assert shredded.incident is None
        got = client.get(f"/api/v1/records/{record['id']}", headers=headers)
        assert got.status_code == 200, got.text
        assert got.json()["incident"] is None


# --- 4. restore and the published audit checkpoints ---------------------------------------------


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

    import records.backup

    monkeypatch.setattr(records.backup, "utcnow", lambda: datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
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


# --- 5. two rotations racing ---------------------------------------------------------------------


def test_a_rotation_overtaken_by_another_stops_instead_of_looping(settings, agent):
    ids = []
    for n in range(3):
        response = agent.post("/api/v1/records", json=record_body(subject=f"Outage {n}"))
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])

    async def race() -> Exception | None:
        installation = await Installation.open(settings)
        try:
            # Two `records keys rotate` both saw no retiring KEK and both began a rotation.
            first = installation.keyring.begin_rotation()
            second = installation.keyring.begin_rotation()
            assert first != second and installation.keyring.active_kek_id() == second
            try:
                with anyio.fail_after(10):
                    await installation.keys._rewrap_all(first, None)
            except KeyUnavailable as exc:
                outcome: Exception | None = exc
            else:
                outcome = None
            # The later rotation still completes, and every record stays readable.
            report = await installation.keys.rotate(grace_seconds=0)
            assert report.active_kek == second
            return outcome
        finally:
            await installation.close()

    outcome = anyio.run(race)
    assert isinstance(outcome, KeyUnavailable), repr(outcome)
    assert outcome.code == "key_unavailable"
    for record_id in ids:
        got = agent.get(f"/api/v1/records/{record_id}")
        assert got.status_code == 200, got.text


# --- 6. out-of-range input is 4xx, never 500 ----------------------------------------------------------


@pytest.mark.parametrize("cursor", ["99999999999999999999", "%C2%B2"])
def test_odd_audit_cursors_are_invalid_cursor(compliance_officer, cursor):
    assert_problem(compliance_officer.get(f"/api/v1/audit/events?cursor={cursor}"), 400, "invalid_cursor")


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_audit_times_at_the_ends_of_the_calendar_are_422(compliance_officer, since):
    assert_problem(compliance_officer.get("/api/v1/audit/events", params={"since": since}), 422)


def test_a_record_filter_at_the_start_of_the_calendar_is_422(agent):
    assert_problem(agent.get("/api/v1/records?created_from=0001-01-01T00:00:00%2B05:00"), 422)


def test_a_received_at_in_the_year_500_is_422(agent):
    assert_problem(agent.post("/api/v1/records", json=record_body(received_at="0500-01-01T00:00:00Z")), 422)


def _records_cursor(t: str, i: str) -> str:
    fingerprint = RecordService._fingerprint(RecordQuery())
    raw = json.dumps({"t": t, "i": i, "q": fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize("t", ["0001-01-01T00:00:00+05:00", "0001-01-01T00:00:00.000000Z"])
def test_a_crafted_records_cursor_in_the_year_1_is_refused(agent, filed, t):
    # The crafted cursor carries the right fingerprint: one in a sane year is accepted.
    control = agent.get(f"/api/v1/records?cursor={quote(_records_cursor('2999-01-01T00:00:00.000000Z', 'z'))}")
    assert control.status_code == 200, control.text
    assert [r["id"] for r in control.json()["items"]] == [filed["id"]]
    response = agent.get(f"/api/v1/records?cursor={quote(_records_cursor(t, filed['id']))}")
    assert response.status_code in (400, 422), response.text
    assert_problem(response, response.status_code)


# --- 7. CSV export neutralises formulas ---------------------------------------------------------


def test_csv_export_neutralises_a_formula_in_x_purpose(agent, compliance_officer):
    formula = '=HYPERLINK("http://evil.example","x")'
    assert agent.get("/api/v1/me", headers={"X-Purpose": formula}).status_code == 200
    export = compliance_officer.get("/api/v1/audit/events", params={"format": "csv"})
    assert export.status_code == 200, export.text
    rows = list(csv.DictReader(io.StringIO(export.text)))
    purposes = [row["purpose"] for row in rows if "HYPERLINK" in (row["purpose"] or "")]
    assert purposes == ["'" + formula]
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row.values() if cell)


# --- 8. malformed backups are refused cleanly ---------------------------------------------------------


class _Bytes:
    def __init__(self, content: bytes) -> None:
        self._content = content

    async def begin(self) -> UploadMeta:
        return UploadMeta("scan.png", "image/png")

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self._content


def _manifest(backup: Path) -> dict[str, Any]:
    return json.loads((backup / "manifest.json").read_text())


def _write_manifest(backup: Path, manifest: Any) -> None:
    (backup / "manifest.json").write_text(json.dumps(manifest))


def _list_as_is(backup: Path, name: str) -> None:
    """Make the manifest agree with the file ``name`` as it now is (size and digest)."""
    manifest = _manifest(backup)
    path = backup / name
    manifest["files"][name] = {"size": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    _write_manifest(backup, manifest)


def _manifest_is_a_list(backup: Path, outside: Path) -> None:
    _write_manifest(backup, [])


def _entry_without_size(backup: Path, outside: Path) -> None:
    manifest = _manifest(backup)
    del manifest["files"]["records.sqlite3"]["size"]
    _write_manifest(backup, manifest)


def _no_files_listed(backup: Path, outside: Path) -> None:
    manifest = _manifest(backup)
    manifest["files"] = {}
    _write_manifest(backup, manifest)


def _unlisted_extra_file(backup: Path, outside: Path) -> None:
    (backup / "blobs" / "attachments" / "extra.bin").write_bytes(b"not in the manifest")


def _symlink_in_blobs(backup: Path, outside: Path) -> None:
    # A link to a file outside the backup, listed with that file's size and digest.
    outside.write_bytes(b"a file outside the backup")
    (backup / "blobs" / "attachments" / "linked").symlink_to(outside)
    _list_as_is(backup, "blobs/attachments/linked")


def _garbage_database(backup: Path, outside: Path) -> None:
    (backup / "records.sqlite3").write_bytes(b"this is not an SQLite database " * 200)
    _list_as_is(backup, "records.sqlite3")


def _nested_manifest_named_file(backup: Path, outside: Path) -> None:
    (backup / "blobs" / "attachments" / "manifest.json").write_bytes(b"not in the manifest either")


MALFORMED = [
    pytest.param(_manifest_is_a_list, id="manifest-is-a-list"),
    pytest.param(_entry_without_size, id="files-entry-without-size"),
    pytest.param(_no_files_listed, id="no-files-listed"),
    pytest.param(_unlisted_extra_file, id="unlisted-extra-file"),
    pytest.param(_symlink_in_blobs, id="symlink-in-blobs"),
    pytest.param(_garbage_database, id="garbage-database-with-matching-manifest"),
    pytest.param(_nested_manifest_named_file, id="unlisted-file-named-manifest.json"),
]


@pytest.mark.parametrize("damage", MALFORMED)
def test_a_malformed_backup_is_refused_and_the_data_dir_untouched(settings, data_dir, tmp_path, damage):
    async def populate() -> None:
        installation = await Installation.open(settings)
        try:
            record = await installation.records.file(RecordCreate(**record_body()), ALICE)
            await installation.records.attach(record.id, _Bytes(b"\x89PNG scan" * 100), ALICE)
        finally:
            await installation.close()

    anyio.run(populate)
    backup_dir = tmp_path / "backup"
    assert cli("backup", "--to", str(backup_dir), "--data-dir", str(data_dir)).exit_code == 0
    assert len(files_under(backup_dir / "blobs")) == 1
    before = snapshot(data_dir)

    damage(backup_dir, tmp_path / "outside.txt")
    result = cli("restore", "--from", str(backup_dir), "--force", "--data-dir", str(data_dir))
    assert result.exit_code == 2, result.output
    assert "[backup_failed]" in result.output
    assert "Traceback" not in result.output
    assert snapshot(data_dir) == before
    assert not (data_dir / ".restoring").exists()


# --- 9. concurrent notes on one record ----------------------------------------------------------------


def test_sixty_concurrent_notes_on_one_record_all_succeed(client, app, agent, filed):
    service: RecordService = app.state.record_service

    async def notes() -> list[Any]:
        return await asyncio.gather(
            *(service.add_note(filed["id"], NoteIn(text=f"note {n}"), ALICE) for n in range(60)), return_exceptions=True
        )

    results = call(client, notes)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    record = agent.get(f"/api/v1/records/{filed['id']}").json()
    assert record["version"] == 61
    assert len(record["notes"]) == 60
    assert sorted(n["text"] for n in record["notes"]) == sorted(f"note {n}" for n in range(60))


# --- 10. amending an incident with the same value --------------------------------------------------


def test_patching_the_same_incident_twice_changes_nothing_the_second_time(agent):
    filed = agent.post("/api/v1/records", json=record_body("emergency", incident={"affected_area": "Zone A"}))
    assert filed.status_code == 201, filed.text
    url = f"/api/v1/records/{filed.json()['id']}"
    incident = {"affected_area": "Zone B", "affected_services": ["voice"]}
    first = agent.patch(url, json={"incident": incident}, headers={"If-Match": '"1"'})
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 2
    second = agent.patch(url, json={"incident": incident}, headers={"If-Match": '"2"'})
    assert second.status_code == 200, second.text
    assert second.json()["version"] == 2
    after = agent.get(url).json()
    assert after["version"] == 2
    assert [e["event"] for e in after["timeline"]].count("amended") == 1
    assert after["incident"]["affected_area"] == "Zone B"


# --- 11. sealing a log whose last event was deleted -----------------------------------------------


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
