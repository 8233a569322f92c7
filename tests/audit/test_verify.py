"""``records audit verify`` against a tampered SQLite file: one test per way of tampering.

A log is built once through the API (records filed, read, amended, refused, sealed several
times; the clean shutdown seals the rest), checked to verify, and copied into each test's data
dir. Each test then edits ``records.sqlite3`` directly, as someone with access to the file
would, and asserts that ``records audit verify`` exits 1 and names the problem. Where an edit
could be made self-consistent row by row (re-encoding the canonical JSON and the queryable
copies together), the test does so, so that only the Merkle tree and the signed checkpoints
can catch it.
"""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from litestar.testing import TestClient

from records.api.app import create_app
from records.cli import main
from records.settings import load_settings
from tests.conftest import record_body

DB = "records.sqlite3"
PUBLISHED = Path("audit") / "checkpoints.jsonl"


# --- the CLI and the database file ------------------------------------------------------------


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def verify(data_dir: Path) -> Result:
    return run("audit", "verify", "--data-dir", str(data_dir))


def assert_not_intact(data_dir: Path, *phrases: str) -> str:
    result = verify(data_dir)
    assert result.exit_code == 1, f"verify passed a tampered log: {result.stdout}{result.stderr}"
    lines = [line for line in result.stderr.splitlines() if line.startswith("audit log NOT intact: ")]
    assert len(lines) == 1, result.stderr
    problem = lines[0].removeprefix("audit log NOT intact: ")
    for phrase in phrases:
        assert phrase in problem, f"{phrase!r} not in {problem!r}"
    assert "intact:" not in result.stdout
    return problem


