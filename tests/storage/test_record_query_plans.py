"""Every documented filter of ``GET /api/v1/records`` (README, the API table), alone and in the
combinations people use, is answered from indexes: SQLite's plan for the listing statement reads
no table whole. At a million records a full scan is what turns a 2 ms page into a 200 ms one."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from records.models import Channel, Kind, RecordQuery, SlaState, Urgency
from records.storage.sqlite.migrations import migrate
from records.storage.sqlite.records import find_sql

MARCH = datetime(2026, 3, 1, tzinfo=UTC)
APRIL = datetime(2026, 4, 1, tzinfo=UTC)
CODE = "content:network.signal"

QUERIES = {
    "newest first": {},
    "kind": {"kind": Kind.complaint},
    "status": {"status": "accepted"},
    "channel": {"channel": Channel.phone},
    "urgency": {"urgency": Urgency.major},
    "classification": {"classification": CODE},
    "owner": {"owner": "agent-07"},
    "reference": {"reference": "CP-2026-000001"},
    "created range": {"created_from": MARCH, "created_to": APRIL},
    "created from": {"created_from": MARCH},
    "received range": {"received_from": MARCH, "received_to": APRIL},
    "received to": {"received_to": APRIL},
    "customer phone": {"customer_phone_index": "p" * 64},
    "customer account": {"customer_account_index": "a" * 64},
    "sla breached": {"sla": SlaState.breached, "sla_now": APRIL},
    "sla due soon": {"sla": SlaState.due_soon, "sla_now": MARCH, "sla_soon_until": APRIL},
    "kind + urgency": {"kind": Kind.complaint, "urgency": Urgency.major},
    "owner + status": {"owner": "agent-07", "status": "accepted"},
    "kind + received range": {"kind": Kind.complaint, "received_from": MARCH, "received_to": APRIL},
    "kind + received from": {"kind": Kind.complaint, "received_from": MARCH},
    "classification + received range": {"classification": CODE, "received_from": MARCH, "received_to": APRIL},
    "classification + created range": {"classification": CODE, "created_from": MARCH, "created_to": APRIL},
    "classification + kind": {"classification": CODE, "kind": Kind.complaint},
    "classification + customer phone": {"classification": CODE, "customer_phone_index": "p" * 64},
    "classification + sla breached": {"classification": CODE, "sla": SlaState.breached, "sla_now": APRIL},
    "kind + status + channel + urgency + owner": {"kind": Kind.complaint, "status": "accepted", "channel": Channel.phone,
                                                  "urgency": Urgency.major, "owner": "agent-07"},
    "customer phone + received range": {"customer_phone_index": "p" * 64, "received_from": MARCH},
}


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    conn = sqlite3.connect(Path(tmp_path_factory.mktemp("plans")) / "records.sqlite3", isolation_level=None)
    migrate(conn)
    return conn


def full_scans(conn: sqlite3.Connection, query: RecordQuery) -> tuple[list[str], list[str]]:
    sql, args = find_sql(query)
    plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args)]
    # "SCAN records" (or its alias) reads the whole table; "SCAN r USING INDEX ..." walks an index.
    return [step for step in plan if re.match(r"SCAN \w+$", step) or re.match(r"SCAN \w+ (?!USING)", step)], plan


@pytest.mark.parametrize("name", list(QUERIES))
@pytest.mark.parametrize("page", ["first page", "after a cursor"])
def test_the_listing_reads_no_table_whole(schema, name, page):
    query = RecordQuery(**QUERIES[name], limit=51)
    if page == "after a cursor":
        query = query.model_copy(update={"after": (MARCH, "00000000-0000-0000-0000-000000000000")})
    scans, plan = full_scans(schema, query)
    assert not scans, f"{name}: {plan}"


def test_a_code_and_a_received_range_read_index_entries_only(schema):
    """The case that took 200 ms at 1M: the page is chosen from the code's rows in the range, whose
    copies of the dates are in the index; only the page's records are read."""
    _, plan = full_scans(schema, RecordQuery(**QUERIES["classification + received range"], limit=51))
    assert any("record_classification_by_code_received" in step for step in plan), plan


def test_a_kind_and_a_received_range_read_index_entries_only(schema):
    _, plan = full_scans(schema, RecordQuery(**QUERIES["kind + received range"], limit=51))
    assert any("COVERING INDEX records_by_kind_received_created" in step for step in plan), plan


def test_a_code_alone_walks_its_rows_newest_first_without_sorting(schema):
    _, plan = full_scans(schema, RecordQuery(classification=CODE, limit=51))
    assert any("record_classification_by_code_created" in step for step in plan), plan
    # One sort only: the page's own rows, put in order once their documents are read.
    assert [step for step in plan if "TEMP B-TREE" in step] == ["USE TEMP B-TREE FOR ORDER BY"], plan


def test_migration_13_gives_existing_classification_rows_their_records_dates(tmp_path, monkeypatch):
    from records.storage.sqlite import migrations

    conn = sqlite3.connect(tmp_path / "records.sqlite3", isolation_level=None)
    monkeypatch.setattr(migrations, "MIGRATIONS", [m for m in migrations.MIGRATIONS if m[0] < 13])
    migrate(conn)
    conn.execute(
        "INSERT INTO records (id, kind, reference, status, channel, urgency, owner, created_at, received_at, updated_at,"
        " version, doc) VALUES ('r1', 'complaint', 'CP-2026-000001', 'accepted', 'phone', 'major', 'alice',"
        " '2026-03-02T09:00:00+00:00', '2026-03-01T08:00:00+00:00', '2026-03-02T09:00:00+00:00', 1, '{}')")
    conn.executemany("INSERT INTO record_classification (code, record_id) VALUES (?, 'r1')", [(CODE,), ("urgency:major",)])
    monkeypatch.undo()
    assert migrate(conn)[0] == 13  # then any later migrations
    assert conn.execute("SELECT code, created_at, received_at FROM record_classification ORDER BY code").fetchall() == [
        (CODE, "2026-03-02T09:00:00+00:00", "2026-03-01T08:00:00+00:00"),
        ("urgency:major", "2026-03-02T09:00:00+00:00", "2026-03-01T08:00:00+00:00")]
    sql, args = find_sql(RecordQuery(**QUERIES["classification + received range"], limit=51))
    assert conn.execute(sql, args).fetchall() == [("{}",)]
