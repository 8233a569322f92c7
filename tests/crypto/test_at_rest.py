"""Encryption at rest, end to end: what reaches the disk, what tampering does, crypto-shredding,
backups, key rotation, masking, blind-index search, the master key and a lost keyring.

Most tests run the real app (litestar TestClient) on a fresh data dir and then look at the
data dir directly (SQLite, blob files, keyring files) or drive the ``records`` CLI on it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import TestClient

from records.api.app import create_app
from records.cli import main
from records.errors import KeyUnavailable
from records.installation import Installation
from records.roles import Role
from records.settings import RecordsSettings, load_settings
from records.storage.sqlite.backup import serving_lock
from tests.conftest import RoleClient, record_body

PROBLEM = "application/problem+json"


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture
def cli():
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None):
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    return invoke


class Server:
    """One run of the app on a data dir; stop it by leaving ``running``."""

    def __init__(self, app: Litestar, client: TestClient) -> None:
        self.app, self.client = app, client

    def call(self, fn: Any, *args: Any) -> Any:
        with self.client.portal() as portal:
            return portal.call(fn, *args)

    def as_role(self, role: Role, name: str) -> RoleClient:
        token = self.call(self.app.state.token_service.issue, name, str(role)).token
        return RoleClient(self.client, token, name, role)

    def token(self, holder: RoleClient) -> RoleClient:
        """The same token holder on this run (tokens live in the database)."""
        return RoleClient(self.client, holder.token, holder.name, holder.role)

    def shred(self, record_id: str) -> Any:
        return self.call(self.app.state.record_service.shred, record_id)


@contextmanager
def running(settings: RecordsSettings) -> Iterator[Server]:
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Server(app, client)


@contextmanager
def db(data_dir: Path) -> Iterator[sqlite3.Connection]:
    """A connection of the test's own to the data dir's database, committed and closed on exit."""
    conn = sqlite3.connect(data_dir / "records.sqlite3")
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def stored_doc(data_dir: Path, record_id: str) -> dict[str, Any]:
    with db(data_dir) as conn:
        return json.loads(conn.execute("SELECT doc FROM records WHERE id = ?", (record_id,)).fetchone()[0])


def write_doc(data_dir: Path, record_id: str, doc: dict[str, Any]) -> None:
    with db(data_dir) as conn:
        conn.execute("UPDATE records SET doc = ? WHERE id = ?", (json.dumps(doc), record_id))


def data_key_row(data_dir: Path, record_id: str) -> tuple | None:
    with db(data_dir) as conn:
        return conn.execute("SELECT kek_id, wrapped FROM data_keys WHERE record_id = ?", (record_id,)).fetchone()


def kek_counts(data_dir: Path) -> dict[str, int]:
    with db(data_dir) as conn:
        return dict(conn.execute("SELECT kek_id, count(*) FROM data_keys GROUP BY kek_id").fetchall())


def alter_token(token: str) -> str:
    """The sealed value with one base64url character in its middle changed to another valid one."""
    i = len(token) // 2
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]


def encodings(marker: str) -> dict[str, bytes]:
    names = ("utf-8", "utf-16-le") if marker.isascii() else ("utf-8", "gbk", "utf-16-le")
    return {name: marker.encode(name) for name in names}


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def find_markers(root: Path, markers: list[str]) -> list[tuple[str, str, str]]:
    """(file, marker, encoding) for every marker found anywhere in any file under ``root``."""
    found = []
    for path in files_under(root):
        raw = path.read_bytes()
        for marker in markers:
            for name, form in encodings(marker).items():
                if form in raw:
                    found.append((str(path.relative_to(root)), marker, name))
    return found


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["code"] == code
    assert "Traceback" not in response.text and "File \"" not in response.text


def upload(who: RoleClient, record_id: str, filename: str, content: bytes) -> dict[str, Any]:
    response = who.post(f"/api/v1/records/{record_id}/attachments", files={"file": (filename, content, "application/octet-stream")})
    assert response.status_code == 201, response.text
    return response.json()


def file_record(who: RoleClient, **overrides: Any) -> dict[str, Any]:
    response = who.post("/api/v1/records", json=record_body(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


# --- no personal data or content in clear, anywhere on disk ---------------------------------------------------

KINDS = {"consultation": ("CN", "咨询"), "work_order": ("WO", "工单"), "complaint": ("CP", "投诉"), "emergency": ("EM", "应急")}
FIELDS = {
    "name": "姓名", "account": "账户", "subject": "主题", "description": "描述", "needs": "诉求", "note": "备注",
    "comm": "沟通", "result": "结果", "comment": "评价", "file": "文件名", "content": "内容", "newacct": "新户",
    "newdesc": "新述",
}


def markers_for(kind: str) -> dict[str, tuple[str, str]]:
    short, chinese = KINDS[kind]
    return {field: (f"MARKER-7f3a-{short}-{field.upper()}", f"标记{chinese}{cn}甲乙丙") for field, cn in FIELDS.items()}


def test_no_marker_reaches_the_disk_or_a_backup(settings, data_dir, tmp_path, cli):
    phones = {kind: f"1391234{n:04d}" for n, kind in enumerate(KINDS, start=987)}
    filed: dict[str, tuple[dict, dict, bytes]] = {}
    with running(settings) as server:
        agent = server.as_role(Role.agent, "alice")
        for kind in KINDS:
            m = markers_for(kind)
            both = {f: f"{a} {c}" for f, (a, c) in m.items()}
            record = file_record(
                agent,
                kind=kind,
                customer={"name": both["name"], "phone": phones[kind], "account": f"{m['account'][0]}/{m['account'][1]}"},
                subject=both["subject"],
                description=both["description"],
                needs=both["needs"],
            )
            url = f"/api/v1/records/{record['id']}"
            assert agent.post(f"{url}/notes", json={"text": both["note"]}).status_code == 201
            comm = {"text": both["comm"], "type": "communication", "channel": "phone", "direction": "inbound"}
            assert agent.post(f"{url}/notes", json=comm).status_code == 201
            content = b"\n".join(form for marker in m["content"] for form in encodings(marker).values()) * 50
            attachment = upload(agent, record["id"], f"{both['file']}.txt", content)
            version = agent.get(url).headers["etag"]
            patch = {
                "result": both["result"],
                "feedback": {"satisfaction": 4, "comment": both["comment"]},
                "customer": {"account": f"{m['newacct'][0]}/{m['newacct'][1]}"},
                "description": both["newdesc"],
            }
            amended = agent.patch(url, json=patch, headers={"If-Match": version})
            assert amended.status_code == 200, amended.text
            filed[kind] = (record, attachment, content)

        # Everything is readable back through the API: the markers really were stored.
        for kind, (record, attachment, content) in filed.items():
            m = markers_for(kind)
            got = agent.get(f"/api/v1/records/{record['id']}").json()
            assert got["personal_data"] == "clear"
            assert got["customer"] == {
                "name": f"{m['name'][0]} {m['name'][1]}", "phone": phones[kind],
                "account": f"{m['newacct'][0]}/{m['newacct'][1]}", "identity_verified": False,
            }
            for field in ("subject", "needs", "result"):
                assert got[field] == " ".join(m[field])
            assert got["description"] == " ".join(m["newdesc"])
            assert record["description"] == " ".join(m["description"])  # as filed, before the amendment
            assert got["feedback"]["comment"] == " ".join(m["comment"])
            assert [n["text"] for n in got["notes"]] == [" ".join(m["note"]), " ".join(m["comm"])]
            assert got["notes"][1]["type"] == "communication"
            assert got["attachments"][0]["filename"] == f"{' '.join(m['file'])}.txt"
            download = agent.get(f"/api/v1/records/{record['id']}/attachments/{attachment['id']}")
            assert download.status_code == 200 and download.content == content
            found = agent.get("/api/v1/records", params={"customer_phone": phones[kind]}).json()["items"]
            assert [r["id"] for r in found] == [record["id"]]
            # The account given at filing was stored too, before the amendment replaced it.
            assert record["customer"]["account"] == f"{m['account'][0]}/{m['account'][1]}"

    # The app is stopped. Nothing under the data dir holds a marker, in any encoding.
    markers = [marker for kind in KINDS for pair in markers_for(kind).values() for marker in pair] + list(phones.values())
    names = {p.relative_to(data_dir).parts[0] for p in files_under(data_dir)}
    assert {"records.sqlite3", "blobs", "keyring"} <= names
    assert len(files_under(data_dir / "blobs")) == 4
    assert find_markers(data_dir, markers) == []
    # The scanner does see what is stored in clear (record references), so an empty result means something.
    references = [record["reference"] for record, _, _ in filed.values()]
    assert {marker for _, marker, _ in find_markers(data_dir, references)} == set(references)

    backup_dir = tmp_path / "backup"
    result = cli("backup", "--to", str(backup_dir), "--data-dir", str(data_dir))
    assert result.exit_code == 0, result.output
    assert (backup_dir / "records.sqlite3").is_file() and len(files_under(backup_dir / "blobs")) == 4
    assert not any("keyring" in p.name for p in files_under(backup_dir))
    assert find_markers(backup_dir, markers) == []
    assert find_markers(data_dir, markers) == []


# --- tampering ----------------------------------------------------------------------------------


def test_an_altered_sealed_field_is_a_field_integrity_problem(agent, filed, data_dir):
    doc = stored_doc(data_dir, filed["id"])
    doc["sealed"]["subject"] = alter_token(doc["sealed"]["subject"])
    write_doc(data_dir, filed["id"], doc)
    response = agent.get(f"/api/v1/records/{filed['id']}")
    assert_problem(response, 500, "field_integrity")
    assert "subject" in response.json()["detail"]


def test_an_altered_attachment_is_never_delivered(agent, filed, data_dir):
    content = os.urandom(200_000)  # four segments: the altered byte is in the middle of the stream
    attachment = upload(agent, filed["id"], "scan.pdf", content)
    url = f"/api/v1/records/{filed['id']}/attachments/{attachment['id']}"
    assert agent.get(url).content == content
    [blob] = files_under(data_dir / "blobs")
    raw = bytearray(blob.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    blob.write_bytes(bytes(raw))
    try:
        response = agent.get(url)
    except httpx.HTTPError:
        return  # the download was aborted
    assert response.content != content
    # Either an error, or a body cut short before the altered segment: never the altered plaintext.
    assert response.status_code >= 500 or (len(response.content) < len(content) and content.startswith(response.content))


@pytest.mark.parametrize("where", ["same record", "another record"])
def test_an_attachment_blob_moved_to_another_attachment_is_refused(agent, filed, data_dir, where):
    other = filed if where == "same record" else file_record(agent)
    first = upload(agent, filed["id"], "a.txt", b"first attachment " * 100)
    second = upload(agent, other["id"], "b.txt", b"other attachment " * 100)
    source = data_dir / "blobs" / "attachments" / filed["id"] / first["id"]
    target = data_dir / "blobs" / "attachments" / other["id"] / second["id"]
    shutil.copyfile(source, target)
    try:
        response = agent.get(f"/api/v1/records/{other['id']}/attachments/{second['id']}")
    except httpx.HTTPError:
        return
    assert response.status_code >= 500 and b"first attachment" not in response.content


def test_a_sealed_value_copied_to_another_record_or_field_is_refused(agent, data_dir):
    a = file_record(agent, subject="Subject of A")
    b = file_record(agent, subject="Subject of B")
    doc_a, doc_b = stored_doc(data_dir, a["id"]), stored_doc(data_dir, b["id"])
    # Same record, another field.
    moved = json.loads(json.dumps(doc_a))
    moved["sealed"]["customer.name"] = doc_a["sealed"]["customer.phone"]
    write_doc(data_dir, a["id"], moved)
    # Another record, same field.
    doc_b["sealed"]["subject"] = doc_a["sealed"]["subject"]
    write_doc(data_dir, b["id"], doc_b)

    response = agent.get(f"/api/v1/records/{a['id']}")
    assert_problem(response, 500, "field_integrity")
    assert "customer.name" in response.json()["detail"]
    response = agent.get(f"/api/v1/records/{b['id']}")
    assert_problem(response, 500, "field_integrity")
    assert "subject" in response.json()["detail"]

    write_doc(data_dir, a["id"], doc_a)  # put A back: it reads again, so the failure was the move
    assert agent.get(f"/api/v1/records/{a['id']}").json()["subject"] == "Subject of A"


def test_swapped_data_keys_are_a_key_problem(agent, data_dir):
    a, b = file_record(agent), file_record(agent)
    wrapped_a, wrapped_b = data_key_row(data_dir, a["id"])[1], data_key_row(data_dir, b["id"])[1]
    with db(data_dir) as conn:
        conn.execute("UPDATE data_keys SET wrapped = ? WHERE record_id = ?", (wrapped_b, a["id"]))
        conn.execute("UPDATE data_keys SET wrapped = ? WHERE record_id = ?", (wrapped_a, b["id"]))
    for record in (a, b):
        response = agent.get(f"/api/v1/records/{record['id']}")
        assert_problem(response, 503, "key_unavailable")
        assert "integrity" in response.json()["detail"]


# --- crypto-shredding -----------------------------------------------------------------------------


def test_shredding_destroys_the_record_content_for_good(app, client, agent, filed, data_dir):
    url = f"/api/v1/records/{filed['id']}"
    assert agent.post(f"{url}/notes", json={"text": "called back"}).status_code == 201
    upload(agent, filed["id"], "invoice.pdf", b"%PDF invoice " * 1000)
    kek_id, wrapped = data_key_row(data_dir, filed["id"])
    other = file_record(agent, subject="Unrelated")

    with client.portal() as portal:
        portal.call(app.state.record_service.shred, filed["id"])

    response = agent.get(url)
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["personal_data"] == "destroyed" and record["destroyed_at"] is not None
    assert record["customer"] is None and record["subject"] is None and record["description"] is None
    assert [n["text"] for n in record["notes"]] == [None]
    assert record["attachments"][0]["filename"] is None and record["attachments"][0]["sha256"] is None
    assert record["reference"] == filed["reference"] and record["kind"] == "complaint"  # governance data stays
    listed = {r["id"]: r for r in agent.get("/api/v1/records").json()["items"]}
    assert listed[filed["id"]]["personal_data"] == "destroyed"
    assert listed[other["id"]]["subject"] == "Unrelated"

    assert data_key_row(data_dir, filed["id"]) is None
    with db(data_dir) as conn:
        phone_idx, account_idx = conn.execute(
            "SELECT customer_phone_idx, customer_account_idx FROM records WHERE id = ?", (filed["id"],)
        ).fetchone()
    assert phone_idx is None and account_idx is None
    assert stored_doc(data_dir, filed["id"])["sealed"] == {}
    register = data_dir / "keyring" / "destroyed-keys"
    assert filed["id"] in register.read_text().split()
    assert stat.S_IMODE(register.stat().st_mode) == 0o600
    # The wrapped key was overwritten, not left in a free page or the WAL.
    assert all(wrapped not in p.read_bytes() for p in files_under(data_dir))
    assert agent.get("/api/v1/records", params={"customer_phone": "13812345678"}).json()["items"] == [
        listed[other["id"]]
    ]


def destroyed_record_answers(agent: RoleClient, record: dict, attachment: dict) -> list[httpx.Response]:
    url = f"/api/v1/records/{record['id']}"
    return [
        agent.get(f"{url}/attachments/{attachment['id']}"),
        agent.patch(url, json={"subject": "again"}, headers={"If-Match": agent.get(url).headers["etag"]}),
        agent.post(f"{url}/notes", json={"text": "more"}),
        agent.post(f"{url}/attachments", files={"file": ("x.txt", b"x", "text/plain")}),
        agent.get(f"{url}/identity", headers={"X-Purpose": "complaint follow-up"}),
    ]


def test_a_destroyed_record_answers_410(app, client, agent, filed):
    attachment = upload(agent, filed["id"], "invoice.pdf", b"%PDF invoice")
    with client.portal() as portal:
        portal.call(app.state.record_service.shred, filed["id"])
    for response in destroyed_record_answers(agent, filed, attachment):
        assert_problem(response, 410, "record_destroyed")


def test_a_destroyed_record_never_delivers_or_accepts_content(app, client, agent, filed):
    """What holds even with the 410 bug above: nothing is delivered or changed."""
    attachment = upload(agent, filed["id"], "invoice.pdf", b"%PDF invoice")
    with client.portal() as portal:
        portal.call(app.state.record_service.shred, filed["id"])
    version = agent.get(f"/api/v1/records/{filed['id']}").json()["version"]
    for response in destroyed_record_answers(agent, filed, attachment):
        assert response.status_code >= 400 and response.headers["content-type"].startswith(PROBLEM)
        assert b"invoice" not in response.content
    after = agent.get(f"/api/v1/records/{filed['id']}").json()
    assert after["version"] == version and len(after["notes"]) == 0 and len(after["attachments"]) == 1


# --- backups never resurrect a destroyed record -----------------------------------------------------------


def test_a_restored_backup_does_not_bring_a_destroyed_record_back(settings, data_dir, tmp_path, cli):
    d = ["--data-dir", str(data_dir)]
    backup_dir = tmp_path / "backup"
    with running(settings) as server:
        agent = server.as_role(Role.agent, "alice")
        a = file_record(agent, subject="Record A")
        b = file_record(agent, subject="Record B")
        upload(agent, a["id"], "a.txt", b"content of A")
        b_attachment = upload(agent, b["id"], "b.txt", b"content of B")
        result = cli("backup", "--to", str(backup_dir), *d)  # online, while the app runs
        assert result.exit_code == 0, result.output
        server.shred(a["id"])
        assert agent.get(f"/api/v1/records/{a['id']}").json()["personal_data"] == "destroyed"

    with db(backup_dir) as conn:  # the backup does hold A's wrapped key
        assert conn.execute("SELECT count(*) FROM data_keys WHERE record_id = ?", (a["id"],)).fetchone()[0] == 1

    refused = cli("restore", "--from", str(backup_dir), *d)
    assert refused.exit_code == 2 and "[backup_failed]" in refused.stderr and "--force" in refused.stderr

    result = cli("restore", "--from", str(backup_dir), "--force", *d)
    assert result.exit_code == 0, result.output
    assert "restored 2 record(s)" in result.stderr
    assert data_key_row(data_dir, a["id"]) is None and data_key_row(data_dir, b["id"]) is not None
    assert stored_doc(data_dir, a["id"])["sealed"] == {}

    def check_after_restore() -> None:
        with running(settings) as server:
            agent2 = server.token(agent)
            got_a = agent2.get(f"/api/v1/records/{a['id']}").json()
            assert got_a["personal_data"] == "destroyed" and got_a["subject"] is None and got_a["customer"] is None
            got_b = agent2.get(f"/api/v1/records/{b['id']}").json()
            assert got_b["personal_data"] == "clear" and got_b["subject"] == "Record B"
            assert got_b["customer"]["phone"] == "13812345678"
            download = agent2.get(f"/api/v1/records/{b['id']}/attachments/{b_attachment['id']}")
            assert download.status_code == 200 and download.content == b"content of B"
            download = agent2.get(f"/api/v1/records/{a['id']}/attachments/{got_a['attachments'][0]['id']}")
            assert download.status_code >= 400 and b"content of A" not in download.content

    check_after_restore()

    # A backup copied back by hand (no CLI) is caught when the service opens the data dir.
    for suffix in ("", "-wal", "-shm"):
        (data_dir / f"records.sqlite3{suffix}").unlink(missing_ok=True)
    shutil.copyfile(backup_dir / "records.sqlite3", data_dir / "records.sqlite3")
    assert data_key_row(data_dir, a["id"]) is not None
    check_after_restore()
    assert data_key_row(data_dir, a["id"]) is None


def test_restore_tells_how_many_destroyed_records_stay_destroyed(settings, data_dir, tmp_path, cli):
    backup_dir = tmp_path / "backup"
    with running(settings) as server:
        record = file_record(server.as_role(Role.agent, "alice"))
        assert cli("backup", "--to", str(backup_dir), "--data-dir", str(data_dir)).exit_code == 0
        server.shred(record["id"])
    result = cli("restore", "--from", str(backup_dir), "--force", "--data-dir", str(data_dir))
    assert result.exit_code == 0 and data_key_row(data_dir, record["id"]) is None
    assert "1 record(s) destroyed since that backup stay destroyed" in result.stderr


def test_restore_is_refused_while_a_server_holds_the_data_dir(settings, data_dir, tmp_path, cli):
    with running(settings) as server:
        file_record(server.as_role(Role.agent, "alice"))
    backup_dir = tmp_path / "backup"
    assert cli("backup", "--to", str(backup_dir), "--data-dir", str(data_dir)).exit_code == 0
    before = (data_dir / "records.sqlite3").read_bytes()
    with serving_lock(data_dir, exclusive=False):
        result = cli("restore", "--from", str(backup_dir), "--force", "--data-dir", str(data_dir))
    assert result.exit_code != 0 and "[backup_failed]" in result.stderr
    assert "Traceback" not in result.output
    assert (data_dir / "records.sqlite3").read_bytes() == before


# --- key rotation, interrupted and resumed ---------------------------------------------------------


class Crash(Exception):
    """Stands for the process dying: nothing after it runs, what was committed stays."""


def status_table(cli, data_dir: Path) -> dict[str, tuple[str, int]]:
    result = cli("keys", "status", "--data-dir", str(data_dir))
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines()[1:] if line.strip()]
    return {row[0]: (row[1], int(row[-1])) for row in rows}


def test_rotation_killed_half_way_resumes(settings, data_dir, cli, monkeypatch):
    import records.services.keys

    monkeypatch.setattr(records.services.keys, "REWRAP_BATCH", 4)
    with running(settings) as server:  # started before the rotation: must follow it
        agent = server.as_role(Role.agent, "alice")
        filed = [file_record(agent, subject=f"Record {n:02d}")["id"] for n in range(30)]
        [old] = kek_counts(data_dir)
        old_material = json.loads((data_dir / "keyring" / "keyring.json").read_text())["keks"][old]["material"]

        async def rotate_until_killed() -> None:
            installation = await Installation.open(settings)
            try:

                def progress(done: int, total: int) -> None:
                    assert total == 30
                    if done >= 10:
                        raise Crash

                with pytest.raises(Crash):
                    await installation.keys.rotate(grace_seconds=0, progress=progress)
            finally:
                await installation.close()

        anyio.run(rotate_until_killed)

        counts = kek_counts(data_dir)
        [new] = set(counts) - {old}
        assert counts == {new: 10, old: 20}
        assert status_table(cli, data_dir) == {old: ("retiring", 20), new: ("active", 10)}
        # Half-way, every record still reads, and a new one is wrapped by the new KEK.
        for record_id in filed:
            response = agent.get(f"/api/v1/records/{record_id}")
            assert response.status_code == 200, response.text
        filed.append(file_record(agent, subject="Filed mid-rotation")["id"])
        assert kek_counts(data_dir) == {new: 11, old: 20}

        result = cli("keys", "rotate", "--data-dir", str(data_dir), env={"RECORDS_KEY_ROTATION_GRACE_SECONDS": "0"})
        assert result.exit_code == 0, result.output
        assert f"resumed rotation to {new}: re-wrapped 20 data key(s)" in result.stderr
        assert f"retired {old}" in result.stderr and "still wraps" not in result.stderr

        assert kek_counts(data_dir) == {new: 31}
        assert status_table(cli, data_dir) == {old: ("retired", 0), new: ("active", 31)}
        keyring_file = data_dir / "keyring" / "keyring.json"
        text = keyring_file.read_text()
        assert json.loads(text)["keks"][old]["material"] == "" and old_material not in text
        assert stat.S_IMODE(keyring_file.stat().st_mode) == 0o600
        # The server that started under the old KEK reads everything after it was retired.
        listed = agent.get("/api/v1/records", params={"limit": 50}).json()["items"]
        assert sorted(r["id"] for r in listed) == sorted(filed)
        for record_id in filed:
            assert agent.get(f"/api/v1/records/{record_id}").json()["customer"]["name"] == "张三"

    with running(settings) as server:  # and so does a fresh start
        agent = server.token(agent)
        assert agent.get(f"/api/v1/records/{filed[0]}").json()["subject"] == "Record 00"

    again = cli("keys", "rotate", "--data-dir", str(data_dir), env={"RECORDS_KEY_ROTATION_GRACE_SECONDS": "0"})
    assert again.exit_code == 0 and "rotated to" in again.stderr and "resumed" not in again.stderr
    assert f"retired {new}" in again.stderr


# --- masking per role -------------------------------------------------------------------------------

MASKED_CUSTOMER = {"name": "张*", "phone": "138****5678", "account": "AC****01", "identity_verified": False}
CLEAR_CUSTOMER = {"name": "张三", "phone": "13812345678", "account": "ACC-1001", "identity_verified": False}


def seen(who: RoleClient, record_id: str) -> list[tuple[dict, str]]:
    one = who.get(f"/api/v1/records/{record_id}")
    assert one.status_code == 200, one.text
    [listed] = who.get("/api/v1/records").json()["items"]
    return [(r["customer"], r["personal_data"]) for r in (one.json(), listed)]


def test_personal_data_is_masked_for_roles_without_need(
    agent, supervisor, archivist, compliance_officer, admin, filed
):
    assert filed["customer"] == CLEAR_CUSTOMER
    for who in (agent, supervisor):
        assert seen(who, filed["id"]) == [(CLEAR_CUSTOMER, "clear")] * 2, who.role
    for who in (archivist, compliance_officer, admin):
        assert seen(who, filed["id"]) == [(MASKED_CUSTOMER, "masked")] * 2, who.role
    # Masking is of personal data only: the content of the file is there for them.
    assert archivist.get(f"/api/v1/records/{filed['id']}").json()["subject"] == filed["subject"]
    # Revealing is a separate action, allowed only to some roles.
    identity = f"/api/v1/records/{filed['id']}/identity"
    purpose = {"X-Purpose": "complaint follow-up"}
    assert compliance_officer.get(identity, headers=purpose).json() == CLEAR_CUSTOMER
    assert agent.get(identity, headers=purpose).json() == CLEAR_CUSTOMER
    for who in (archivist, admin):
        assert_problem(who.get(identity, headers=purpose), 403, "forbidden")


def test_who_sees_personal_data_is_configuration(monkeypatch, tmp_path):
    monkeypatch.setenv("RECORDS_IDENTITY_ROLES", "compliance_officer")
    with running(load_settings(data_dir=tmp_path / "data")) as server:
        agent = server.as_role(Role.agent, "alice")
        officer = server.as_role(Role.compliance_officer, "carl")
        record = file_record(agent)
        assert record["customer"] == MASKED_CUSTOMER and record["personal_data"] == "masked"
        assert seen(agent, record["id"]) == [(MASKED_CUSTOMER, "masked")] * 2
        assert seen(officer, record["id"]) == [(CLEAR_CUSTOMER, "clear")] * 2


# --- blind-index search -------------------------------------------------------------------------------


def test_search_by_phone_and_account_through_blind_indexes(agent, data_dir):
    def customer(phone: str, account: str) -> dict[str, str]:
        return {"name": "王五", "phone": phone, "account": account}

    plain = file_record(agent, kind="complaint", customer=customer("13812345678", "ACC-1001"))
    written = file_record(agent, kind="work_order", customer=customer("+86 138-1234-5678", "acc-1001"))
    other = file_record(agent, kind="complaint", customer=customer("13900001111", "ACC-2002"))

    def ids(**params: str) -> set[str]:
        response = agent.get("/api/v1/records", params=params)
        assert response.status_code == 200, response.text
        return {r["id"] for r in response.json()["items"]}

    both = {plain["id"], written["id"]}
    assert ids(customer_phone="13812345678") == both
    assert ids(customer_phone="+86 138 1234 5678") == both
    assert ids(customer_phone="0086-138-1234-5678") == both
    assert ids(customer_phone="13900001111") == {other["id"]}
    assert ids(customer_phone="13812345670") == set()
    assert ids(customer_account="ACC-1001") == both
    assert ids(customer_account=" acc - 1001 ") == both
    assert ids(customer_account="ＡＣＣ－１００１") == both
    assert ids(customer_account="ACC1001") == set()
    assert ids(customer_account="acc-2002") == {other["id"]}
    # Combined with each other and with other filters (AND).
    assert ids(customer_phone="13812345678", kind="work_order") == {written["id"]}
    assert ids(customer_phone="13812345678", customer_account="acc-2002") == set()
    assert ids(customer_account="acc-1001", kind="complaint") == {plain["id"]}

    with db(data_dir) as conn:
        rows = dict(
            (row[0], row[1:]) for row in conn.execute("SELECT id, customer_phone_idx, customer_account_idx FROM records")
        )
    phone_plain, account_plain = rows[plain["id"]]
    assert rows[written["id"]] == (phone_plain, account_plain)  # same normalised values, same digests
    assert rows[other["id"]][0] != phone_plain and rows[other["id"]][1] != account_plain
    for value in (phone_plain, account_plain):
        assert len(value) == 64 and set(value) <= set("0123456789abcdef")  # a digest, not the value
        assert "13812345678" not in value
    assert phone_plain != account_plain
    for path in files_under(data_dir):
        assert b"13812345678" not in path.read_bytes() and b"ACC-1001" not in path.read_bytes(), path


# --- master key -------------------------------------------------------------------------------------------


def test_master_key_protects_the_keyring(data_dir, cli, monkeypatch):
    d = ["--data-dir", str(data_dir)]
    master = base64.b64encode(os.urandom(32)).decode()
    with_master = {"RECORDS_MASTER_KEY": master}
    assert cli("init", *d, env=with_master).exit_code == 0
    keyring_dir = data_dir / "keyring"
    keyring_file = keyring_dir / "keyring.json"
    assert stat.S_IMODE(keyring_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(keyring_file.stat().st_mode) == 0o600
    doc = json.loads(keyring_file.read_text())
    assert doc["protected_by_master_key"] is True
    values = [entry["material"] for entry in doc["keks"].values()] + [doc["index_key"]]
    assert values and all(v.startswith("sealed:") for v in values)
    assert master not in keyring_file.read_text()

    monkeypatch.setenv("RECORDS_MASTER_KEY", master)
    with running(load_settings(data_dir=data_dir)) as server:
        agent = server.as_role(Role.agent, "alice")
        record = file_record(agent)
        assert agent.get(f"/api/v1/records/{record['id']}").json()["customer"]["name"] == "张三"
    monkeypatch.delenv("RECORDS_MASTER_KEY")

    wrong = cli("tokens", "list", *d, env={"RECORDS_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()})
    assert wrong.exit_code == 1 and "[key_unavailable]" in wrong.stderr and "master key" in wrong.stderr
    unset = cli("keys", "status", *d)
    assert unset.exit_code == 1 and "[key_unavailable]" in unset.stderr and "RECORDS_MASTER_KEY" in unset.stderr
    for result in (wrong, unset):
        assert "Traceback" not in result.output
    ok = cli("keys", "status", *d, env=with_master)
    assert ok.exit_code == 0 and "active" in ok.stdout


def test_a_master_key_cannot_be_added_to_an_unprotected_keyring(data_dir, cli):
    assert cli("init", "--data-dir", str(data_dir)).exit_code == 0
    doc = json.loads((data_dir / "keyring" / "keyring.json").read_text())
    assert doc["protected_by_master_key"] is False
    assert all(len(base64.b64decode(e["material"])) == 32 for e in doc["keks"].values())
    result = cli("tokens", "list", "--data-dir", str(data_dir), env={"RECORDS_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()})
    assert result.exit_code == 1 and "[key_unavailable]" in result.stderr


# --- a missing keyring is an error, never a fresh start -------------------------------------------------


def test_a_missing_keyring_is_refused_not_recreated(settings, data_dir, tmp_path, cli):
    backup_dir = tmp_path / "backup"
    with running(settings) as server:
        agent = server.as_role(Role.agent, "alice")
        record = file_record(agent)
        assert cli("backup", "--to", str(backup_dir), "--data-dir", str(data_dir)).exit_code == 0
        keyring_backup = tmp_path / "keyring-copy"
        shutil.copytree(data_dir / "keyring", keyring_backup)
        shutil.rmtree(data_dir / "keyring")
        # The running server issues no data key under a keyring that is gone (it could never be opened).
        assert_problem(agent.post("/api/v1/records", json=record_body()), 503, "key_unavailable")

    d = ["--data-dir", str(data_dir)]
    for args in (
        ("tokens", "list", *d),
        ("keys", "status", *d),
        ("keys", "rotate", *d),
        ("init", *d),
        ("backup", "--to", str(tmp_path / "backup2"), *d),
        ("restore", "--from", str(backup_dir), "--force", *d),
    ):
        result = cli(*args)
        assert result.exit_code == 1, (args, result.output)
        assert "[key_unavailable]" in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.output
        assert not (data_dir / "keyring").exists(), args
    with pytest.raises(ExceptionGroup) as caught:  # the server does not start either
        with running(settings):
            pass
    assert caught.group_contains(KeyUnavailable)
    assert not (data_dir / "keyring").exists()

    # With the keyring put back, everything reads again.
    shutil.copytree(keyring_backup, data_dir / "keyring")
    with running(settings) as server:
        assert server.token(agent).get(f"/api/v1/records/{record['id']}").json()["subject"] == record["subject"]
