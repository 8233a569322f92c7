"""The disposition review queue in the console, over plain HTTP: what an archivist sees of open
batches and their items, and what other roles and bad input get."""

from __future__ import annotations

from markupsafe import escape

from records.roles import Role
from tests.retention.setup import RETENTION, archived_record, open_batch


def test_an_archivist_sees_open_batches_and_each_items_schedule_basis_and_date(console_as, admin):
    batch_id = open_batch(admin)
    batch = admin.get(f"{RETENTION}/batches/{batch_id}").json()
    [item] = batch["items"]
    console = console_as(Role.archivist, "ada")

    queue = console.get("/console/retention/batches")
    assert queue.status_code == 200, queue.text
    assert f'href="/console/retention/batches/{batch_id}"' in queue.text
    assert "Disposition review" in queue.text

    detail = console.get(f"/console/retention/batches/{batch_id}")
    assert detail.status_code == 200, detail.text
    assert item["reference"] in detail.text and "Walk: due at once (v1)" in detail.text
    basis = admin.get(f"/api/v1/records/{item['record_id']}/retention").json()["basis"]
    assert escape(basis.split(";")[0]) in detail.text  # the basis the API gives, not one of the page's own
    assert "pending" in detail.text and "one approver" in detail.text

    record = console.get(f"/console/retention/records/{item['record_id']}")
    assert record.status_code == 200 and item["reference"] in record.text and "Walk: due at once" in record.text


def test_the_queue_is_in_chinese_for_chinese_browsers(console_as, admin):
    open_batch(admin)
    console = console_as(Role.archivist, "ada")
    console.get("/console/language", params={"lang": "zh_CN", "next": "/console/retention/batches"})
    assert "处置审核" in console.get("/console/retention/batches").text


def test_roles_the_api_refuses_are_refused_here(console_as, admin):
    batch_id = open_batch(admin)
    agent = console_as(Role.agent, "alice")
    for path in ("/console/retention/batches", f"/console/retention/batches/{batch_id}"):
        refused = agent.get(path)
        assert refused.status_code == 403 and "Your role may not do this." in refused.text
    assert "/console/retention/batches" not in agent.get("/console/").text  # nor is it in their navigation


def test_compliance_officers_may_read_the_queue_as_the_api_lets_them(console_as, admin):
    batch_id = open_batch(admin)
    compliance = console_as(Role.compliance_officer, "carol")
    assert compliance.get(f"/console/retention/batches/{batch_id}").status_code == 200


def test_bad_input_is_a_clear_message_not_a_traceback(console_as, admin):
    archived_record(admin)
    console = console_as(Role.archivist, "ada")
    bad_status = console.get("/console/retention/batches", params={"status": "gone"})
    assert bad_status.status_code == 422 and "status must be open, executing or done" in bad_status.text
    missing = console.get("/console/retention/batches/no-such-batch")
    assert missing.status_code == 404 and "no disposition batch" in missing.text
    bad_offset = console.get(f"/console/retention/batches/{open_batch(admin)}", params={"offset": "-1"})
    assert bad_offset.status_code == 422


def test_without_a_session_the_queue_leads_to_sign_in(client):
    response = client.get("/console/retention/batches", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/console/sign-in")


def test_an_archivist_sweeps_from_the_queue_as_the_api_does(console_as, admin, compliance_officer):
    archived_record(admin)  # due at once under the walk's schedule
    console = console_as(Role.archivist, "ada-sweeps")
    queue = console.get("/console/retention/batches")
    assert 'action="/console/retention/sweeps"' in queue.text
    refused = console.post("/console/retention/sweeps", csrf=False)
    assert refused.status_code == 403 and admin.get(f"{RETENTION}/batches", params={"status": "open"}).json()["items"] == []
    swept = console.post("/console/retention/sweeps")
    assert swept.status_code == 303, swept.text
    after = console.get(swept.headers["location"]).text
    assert "The sweep gathered 1 due file(s) into 1 batch(es); 0 due file(s) stay under a legal hold." in after
    [batch] = admin.get(f"{RETENTION}/batches", params={"status": "open"}).json()["items"]
    assert f'href="/console/retention/batches/{batch["id"]}"' in after
    event = compliance_officer.get("/api/v1/audit/events", params={"action": "retention.sweep"}).json()["items"][-1]
    assert event["actor"] == "ada-sweeps" and event["outcome"] == "allowed"


def test_only_retention_managers_may_sweep(console_as):
    carol = console_as(Role.compliance_officer, "carol-sweeps")
    assert 'action="/console/retention/sweeps"' not in carol.get("/console/retention/batches").text
    assert carol.post("/console/retention/sweeps").status_code == 403
