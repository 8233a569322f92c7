"""The audit explorer over HTTP: the compliance officer filters the log as the API does, pages
through it, sees one record's access history, exports it, and each view is audited exactly as
``GET /api/v1/audit/events`` is; other roles are refused and bad filters get a clear message."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from records.roles import Role
from tests.conftest import record_body


def api_events(compliance_officer, **params) -> list[dict]:
    response = compliance_officer.get("/api/v1/audit/events", params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_filters_show_the_events_the_api_finds(console_as, agent, other_agent, compliance_officer):
    filed = agent.post("/api/v1/records", json=record_body()).json()
    other = other_agent.post("/api/v1/records", json=record_body(subject="Another file")).json()
    assert agent.get(f"/api/v1/records/{filed['id']}").status_code == 200
    console = console_as(Role.compliance_officer, "carla")

    shown = console.get("/console/audit", params={"record_id": filed["id"], "action": "record.read"})
    assert shown.status_code == 200, shown.text
    expected = api_events(compliance_officer, record_id=filed["id"], action="record.read")
    assert len(expected) == 1
    assert f'data-seq="{expected[0]["seq"]}"' in shown.text
    assert shown.text.count("<tr data-seq=") == 1
    assert f"Access history of record {filed['id']}" in shown.text

    by_actor = console.get("/console/audit", params={"actor": "bob"}).text
    assert f"record:{other['id']}" in by_actor and f"record:{filed['id']}" not in by_actor

    denied = console.get("/console/audit", params={"outcome": "denied", "record_id": filed["id"]}).text
    assert "No event matches these filters." in denied


def test_viewing_the_log_is_audited_as_the_api_read_is(console_as, compliance_officer, agent):
    filed = agent.post("/api/v1/records", json=record_body()).json()
    console = console_as(Role.compliance_officer, "carla")
    assert console.get("/console/audit", params={"record_id": filed["id"]}).status_code == 200
    compliance_officer.get("/api/v1/audit/events", params={"record_id": filed["id"]})
    reads = api_events(compliance_officer, action="audit.events.read")
    page_read, api_read = reads[-2], reads[-1]
    assert (page_read["actor"], page_read["role"], page_read["outcome"]) == ("carla", "compliance_officer", "allowed")
    assert page_read["targets"] == api_read["targets"]
    assert page_read["action"] == api_read["action"] == "audit.events.read"


def test_time_range_is_read_in_the_installations_zone(console_as, agent, compliance_officer):
    agent.post("/api/v1/records", json=record_body())
    console = console_as(Role.compliance_officer, "carla")
    [first] = api_events(compliance_officer, action="record.create")
    future = console.get("/console/audit", params={"since": "2999-01-01T00:00", "action": "record.create"})
    assert future.status_code == 200 and "No event matches" in future.text
    past = console.get("/console/audit", params={"since": "2000-01-01T08:00", "until": "2999-01-01T00:00:00",
                                                 "action": "record.create"})
    assert f'data-seq="{first["seq"]}"' in past.text


def test_pages_follow_the_log_by_keyset(console_as, agent):
    for n in range(3):
        agent.post("/api/v1/records", json=record_body(subject=f"file {n}"))
    console = console_as(Role.compliance_officer, "carla")
    first = console.get("/console/audit", params={"action": "record.create", "limit": 2}).text
    assert first.count("<tr data-seq=") == 2
    next_link = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    assert "cursor=" in next_link and "limit=2" in next_link and "action=record.create" in next_link
    second = console.get(next_link).text
    assert second.count("<tr data-seq=") == 1 and "First page" in second and 'rel="next"' not in second


@pytest.mark.parametrize("params, field", [
    ({"outcome": "maybe"}, "outcome"),
    ({"since": "yesterday"}, "since"),
    ({"until": "2026-13-45T99:00"}, "until"),
    ({"role": "janitor"}, "role"),
    ({"cursor": "abc"}, "cursor"),
])
def test_bad_filters_get_a_clear_message_not_a_server_error(console_as, params, field):
    console = console_as(Role.compliance_officer, "carla")
    response = console.get("/console/audit", params=params)
    assert response.status_code in (400, 422)
    assert "These filters cannot be used" in response.text and 'role="alert"' in response.text
    assert "Traceback" not in response.text
    if field != "cursor":  # the control at fault is marked, and points at the message
        marked = re.search(r'<(?:input|select) id="f-([a-z]+)"[^>]*aria-invalid="true"', response.text)
        assert marked and marked.group(1) == field, field


def test_too_long_a_filter_is_refused_clearly(console_as):
    response = console_as(Role.compliance_officer, "carla").get("/console/audit", params={"actor": "x" * 500})
    assert response.status_code in (400, 422) and "Traceback" not in response.text
    assert "text/html" in response.headers["content-type"]


@pytest.mark.parametrize("role", [Role.agent, Role.supervisor, Role.archivist, Role.plugin_manager])
def test_roles_that_may_not_read_the_log_are_refused(console_as, compliance_officer, role):
    console = console_as(role, f"{role.value}-viewer")
    for url in ("/console/audit", "/console/audit/export?format=csv", "/console/audit/checkpoint.json"):
        response = console.get(url)
        assert response.status_code == 403, url
        assert "Your role may not do this." in response.text
    refused = [e for e in api_events(compliance_officer, actor=f"{role.value}-viewer")
               if e["action"].startswith("audit.")]
    assert {e["outcome"] for e in refused} == {"denied"} and len(refused) == 3
    assert "Audit log" not in console.get("/console/").text  # not offered in the navigation


def test_an_admin_may_read_the_log(console_as):
    assert console_as(Role.admin, "root-console").get("/console/audit").status_code == 200


def test_exports_stream_the_filtered_events_as_csv_and_jsonl(console_as, agent, compliance_officer):
    filed = agent.post("/api/v1/records", json=record_body()).json()
    agent.get(f"/api/v1/records/{filed['id']}")
    console = console_as(Role.compliance_officer, "carla")
    expected = api_events(compliance_officer, record_id=filed["id"])
    assert len(expected) >= 2

    exported = console.get("/console/audit/export", params={"format": "csv", "record_id": filed["id"]})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert 'filename="audit-events.csv"' in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [int(r["seq"]) for r in rows] == [e["seq"] for e in expected]

    lines = console.get("/console/audit/export", params={"format": "jsonl", "record_id": filed["id"]})
    assert lines.headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(line)["seq"] for line in lines.text.splitlines()] == [e["seq"] for e in expected]

    [export_event] = [e for e in api_events(compliance_officer, action="audit.events.read", actor="carla")][-1:]
    assert export_event["outcome"] == "allowed"


def test_a_bad_export_is_refused_clearly(console_as):
    console = console_as(Role.compliance_officer, "carla")
    response = console.get("/console/audit/export", params={"format": "xlsx"})
    assert response.status_code == 422 and "exports are" in response.text
    response = console.get("/console/audit/export", params={"format": "csv", "outcome": "perhaps"})
    assert response.status_code == 422 and "Traceback" not in response.text