@contextmanager
def database(data_dir: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(data_dir / DB, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield conn
        conn.execute("COMMIT")
    finally:
        conn.close()


def canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def event_body(conn: sqlite3.Connection, seq: int) -> dict[str, Any]:
    (raw,) = conn.execute("SELECT canonical FROM audit_events WHERE seq = ?", (seq,)).fetchone()
    return json.loads(bytes(raw))


def write_event(conn: sqlite3.Connection, body: dict[str, Any]) -> None:
    """Store ``body`` at its own seq with every queryable copy agreeing (a careful forger)."""
    conn.execute("DELETE FROM audit_targets WHERE seq = ?", (body["seq"],))
    conn.execute(
        "INSERT OR REPLACE INTO audit_events (seq, at, actor, role, action, outcome, request_id, canonical)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (body["seq"], body["at"], body["actor"], body["role"], body["action"], body["outcome"], body["request_id"],
         canonical(body)),
    )
    conn.executemany("INSERT OR IGNORE INTO audit_targets (target, seq) VALUES (?, ?)",
                     [(t, body["seq"]) for t in body["targets"]])


def checkpoints(conn: sqlite3.Connection) -> list[tuple[int, str, str, str, str]]:
    return conn.execute(
        "SELECT tree_size, root_hash, timestamp, key_id, signature FROM audit_checkpoints ORDER BY tree_size").fetchall()


def copy_database(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        (target / (DB + suffix)).unlink(missing_ok=True)
        if (source / (DB + suffix)).exists():
            shutil.copy2(source / (DB + suffix), target / (DB + suffix))


# --- the log under test -----------------------------------------------------------------------


@dataclass
class Log:
    data_dir: Path
    events: int
    sizes: list[int]  # tree sizes of the stored checkpoints, ascending
    record_ids: list[str]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Log:
    """A log with several checkpoints built through the API, fully sealed by the clean shutdown."""
    data_dir = tmp_path_factory.mktemp("audit-template") / "records-data"
    with pytest.MonkeyPatch.context() as mp:
        import os

        for name in list(os.environ):
            if name.startswith("RECORDS_"):
                mp.delenv(name)
        app = create_app(load_settings(data_dir=data_dir, audit_seal_seconds=3600))
        with TestClient(app, raise_server_exceptions=False) as client:
            with client.portal() as portal:
                tokens = {name: portal.call(app.state.token_service.issue, name, role).token
                          for name, role in (("alice", "agent"), ("sam", "supervisor"), ("carl", "compliance_officer"))}

            def call(name: str, method: str, url: str, **kw: Any) -> Any:
                return client.request(method, url, headers={"Authorization": f"Bearer {tokens[name]}", **kw.pop("headers", {})}, **kw)

            record_ids = []
            for n in range(3):
                response = call("alice", "POST", "/api/v1/records", json=record_body(subject=f"verify {n}"))
                assert response.status_code == 201, response.text
                record_ids.append(response.json()["id"])
                call("alice", "GET", f"/api/v1/records/{record_ids[-1]}")
            client.get("/api/v1/records")  # 401
            call("alice", "GET", "/api/v1/tokens")  # 403
            assert call("carl", "POST", "/api/v1/audit/checkpoints").status_code == 201
            for record_id in record_ids:
                call("sam", "PATCH", f"/api/v1/records/{record_id}", json={"subject": "amended"}, headers={"If-Match": '"1"'})
            call("alice", "POST", f"/api/v1/records/{record_ids[0]}/notes", json={"text": "called back"})
            call("carl", "GET", f"/api/v1/records/{record_ids[1]}/identity", headers={"X-Purpose": "review"})
            assert call("carl", "POST", "/api/v1/audit/checkpoints").status_code == 201
            call("alice", "GET", "/api/v1/records/missing")  # 404
            call("carl", "GET", "/api/v1/audit/events")
        # Shutdown seals what the last request added.
        with database(data_dir) as conn:
            (events,) = conn.execute("SELECT count(*) FROM audit_events").fetchone()
            sizes = [row[0] for row in checkpoints(conn)]
        assert len(sizes) >= 3 and sizes[-1] == events, (sizes, events)
        # verify is itself audited (it appends an event after judging): judge a copy, keep the template sealed.
        check = data_dir.parent / "check"
        shutil.copytree(data_dir, check)
        result = verify(check)
        assert result.exit_code == 0, result.stderr
    return Log(data_dir, events, sizes, record_ids)


@pytest.fixture
def log(template: Log, data_dir: Path) -> Log:
    shutil.copytree(template.data_dir, data_dir)
    return Log(data_dir, template.events, template.sizes, template.record_ids)


# --- untouched -------------------------------------------------------------------------------------


def test_untouched_log_verifies(log: Log) -> None:
    result = verify(log.data_dir)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"audit log intact: {log.events} event(s), {len(log.sizes)} checkpoint(s) verified"
    assert "NOT intact" not in result.stderr
    published = (log.data_dir / PUBLISHED).read_text().splitlines()
    assert [json.loads(line)["tree_size"] for line in published] == log.sizes
    # Verification is itself audited, after the judgement: the log it judged did not include it.
    with database(log.data_dir) as conn:
        assert conn.execute("SELECT count(*) FROM audit_events").fetchone()[0] == log.events + 1
        last = event_body(conn, log.events)
    assert (last["action"], last["outcome"], last["role"]) == ("audit.verify", "allowed", "operator")
    assert last["actor"].startswith("cli:")
    again = verify(log.data_dir)
    assert again.exit_code == 0, again.stderr
    assert f"{log.events + 1} event(s)" in again.stdout


def test_a_log_that_grew_since_the_last_checkpoint_verifies(log: Log) -> None:
    """Unsealed events are not a problem in themselves (the control for the tail tests below)."""
    assert run("tokens", "create", "--role", "agent", "--name", "late", "--data-dir", str(log.data_dir)).exit_code == 0
    result = verify(log.data_dir)
    assert result.exit_code == 0, result.stderr
    assert f"{log.events + 1} event(s)" in result.stdout


# --- events ----------------------------------------------------------------------------------------


def test_actor_edited_inside_the_canonical_bytes(log: Log) -> None:
    seq = log.sizes[0] // 2
    with database(log.data_dir) as conn:
        body = event_body(conn, seq)
        assert body["actor"] == "alice"
        body["actor"] = "mallory"
        conn.execute("UPDATE audit_events SET canonical = ? WHERE seq = ?", (canonical(body), seq))
    assert_not_intact(log.data_dir, f"event {seq}", "actor")


def test_actor_edited_consistently_in_bytes_and_columns(log: Log) -> None:
    """Every per-row check agrees with the forgery: only the signed root can tell."""
    seq = log.sizes[0] // 2
    with database(log.data_dir) as conn:
        body = event_body(conn, seq)
        body["actor"] = "mallory"
        write_event(conn, body)
    assert_not_intact(log.data_dir, f"events up to {log.sizes[0]} do not hash to the root signed")


def test_purpose_removed_from_an_event(log: Log) -> None:
    """A field without a queryable copy: only the hash covers it."""
    with database(log.data_dir) as conn:
        (seq,) = conn.execute("SELECT seq FROM audit_events WHERE action = 'record.reveal_identity'").fetchone()
        body = event_body(conn, seq)
        assert body["purpose"] == "review"
        body["purpose"] = None
        write_event(conn, body)
    first_covering = min(size for size in log.sizes if size > seq)
    assert_not_intact(log.data_dir, f"events up to {first_covering} do not hash")


def test_only_the_queryable_actor_column_edited(log: Log) -> None:
    seq = log.sizes[0] // 2
    with database(log.data_dir) as conn:
        conn.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = ?", (seq,))
    assert_not_intact(log.data_dir, f"event {seq}", "queryable actor", "mallory")


@pytest.mark.parametrize("column", ["at", "role", "action", "outcome", "request_id"])
def test_other_queryable_columns_edited(log: Log, column: str) -> None:
    seq = 1
    with database(log.data_dir) as conn:
        conn.execute(f"UPDATE audit_events SET {column} = 'forged' WHERE seq = ?", (seq,))
    assert_not_intact(log.data_dir, f"event {seq}", f"queryable {column}")


def test_canonical_bytes_not_in_canonical_form(log: Log) -> None:
    with database(log.data_dir) as conn:
        body = event_body(conn, 2)
        conn.execute("UPDATE audit_events SET canonical = ? WHERE seq = 2", (json.dumps(body, sort_keys=True).encode(),))
    assert_not_intact(log.data_dir, "event 2", "canonical form")


@pytest.mark.parametrize("which", ["first", "middle", "last"])
def test_event_deleted(log: Log, which: str) -> None:
    seq = {"first": 0, "middle": log.events // 2, "last": log.events - 1}[which]
    with database(log.data_dir) as conn:
        conn.execute("DELETE FROM audit_events WHERE seq = ?", (seq,))
        conn.execute("DELETE FROM audit_targets WHERE seq = ?", (seq,))
    if which == "last":
        assert_not_intact(log.data_dir, f"checkpoint at tree size {log.events} was signed", f"only {log.events - 1} events")
    else:
        assert_not_intact(log.data_dir, f"event {seq} is missing")


def _shift_up_from(conn: sqlite3.Connection, seq: int, rewrite: bool) -> None:
    """Move events seq.. one place up (optionally re-encoding each with its new position)."""
    conn.execute("UPDATE audit_events SET seq = -(seq + 1) WHERE seq >= ?", (seq,))
    conn.execute("UPDATE audit_events SET seq = -seq WHERE seq < 0")
    conn.execute("UPDATE audit_targets SET seq = -(seq + 1) WHERE seq >= ?", (seq,))
    conn.execute("UPDATE audit_targets SET seq = -seq WHERE seq < 0")
    if rewrite:
        for (moved,) in conn.execute("SELECT seq FROM audit_events WHERE seq > ? ORDER BY seq", (seq,)).fetchall():
            body = event_body(conn, moved)
            body["seq"] = moved
            write_event(conn, body)


@pytest.mark.parametrize("careful", [False, True], ids=["shifted-as-is", "shifted-and-re-encoded"])
def test_event_inserted_in_the_middle(log: Log, careful: bool) -> None:
    seq = log.sizes[0] // 2
    with database(log.data_dir) as conn:
        forged = event_body(conn, seq)
        _shift_up_from(conn, seq, rewrite=careful)
        forged.update(seq=seq, actor="carl", role="compliance_officer", action="record.read", outcome="allowed",
                      request_id="0" * 32, targets=[f"record:{log.record_ids[0]}"], purpose="alibi")
        write_event(conn, forged)
    if careful:
        assert_not_intact(log.data_dir, "do not hash to the root signed")
    else:
        assert_not_intact(log.data_dir, f"event {seq + 1}", "reordered")


@pytest.mark.parametrize("careful", [False, True], ids=["bytes-swapped", "rows-swapped-and-re-encoded"])
def test_two_events_reordered(log: Log, careful: bool) -> None:
    a, b = 3, 4
    with database(log.data_dir) as conn:
        first, second = event_body(conn, a), event_body(conn, b)
        assert canonical(first) != canonical(second)
        if careful:
            first["seq"], second["seq"] = b, a
            write_event(conn, first)
            write_event(conn, second)
        else:
            conn.execute("UPDATE audit_events SET canonical = ? WHERE seq = ?", (canonical(second), a))
            conn.execute("UPDATE audit_events SET canonical = ? WHERE seq = ?", (canonical(first), b))
    if careful:
        assert_not_intact(log.data_dir, f"events up to {log.sizes[0]} do not hash")
    else:
        assert_not_intact(log.data_dir, f"event {a}", "says it is event 4", "reordered")


@pytest.mark.parametrize("how", ["changed", "deleted", "added"])
def test_audit_targets_row_tampered(log: Log, how: str) -> None:
    """Targets are what record_id queries use: hiding or planting one changes who seems to have read a record."""
    record = f"record:{log.record_ids[1]}"
    with database(log.data_dir) as conn:
        (seq,) = conn.execute("SELECT min(seq) FROM audit_targets WHERE target = ?", (record,)).fetchone()
        if how == "changed":
            conn.execute("UPDATE audit_targets SET target = ? WHERE target = ? AND seq = ?",
                         (f"record:{log.record_ids[2]}", record, seq))
        elif how == "deleted":
            conn.execute("DELETE FROM audit_targets WHERE target = ? AND seq = ?", (record, seq))
        else:
            seq = 0
            conn.execute("INSERT INTO audit_targets (target, seq) VALUES (?, 0)", (record,))
    assert_not_intact(log.data_dir, f"event {seq}", "queryable targets")


# --- checkpoints -----------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["database", "database-and-published-copy"])
def test_checkpoint_root_forged(log: Log, where: str) -> None:
    size = log.sizes[1]
    with database(log.data_dir) as conn:
        (root,) = conn.execute("SELECT root_hash FROM audit_checkpoints WHERE tree_size = ?", (size,)).fetchone()
        forged = ("0" if root[0] != "0" else "1") + root[1:]
        conn.execute("UPDATE audit_checkpoints SET root_hash = ? WHERE tree_size = ?", (forged, size))
    if where == "database":
        assert_not_intact(log.data_dir, f"published checkpoint at tree size {size}", "differs")
    else:
        published = log.data_dir / PUBLISHED
        published.write_text(published.read_text().replace(root, forged))
        assert_not_intact(log.data_dir, f"checkpoint at tree size {size} has a bad signature")


@pytest.mark.parametrize("how", ["bit-flipped", "another-checkpoints-signature", "not-base64"])
def test_checkpoint_signature_corrupted(log: Log, how: str) -> None:
    size = log.sizes[1]
    with database(log.data_dir) as conn:
        signatures = {row[0]: row[4] for row in checkpoints(conn)}
        raw = bytearray(base64.b64decode(signatures[size]))
        raw[10] ^= 0x01
        forged = {
            "bit-flipped": base64.b64encode(bytes(raw)).decode(),
            "another-checkpoints-signature": signatures[log.sizes[0]],
            "not-base64": "not a signature!",
        }[how]
        conn.execute("UPDATE audit_checkpoints SET signature = ? WHERE tree_size = ?", (forged, size))
    assert_not_intact(log.data_dir, f"checkpoint at tree size {size} has a bad signature")


def test_log_rolled_back_behind_a_signed_checkpoint(log: Log) -> None:
    """The latest events and their checkpoint removed: the database is consistent with itself
    (events, targets, nodes and checkpoints all end at an earlier signed size); the published
    checkpoint file, outside the database, still names the later checkpoint."""
    keep = log.sizes[-2]
    with database(log.data_dir) as conn:
        conn.execute("DELETE FROM audit_events WHERE seq >= ?", (keep,))
        conn.execute("DELETE FROM audit_targets WHERE seq >= ?", (keep,))
        conn.execute("DELETE FROM audit_nodes WHERE ((idx + 1) << level) > ?", (keep,))
        conn.execute("DELETE FROM audit_checkpoints WHERE tree_size > ?", (keep,))
    assert_not_intact(log.data_dir, f"published checkpoint at tree size {log.sizes[-1]}", "rolled back")

    # Control: the rollback left nothing else to catch; with the published copy rolled back too,
    # the database alone looks intact (which is why the copy lives outside it).
    published = log.data_dir / PUBLISHED
    published.write_text("".join(line + "\n" for line in published.read_text().splitlines()
                                 if json.loads(line)["tree_size"] <= keep))
    assert verify(log.data_dir).exit_code == 0


def test_database_file_rolled_back_to_an_earlier_copy(log: Log, tmp_path: Path) -> None:
    aside = tmp_path / "aside"
    copy_database(log.data_dir, aside)  # after the first seals
    assert run("tokens", "create", "--role", "agent", "--name", "later", "--data-dir", str(log.data_dir)).exit_code == 0
    sealed = run("audit", "seal", "--data-dir", str(log.data_dir))
    assert sealed.exit_code == 0, sealed.stderr
    newer = json.loads(sealed.stdout)
    assert newer["tree_size"] == log.events + 2  # token.create, and the seal's own event it covers
    assert verify(log.data_dir).exit_code == 0  # control: the newer state is intact

    copy_database(aside, log.data_dir)
    assert_not_intact(log.data_dir, f"published checkpoint at tree size {newer['tree_size']}", "rolled back")


# --- gaps found while writing these tests (strict xfail: they pass once fixed) ------------------------


def test_cli_seal_leaves_no_unsealed_tail(log: Log) -> None:
    sealed = run("audit", "seal", "--data-dir", str(log.data_dir))
    assert sealed.exit_code == 0
    with database(log.data_dir) as conn:
        (last,) = conn.execute("SELECT max(seq) FROM audit_events").fetchone()
        assert event_body(conn, last)["action"] == "audit.checkpoint.seal"
        conn.execute("DELETE FROM audit_events WHERE seq = ?", (last,))
        conn.execute("DELETE FROM audit_targets WHERE seq = ?", (last,))
    assert_not_intact(log.data_dir)


def test_corrupted_merkle_node(log: Log) -> None:
    level = log.events.bit_length() - 1  # the largest perfect subtree: part of every later root
    with database(log.data_dir) as conn:
        assert conn.execute("UPDATE audit_nodes SET hash = zeroblob(32) WHERE level = ? AND idx = 0", (level,)).rowcount == 1
    assert_not_intact(log.data_dir)
    # Nor does the next seal extend the damaged tree and sign a wrong root.
    run("tokens", "create", "--role", "agent", "--name", "after-damage", "--data-dir", str(log.data_dir))
    sealed = run("audit", "seal", "--data-dir", str(log.data_dir))
    assert sealed.exit_code != 0 and "[audit_unavailable]" in sealed.stderr


def test_verify_while_a_server_appends_and_seals(log: Log, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server appending and sealing while verify runs must not make an intact log look cut."""
    from datetime import UTC, datetime

    from records.audit.events import AuditEventDraft, Outcome
    from records.audit.service import AuditService
    from records.crypto.keyring import LocalKeyring
    from records.storage.sqlite.audit import SqliteAuditLog

    real_head = SqliteAuditLog.head
    raced: list[int] = []

    async def head_then_the_server_seals(self: SqliteAuditLog):  # type: ignore[no-untyped-def]
        size, checkpoints = await real_head(self)
        if not raced:  # the running server: one request, then its periodic seal
            raced.append(size)
            server = AuditService(self, LocalKeyring.open(log.data_dir / "keyring"), log.data_dir / PUBLISHED)
            await server.append([AuditEventDraft(at=datetime.now(UTC), actor="alice", role="agent", action="record.list",
                                                 outcome=Outcome.allowed, status=200)])
            await server.seal()
        return size, checkpoints

    monkeypatch.setattr(SqliteAuditLog, "head", head_then_the_server_seals)
    result = verify(log.data_dir)
    assert raced == [log.events]
    assert result.exit_code == 0, result.stderr
