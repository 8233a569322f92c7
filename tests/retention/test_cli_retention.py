"""Archivists' CLI (issue 15, item 10): schedules, floors, holds, batches, decisions and reviews,
scriptable as the API is."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from records.api.app import create_app
from records.cli import main
from records.roles import Role
from tests.conftest import RoleClient
from tests.retention.conftest import archive


@pytest.fixture
def cli(data_dir):  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(main, [*args, "--data-dir", str(data_dir)], input=stdin, catch_exceptions=False)

    return invoke


def _archived(settings, clock, n: int = 2) -> list[str]:  # type: ignore[no-untyped-def]
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        with client.portal() as portal:
            agent = RoleClient(client, portal.call(app.state.token_service.issue, "alice", "agent").token, "alice", Role.agent)
            ada = RoleClient(client, portal.call(app.state.token_service.issue, "ada", "archivist").token, "ada", Role.archivist)
        return [archive(agent, ada, "complaint")["id"] for _ in range(n)]


def test_schedules_floors_and_previews_from_the_cli(clock, settings, tmp_path, cli):
    _archived(settings, clock, 1)
    listed = cli("retention", "schedules", "list")
    assert listed.exit_code == 0 and "Complaints" in listed.stdout
    complaints = next(line.split("\t")[0] for line in listed.stdout.splitlines() if "\tComplaints\t" in line)
    body = tmp_path / "schedule.json"
    body.write_text(json.dumps({"name": "Urgent complaints", "kinds": ["complaint"], "classification": ["urgency:urgent"],
                                "period": "P1Y", "action": "destroy",
                                "review_stages": [{"name": "records manager", "roles": ["archivist"]}]}))
    created = cli("retention", "schedules", "create", "--body", str(body))
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["review_stages"][0]["name"] == "records manager"
    preview = cli("retention", "schedules", "amend", complaints, "--dry-run", "--body", "-",
                  stdin='{"period": "P1Y", "reason": "shorter"}')
    assert preview.exit_code == 0, preview.output
    assert json.loads(preview.stdout)["dry_run"] is True
    assert json.loads(cli("retention", "schedules", "show", complaints).stdout)["version"] == 1
    below = cli("retention", "schedules", "create", "--body", "-",
                stdin='{"name": "x", "kinds": ["consultation"], "period": "P0D", "action": "destroy"}')
    assert below.exit_code == 2 and "[retention_below_minimum]" in below.stderr
    typo = cli("retention", "schedules", "create", "--body", "-", stdin='{"name": "x", "kinds": ["complaint"]}')
    assert typo.exit_code == 2 and "[invalid_input]" in typo.stderr
    floors = cli("retention", "floors", "list")
    assert floors.exit_code == 0 and "SPEC §2.5" in floors.stdout
    declared = cli("retention", "floors", "declare", "--body", "-",
                   stdin='{"kinds": ["emergency"], "minimum_period": "P10Y", "reason": "regulator"}')
    floor_id = json.loads(declared.stdout)["id"]
    removed = cli("retention", "floors", "remove", floor_id, "--reason", "repealed")
    assert removed.exit_code == 0 and json.loads(removed.stdout)["removed_by"].startswith("cli:")


def test_holds_batches_decisions_and_reviews_from_the_cli(clock, settings, cli):
    first, second = _archived(settings, clock)
    assert cli("retention", "schedules", "create", "--body", "-", stdin=json.dumps({
        "name": "Urgent complaints", "kinds": ["complaint"], "classification": ["urgency:urgent"], "period": "P1Y",
        "action": "destroy", "review_stages": [{"name": "records manager", "roles": ["archivist"]}]})).exit_code == 0
    # a schedule created after archiving governs files re-assigned by reapply; these keep the default
    placed = cli("retention", "holds", "place", "--purpose", "case CASE-9", "--body", "-", stdin=json.dumps({
        "reason": "Litigation", "case_reference": "CASE-9", "query": {"customer_phone": "13812345678"}}))
    assert placed.exit_code == 0, placed.output
    hold = json.loads(placed.stdout)
    assert "138****5678" in hold["scope"]
    listed = cli("retention", "holds", "list")
    assert "CASE-9" in listed.stdout and "13812345678" not in listed.stdout
    covered = cli("retention", "holds", "records", hold["id"])
    assert covered.stdout.startswith("2 file(s)")
    assert cli("retention", "holds", "release", hold["id"], "--reason", "settled").exit_code == 0

    clock.set(2030, 1, 2)
    swept = cli("retention", "sweep", "--json")
    batch = json.loads(swept.stdout)["batches"][0]
    assert {i["record_id"] for i in batch["items"]} == {first, second}
    assert batch["id"] in cli("retention", "batches", "list", "--status", "open").stdout
    waiting = cli("retention", "reviews", "--role", "archivist")
    assert waiting.exit_code == 0 and first in waiting.stdout
    bad = cli("retention", "batches", "decide", batch["id"], "--decision", "reject", "--all")
    assert bad.exit_code == 2 and ("[validation_failed]" in bad.stderr or "[invalid_input]" in bad.stderr)
    kept = cli("retention", "batches", "decide", batch["id"], first, "--decision", "extend", "--reason", "audit",
               "--until", "2031-06-01T00:00:00Z")
    assert kept.exit_code == 0, kept.output
    done = cli("retention", "batches", "decide", batch["id"], "--all", "--decision", "reject", "--reason", "keep")
    assert done.exit_code == 0 and "done" in done.stdout, done.output
    shown = json.loads(cli("retention", "batches", "show", batch["id"]).stdout)
    assert shown["status"] == "done" and {i["decision"] for i in shown["items"]} == {"extend", "reject"}
