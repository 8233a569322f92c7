"""Issue 14 finding 7: a token name is one person for the installation's life. After an agent's
token was revoked, a token issued under the same name amended the first holder's files, and the
access log could not tell the two apart; now the name cannot be issued again."""

from __future__ import annotations

import sqlite3

from click.testing import CliRunner
from litestar.testing import TestClient

from records.api.app import create_app
from records.cli import main
from tests.conftest import RoleClient, record_body


def test_a_revoked_name_cannot_be_reissued(admin: RoleClient, as_role, client: TestClient) -> None:
    alice = as_role("agent", "alice")
    filed = alice.post("/api/v1/records", json=record_body())
    assert filed.status_code == 201
    assert admin.delete("/api/v1/tokens/alice").status_code == 204

    again = admin.post("/api/v1/tokens", json={"name": "alice", "role": "agent"})
    assert again.status_code == 409, again.text
    problem = again.json()
    assert problem["code"] == "token_name_retired" and "alice" in problem["detail"]
    assert "token" not in problem  # no secret was issued
    # Nobody can act as alice on her files any more; the access log keeps meaning her alone.
    names = [t["name"] for t in admin.get("/api/v1/tokens", params={"include_revoked": "true"}).json()["items"]]
    assert names.count("alice") == 1
    assert admin.post("/api/v1/tokens", json={"name": "alice.2", "role": "agent"}).status_code == 201


def test_the_cli_refuses_a_retired_name_too(data_dir, settings) -> None:
    runner = CliRunner()
    d = ["--data-dir", str(data_dir)]
    assert runner.invoke(main, ["init", *d]).exit_code == 0
    assert runner.invoke(main, ["tokens", "create", "--role", "admin", "--name", "root", *d]).exit_code == 0
    assert runner.invoke(main, ["tokens", "create", "--role", "agent", "--name", "bob", *d]).exit_code == 0
    assert runner.invoke(main, ["tokens", "revoke", "bob", *d]).exit_code == 0
    again = runner.invoke(main, ["tokens", "create", "--role", "agent", "--name", "bob", *d])
    assert again.exit_code == 2 and "[token_name_retired]" in again.stderr and again.stdout == ""


def test_names_reissued_before_the_migration_are_retired_by_it(data_dir, settings) -> None:
    app = create_app(settings)
    with TestClient(app):
        pass  # an installation at the current schema
    db = data_dir / "records.sqlite3"
    with sqlite3.connect(db) as conn:  # back to the schema before migration 10, with a name used twice
        conn.execute("DROP TABLE token_names")
        conn.execute("DELETE FROM schema_migrations WHERE version = 10")
        conn.executemany(
            "INSERT INTO api_tokens (secret_hash, name, role, created_at, revoked_at) VALUES (?, ?, ?, ?, ?)",
            [("h1", "carol", "agent", "2026-01-01T00:00:00+00:00", "2026-02-01T00:00:00+00:00"),
             ("h2", "carol", "agent", "2026-03-01T00:00:00+00:00", None),
             ("h3", "dave", "agent", "2026-01-01T00:00:00+00:00", "2026-02-01T00:00:00+00:00")])
    app = create_app(settings)
    with TestClient(app) as client:
        with client.portal() as portal:
            root = portal.call(app.state.token_service.issue, "root", "admin").token
        admin = RoleClient(client, root, "root", "admin")  # type: ignore[arg-type]
        assert admin.post("/api/v1/tokens", json={"name": "dave", "role": "agent"}).json()["code"] == "token_name_retired"
        assert admin.post("/api/v1/tokens", json={"name": "carol", "role": "agent"}).json()["code"] == "token_name_taken"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT name, first_issued_at FROM token_names WHERE name = 'carol'").fetchall() == [
            ("carol", "2026-01-01T00:00:00+00:00")]
