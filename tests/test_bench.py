"""The benchmarks measure real records: the store ``bench/api.py`` seeds in bulk holds records
the service reads, decrypts and finds exactly as if they had been filed through the API."""

from __future__ import annotations

from litestar.testing import TestClient

from bench.api import seed
from records.api.app import create_app
from records.settings import load_settings


def test_seeded_records_read_decrypt_and_filter_like_filed_ones(data_dir):
    rate, sample = seed(data_dir, 30, batch=7)
    assert rate > 0 and sample
    app = create_app(load_settings(data_dir=data_dir))
    with TestClient(app) as client:
        with client.portal() as portal:
            token = portal.call(app.state.token_service.issue, "reader", "agent").token
        headers = {"Authorization": f"Bearer {token}"}
        record = client.get(f"/api/v1/records/{sample[0]}", headers=headers)
        assert record.status_code == 200, record.text
        assert record.json()["customer"]["name"].startswith("Customer ")
        listed = client.get("/api/v1/records", params={"limit": 200}, headers=headers).json()["items"]
        assert len(listed) == 30
        phone = listed[0]["customer"]["phone"]
        found = client.get("/api/v1/records", params={"customer_phone": phone}, headers=headers).json()["items"]
        assert [r["id"] for r in found] == [listed[0]["id"]]
        complaints = client.get("/api/v1/records", params={"kind": "complaint", "limit": 200}, headers=headers).json()
        assert len(complaints["items"]) == 10
        filed = client.post("/api/v1/records", headers=headers, json={
            "kind": "complaint", "channel": "phone", "urgency": "general", "subject": "s", "description": "d",
            "customer": {"name": "N", "phone": "13800000000", "account": "A"}})
        assert filed.status_code == 201, filed.text  # seeded references never collide with new ones


def test_the_export_benchmark_streams_the_whole_log_and_reads_server_memory(data_dir):
    from bench.audit import export_at_scale

    results = export_at_scale(data_dir, events=1)  # a fresh log: the token's creation and the warm-up read
    assert results["server_rss_peak_mib"] >= results["server_rss_before_mib"] > 10
    assert results["export_csv_events_per_s"] > 0 and results["export_jsonl_since_mib"] > 0


def test_the_scale_benchmark_makes_events_and_assignments_the_service_would_write(tmp_path):
    """bench/scale.py fills its logs and its store from text templates, not through pydantic: the
    figures hold only if what it hashes and sweeps is byte for byte what the service writes."""
    import sqlite3
    from datetime import UTC, datetime

    from bench.scale import _bulk_assignments, _count_only_forecast, _template
    from records.audit.events import AuditEvent, parse_canonical
    from records.models import Kind
    from records.retention.models import RetentionAssignment, ScheduleRef
    from records.storage.sqlite.migrations import migrate

    made = _template() % (41, 0xABC)
    event = parse_canonical(made)
    assert event.canonical() == made and event.seq == 41
    assert event.targets == [f"record:{0xABC:032x}"] and isinstance(event, AuditEvent)

    db = tmp_path / "records.sqlite3"
    conn = sqlite3.connect(db)
    migrate(conn)
    conn.close()
    schedule = ScheduleRef(id="s-1", version=2, name="Consultations: 100% of 2 years")  # a % in the name too
    assert _bulk_assignments(db, 250, schedule) == 3  # every hundredth is due
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT record_id, schedule_id, retain_until, doc FROM retention_assignments"
                        " ORDER BY record_id").fetchall()
    conn.close()
    assert len(rows) == 250
    for record_id, _schedule_id, retain_until, doc in rows[:3] + rows[100:101]:
        a = RetentionAssignment.model_validate_json(doc)
        assert (a.record_id, a.schedule, a.kind, a.action) == (record_id, schedule, Kind.consultation, "destroy")
        assert a.retain_until == datetime.fromisoformat(retain_until).astimezone(UTC) == a.trigger_at
        assert a.model_dump_json() == doc  # what pydantic itself would have stored
    assert sum(1 for r in rows if r[2] < "2030-01-01") == 3
    # The aggregate the count-only forecast would run counts the same due files (and still parses).
    assert _count_only_forecast(db, datetime(2030, 1, 1, tzinfo=UTC))[1] == 3
