"""The ``records`` command line as operators use it."""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from records.cli import main
from records.services.tokens import hash_secret


@pytest.fixture
def cli():
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None):
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    return invoke


@pytest.fixture
def data_dir(tmp_path):
    """An installation made with ``records init``, as every command but serve and init needs."""
    path = tmp_path / "records-data"
    result = CliRunner().invoke(main, ["init", "--data-dir", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return path


def test_tokens_create_prints_only_the_token_and_stores_only_its_hash(cli, data_dir):
    result = cli("tokens", "create", "--role", "admin", "--name", "root", "--data-dir", str(data_dir))
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    assert token.startswith("rec_") and len(token) > 40
    raw = (data_dir / "records.sqlite3").read_bytes()
    assert token.encode() not in raw
    with sqlite3.connect(data_dir / "records.sqlite3") as conn:
        assert conn.execute("SELECT secret_hash FROM api_tokens").fetchone()[0] == hash_secret(token)


def test_token_from_the_cli_works_against_the_api(cli, data_dir):
    from litestar.testing import TestClient

    from records.api.app import create_app
    from records.settings import load_settings

    token = cli("tokens", "create", "--role", "agent", "--name", "alice", "--data-dir", str(data_dir)).stdout.strip()
    with TestClient(create_app(load_settings(data_dir=data_dir))) as client:
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json() == {"name": "alice", "role": "agent"}
        cli("tokens", "revoke", "alice", "--data-dir", str(data_dir))
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_list_and_revoke(cli, data_dir):
    d = ["--data-dir", str(data_dir)]
    cli("tokens", "create", "--role", "agent", "--name", "alice", *d)
    cli("tokens", "create", "--role", "archivist", "--name", "ada", *d)
    table = cli("tokens", "list", *d).stdout
    assert "alice" in table and "archivist" in table and "rec_" not in table
    assert cli("tokens", "revoke", "alice", *d).exit_code == 0
    listed = json.loads(cli("tokens", "list", "--json", *d).stdout)
    assert [t["name"] for t in listed] == ["ada"]
    everything = json.loads(cli("tokens", "list", "--all", "--json", *d).stdout)
    assert {t["name"]: t["revoked_at"] is not None for t in everything} == {"alice": True, "ada": False}


def test_data_dir_from_the_environment(cli, tmp_path):
    target = tmp_path / "from-env"
    assert cli("init", env={"RECORDS_DATA_DIR": str(target)}).exit_code == 0
    result = cli("tokens", "create", "--role", "agent", "--name", "x", env={"RECORDS_DATA_DIR": str(target)})
    assert result.exit_code == 0
    assert (target / "records.sqlite3").is_file()


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["tokens", "create", "--role", "agent", "--name", "bad name!"], "invalid_input"),
        (["tokens", "revoke", "nobody"], "token_not_found"),
    ],
)
def test_bad_input_gives_a_coded_error_and_exit_2(cli, data_dir, args, code):
    result = cli(*args, "--data-dir", str(data_dir))
    assert result.exit_code == 2
    assert f"[{code}]" in result.stderr
    assert "Traceback" not in result.output


def test_duplicate_name_and_unknown_role(cli, data_dir):
    d = ["--data-dir", str(data_dir)]
    cli("tokens", "create", "--role", "agent", "--name", "alice", *d)
    again = cli("tokens", "create", "--role", "agent", "--name", "alice", *d)
    assert again.exit_code == 2 and "[token_name_taken]" in again.stderr
    assert again.stdout == ""
    role = cli("tokens", "create", "--role", "overlord", "--name", "z", *d)
    assert role.exit_code == 2 and "overlord" in role.stderr


def test_bad_configuration_is_reported_not_raised(cli, data_dir, tmp_path):
    bad_env = cli("tokens", "list", "--data-dir", str(data_dir), env={"RECORDS_PAGE_SIZE_MAX": "lots"})
    assert bad_env.exit_code == 1 and "[invalid_configuration]" in bad_env.stderr
    missing = cli("tokens", "list", env={"RECORDS_CONFIG": str(tmp_path / "nope.toml")})
    assert "[invalid_configuration]" in missing.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("data_dir = [unterminated")
    result = cli("tokens", "list", env={"RECORDS_CONFIG": str(broken)})
    assert result.exit_code == 1 and "[invalid_configuration]" in result.stderr
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('colour = "blue"\n')
    result = cli("tokens", "list", env={"RECORDS_CONFIG": str(unknown)})
    assert "[invalid_configuration]" in result.stderr and "colour" in result.stderr


def test_data_dir_that_is_a_file(cli, tmp_path):
    target = tmp_path / "file"
    target.write_text("not a directory")
    result = cli("tokens", "list", "--data-dir", str(target))
    assert result.exit_code != 0
    assert "Traceback" not in result.output


