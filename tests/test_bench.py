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