def test_unusable_data_dir(cli, tmp_path):
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    result = cli("init", "--data-dir", str(blocker / "data"))
    assert result.exit_code == 1 and "[storage_unavailable]" in result.stderr


def test_init_creates_a_private_data_dir(cli, tmp_path):
    data_dir = tmp_path / "new"
    assert cli("init", "--data-dir", str(data_dir)).exit_code == 0
    assert (data_dir / "records.sqlite3").is_file()
    assert (data_dir.stat().st_mode & 0o777) == 0o700


def test_the_last_admin_token_cannot_be_revoked(cli, data_dir):
    d = ["--data-dir", str(data_dir)]
    cli("tokens", "create", "--role", "admin", "--name", "root", *d)
    refused = cli("tokens", "revoke", "root", *d)
    assert refused.exit_code == 2 and "[last_admin_token]" in refused.stderr
    cli("tokens", "create", "--role", "admin", "--name", "root2", *d)
    assert cli("tokens", "revoke", "root", *d).exit_code == 0


def test_an_unanticipated_failure_is_a_coded_error_not_a_traceback(monkeypatch, data_dir):
    import records.fsck

    async def broken(*args, **kwargs):
        raise RuntimeError("disk controller on fire")

    monkeypatch.setattr(records.fsck, "fsck", broken)
    result = CliRunner().invoke(main, ["fsck", "--data-dir", str(data_dir)])
    assert result.exit_code == 1
    assert "[internal_error] unexpected RuntimeError: disk controller on fire" in result.output
    assert "Traceback" not in result.output


# --- a data dir is created only on purpose ----------------------------------------------------------


@pytest.mark.parametrize("args", [
    ["tokens", "create", "--role", "admin", "--name", "root"],
    ["tokens", "list"],
    ["tokens", "revoke", "root"],
    ["keys", "status"],
    ["keys", "rotate"],
    ["audit", "verify"],
    ["audit", "seal"],
    ["fsck"],
    ["plugins", "list"],
    ["retention", "sweep"],
    ["backup", "--to", "elsewhere"],
])
def test_a_command_pointed_at_no_data_dir_refuses_and_creates_nothing(cli, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)  # run from another directory than the service's
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: [no_data_dir] ")
    assert str(tmp_path / "records-data") in result.stderr  # names the path it looked at
    assert "records init" in result.stderr
    assert result.stdout == "" and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_the_data_dir_named_by_the_environment_must_exist_too(cli, tmp_path):
    target = tmp_path / "from-env"
    result = cli("tokens", "create", "--role", "agent", "--name", "x", env={"RECORDS_DATA_DIR": str(target)})
    assert result.exit_code == 2 and f"[no_data_dir] no data dir at {target}" in result.stderr
    assert not target.exists()


def test_an_empty_directory_is_not_taken_for_an_installation(cli, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("tokens", "list", "--data-dir", str(empty))
    assert result.exit_code == 2 and "[no_data_dir]" in result.stderr and "holds no records installation" in result.stderr
    assert list(empty.iterdir()) == []


def test_init_then_commands_work_and_init_again_changes_nothing(cli, tmp_path):
    data_dir = tmp_path / "fresh"
    created = cli("init", "--data-dir", str(data_dir))
    assert created.exit_code == 0 and f"initialised {data_dir}" in created.stderr
    token = cli("tokens", "create", "--role", "admin", "--name", "root", "--data-dir", str(data_dir))
    assert token.exit_code == 0 and token.stdout.startswith("rec_")
    again = cli("init", "--data-dir", str(data_dir))
    assert again.exit_code == 0 and "already initialised" in again.stderr
    listed = json.loads(cli("tokens", "list", "--json", "--data-dir", str(data_dir)).stdout)
    assert [t["name"] for t in listed] == ["root"]


def test_keygen_needs_an_explicit_place_for_the_key(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("plugins", "keygen")
    assert result.exit_code == 2 and "--out" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_keygen_writes_the_private_key_0600_whatever_the_umask_and_says_where(cli, tmp_path):
    import os
    import stat

    key = tmp_path / "keys" / "team.pem"
    key.parent.mkdir()
    previous = os.umask(0)
    try:
        result = cli("plugins", "keygen", "--out", str(key))
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert str(key) in result.stderr and str(key) + ".pub" in result.stderr and "0600" in result.stderr
    assert result.stdout.startswith("-----BEGIN PUBLIC KEY-----")


def test_keygen_into_a_missing_directory_is_a_clear_error(cli, tmp_path):
    result = cli("plugins", "keygen", "--out", str(tmp_path / "nowhere" / "team.pem"))
    assert result.exit_code == 2 and result.stderr.startswith("Error: [invalid_input] cannot write ")
    assert not (tmp_path / "nowhere").exists()
