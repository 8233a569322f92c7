"""The archivist's disposition review in the console, over plain HTTP: deciding items of a batch
(approve, reject, extend, the two-person rule), executing it and following its progress, and the
destruction certificate it ends with (view, PDF and JSON, verification).

The pages call the same service methods as ``/api/v1/retention``; these tests check what a
person relies on: what was decided is what the API then shows, a refusal is a message on the
page with nothing written, and the roles and CSRF rules hold."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from markupsafe import escape

from records.retention.models import DestructionCertificate
from records.roles import Role
from records.settings import load_settings
from tests.retention.setup import RETENTION, archived_record, certificate, hold, review_item

BATCHES = "/console/retention/batches"


@pytest.fixture
def settings(data_dir, request):  # type: ignore[no-untyped-def]
    """The app's settings; ``@pytest.mark.parametrize("settings", [True], indirect=True)`` turns
    the two-person rule on."""
    return load_settings(data_dir=data_dir).model_copy(
        update={"retention_two_person_rule": getattr(request, "param", False)})


TWO_PERSON = pytest.mark.parametrize("settings", [True], indirect=True)


def batch_of(admin, n: int = 1) -> tuple[str, list[str]]:
    """An open batch of ``n`` freshly archived, due files: its id and their record ids."""
    ids = [archived_record(admin) for _ in range(n)]
    result = admin.post(f"{RETENTION}/sweeps", json={}).json()
    batch = next(b for b in result["batches"] if any(i["record_id"] == ids[0] for i in b["items"]))
    assert {i["record_id"] for i in batch["items"]} >= set(ids)
    return batch["id"], ids


def items_of(admin, batch_id: str) -> dict[str, dict]:
    return {i["record_id"]: i for i in admin.get(f"{RETENTION}/batches/{batch_id}").json()["items"]}


def last_event(compliance_officer, action: str) -> dict:
    found = compliance_officer.get("/api/v1/audit/events", params={"action": action, "limit": 500}).json()["items"]
    assert found, f"no {action} event"
    return found[-1]


def decide(console, batch_id: str, **form):  # type: ignore[no-untyped-def]
    return console.post(f"{BATCHES}/{batch_id}/decisions", form)


# --- deciding -----------------------------------------------------------------------------------

def test_approving_ticked_items_is_the_apis_decision_with_its_reason(console_as, admin, compliance_officer):
    batch_id, (first, second) = batch_of(admin, 2)
    console = console_as(Role.archivist, "ada")
    page = console.get(f"{BATCHES}/{batch_id}")
    assert page.status_code == 200 and f'action="{BATCHES}/{batch_id}/decisions"' in page.text
    assert f'value="{first}"' in page.text and 'data-select-all="record_id"' in page.text

    done = decide(console, batch_id, record_id=[first], decision="approve", reason="Past retention, no hold")
    assert done.status_code == 303 and done.headers["location"] == f"{BATCHES}/{batch_id}?decided=1"
    items = items_of(admin, batch_id)
    assert items[first]["decision"] == "approve" and items[first]["approvers"] == ["ada"]
    assert items[first]["reason"] == "Past retention, no hold"
    assert items[second]["decision"] == "pending"  # only what was ticked
    event = last_event(compliance_officer, "retention.batch.decide")
    assert event["actor"] == "ada" and f"batch:{batch_id}" in event["targets"] and f"record:{first}" in event["targets"]
    shown = console.get(done.headers["location"]).text
    assert "Decision recorded for 1 item(s)." in shown


def test_several_ticked_items_are_decided_together(console_as, admin):
    batch_id, (first, second, third) = batch_of(admin, 3)
    console = console_as(Role.archivist, "ada")
    done = decide(console, batch_id, record_id=[first, third], decision="approve", reason="Due")
    assert done.headers["location"].endswith("?decided=2")
    items = items_of(admin, batch_id)
    assert [items[i]["decision"] for i in (first, second, third)] == ["approve", "pending", "approve"]


def test_every_item_waiting_can_be_decided_at_once(console_as, admin):
    batch_id, ids = batch_of(admin, 3)
    console = console_as(Role.archivist, "ada")
    assert "every item of this batch waiting for your decision (3)" in console.get(f"{BATCHES}/{batch_id}").text
    done = decide(console, batch_id, scope="waiting", decision="approve", reason="All due")
    assert done.status_code == 303, done.text
    assert all(i["decision"] == "approve" for i in items_of(admin, batch_id).values())
    page = console.get(f"{BATCHES}/{batch_id}").text
    assert f'action="{BATCHES}/{batch_id}/execute"' in page  # every item decided: it may run


def test_reject_and_extend_keep_the_files_with_the_reason_and_the_new_date(console_as, admin):
    batch_id, (rejected, extended, _) = batch_of(admin, 3)
    console = console_as(Role.archivist, "ada")
    assert decide(console, batch_id, record_id=[rejected], decision="reject", reason="Still disputed").status_code == 303
    r = decide(console, batch_id, record_id=[extended], decision="extend", reason="Audit in 2031", until="2031-06-30")
    assert r.status_code == 303, r.text
    items = items_of(admin, batch_id)
    assert items[rejected]["decision"] == "reject" and items[rejected]["reason"] == "Still disputed"
    assert items[extended]["decision"] == "extend"
    until = datetime.fromisoformat(items[extended]["until"])
    assert until == datetime(2031, 6, 30, tzinfo=ZoneInfo("Asia/Shanghai"))  # that day in the installation's zone
    retention = admin.get(f"/api/v1/records/{extended}/retention").json()
    assert "Audit in 2031" in retention["basis"] and datetime.fromisoformat(retention["retain_until"]) == until


def test_a_decision_without_a_reason_or_a_date_is_refused_beside_the_field(console_as, admin):
    batch_id, (record_id,) = batch_of(admin)
    console = console_as(Role.archivist, "ada")
    no_reason = decide(console, batch_id, record_id=[record_id], decision="approve", reason="  ")
    assert no_reason.status_code == 422 and "give the reason for this decision" in no_reason.text
    assert 'id="review-reason" name="reason" rows="2" maxlength="2000" required aria-invalid="true"' in no_reason.text
    no_date = decide(console, batch_id, record_id=[record_id], decision="extend", reason="Audit")
    assert no_date.status_code == 422 and escape("extend needs `until`") in no_date.text
    assert 'name="until" value="" aria-describedby="until-help review-error" aria-invalid="true"' in no_date.text
    assert f'value="{record_id}" id="pick-1" aria-label' in no_date.text and " checked" in no_date.text  # kept ticked
    past = decide(console, batch_id, record_id=[record_id], decision="extend", reason="Audit", until="2001-01-01")
    assert past.status_code == 422 and "extend until a date after" in past.text
    bad_date = decide(console, batch_id, record_id=[record_id], decision="extend", reason="Audit", until="30/06/2031")
    assert bad_date.status_code == 422 and "must be a date (YYYY-MM-DD)" in bad_date.text
    nothing = decide(console, batch_id, decision="approve", reason="Due")
    assert nothing.status_code == 422 and "select at least one item" in nothing.text
    bad_id = decide(console, batch_id, record_id=["not in it"], decision="approve", reason="Due")
    assert bad_id.status_code == 422 and "record_id: String should match pattern" in bad_id.text
    unknown = decide(console, batch_id, record_id=["a" * 30], decision="approve", reason="Due")
    assert unknown.status_code == 422 and "is not in batch" in unknown.text
    assert items_of(admin, batch_id)[record_id]["decision"] == "pending"  # nothing written by any of them
    assert "Traceback" not in bad_id.text + unknown.text


def test_items_can_be_filtered_by_decision_kind_and_reference(console_as, admin):
    batch_id, (approved, waiting) = batch_of(admin, 2)
    items = items_of(admin, batch_id)
    console = console_as(Role.archivist, "ada")
    decide(console, batch_id, record_id=[approved], decision="approve", reason="Due")
    pending = console.get(f"{BATCHES}/{batch_id}", params={"decision": "pending"}).text
    assert items[waiting]["reference"] in pending and items[approved]["reference"] not in pending
    assert "filtered from" in pending
    by_reference = console.get(f"{BATCHES}/{batch_id}", params={"reference": items[approved]["reference"].lower()}).text
    assert items[approved]["reference"] in by_reference and items[waiting]["reference"] not in by_reference
    none = console.get(f"{BATCHES}/{batch_id}", params={"kind": "emergency"})
    assert none.status_code == 200 and "No item of this batch matches these filters." in none.text
    bad = console.get(f"{BATCHES}/{batch_id}", params={"decision": "maybe"})
    assert bad.status_code == 422 and "decision must be pending, approve, reject or extend" in bad.text


def test_a_decision_on_a_stale_page_is_refused_with_what_happened(console_as, admin):
    batch_id, (record_id, other) = batch_of(admin, 2)
    console = console_as(Role.archivist, "ada")
    console.get(f"{BATCHES}/{batch_id}")  # ada reads the page; meanwhile the admin rejects the item
    admin.post(f"{RETENTION}/batches/{batch_id}/decisions",
               json={"decisions": [{"record_id": record_id, "decision": "reject", "reason": "Disputed"}]})
    stale = decide(console, batch_id, record_id=[other, record_id], decision="approve", reason="Due")
    assert stale.status_code == 409 and "was already rejected" in stale.text
    assert "The decision was not recorded; nothing changed." in stale.text
    assert items_of(admin, batch_id)[other]["decision"] == "pending"  # all or none


def test_a_decision_after_the_batch_started_running_is_refused_on_the_page(console_as, admin):
    batch_id, (record_id, other) = batch_of(admin, 2)
    console = console_as(Role.archivist, "ada")
    decide(console, batch_id, record_id=[record_id, other], decision="approve", reason="Due")
    assert admin.post(f"{RETENTION}/batches/{batch_id}/execute").status_code == 202  # someone else ran it
    late = decide(console, batch_id, record_id=[other], decision="reject", reason="Changed my mind")
    assert late.status_code == 409 and "The decision was not recorded; nothing changed." in late.text
    assert "decisions are taken while it is open" in late.text or "started executing meanwhile" in late.text


@TWO_PERSON
def test_the_two_person_rule_shows_who_approved_and_refuses_the_same_person_twice(console_as, admin, as_role):
    batch_id, (record_id,) = batch_of(admin)
    console = console_as(Role.archivist, "ada")
    page = console.get(f"{BATCHES}/{batch_id}").text
    assert "The two-person rule is on" in page and "two different approvers" in page
    assert decide(console, batch_id, record_id=[record_id], decision="approve", reason="Due").status_code == 303
    page = console.get(f"{BATCHES}/{batch_id}").text
    assert "another approver than ada" in page and f"{BATCHES}/{batch_id}/execute" not in page
    assert "every item of this batch waiting for your decision (0)" in page  # not waiting for ada any more
    assert record_id not in console.get("/console/retention/reviews/").text  # nor in her review queue

    again = decide(console, batch_id, record_id=[record_id], decision="approve", reason="Due, really")
    assert again.status_code == 409 and "the two-person rule needs another approver" in again.text
    assert items_of(admin, batch_id)[record_id]["approvers"] == ["ada"]
    refused = console.post(f"{BATCHES}/{batch_id}/execute", {"confirm": "yes"})
    assert refused.status_code == 409 and "awaiting a second approver" in refused.text
    assert admin.get(f"{RETENTION}/batches/{batch_id}").json()["status"] == "open"

    bob = as_role(Role.archivist, "bob")  # the second archivist, through the API
    [waiting] = bob.get("/api/v1/reviews").json()["items"]  # it waits for him
    assert waiting["record_id"] == record_id and waiting["approved_by"] == ["ada"]
    r = bob.post(f"{RETENTION}/batches/{batch_id}/decisions",
                 json={"decisions": [{"record_id": record_id, "decision": "approve"}]})
    assert r.status_code == 200, r.text
    page = console.get(f"{BATCHES}/{batch_id}").text
    assert "ada, bob" in page and f'action="{BATCHES}/{batch_id}/execute"' in page


def test_roles_that_may_only_read_get_no_form_and_a_403(console_as, admin):
    batch_id, (record_id,) = batch_of(admin)
    compliance = console_as(Role.compliance_officer, "carol")
    page = compliance.get(f"{BATCHES}/{batch_id}")
    assert page.status_code == 200 and "/decisions" not in page.text and "/execute" not in page.text
    for path in (f"{BATCHES}/{batch_id}/decisions", f"{BATCHES}/{batch_id}/execute"):
        refused = compliance.post(path, {"record_id": record_id, "decision": "approve", "reason": "Due"})
        assert refused.status_code == 403 and "Your role may not do this." in refused.text
    assert items_of(admin, batch_id)[record_id]["decision"] == "pending"


def test_a_form_without_the_csrf_token_changes_nothing(console_as, admin):
    batch_id, (record_id,) = batch_of(admin, 1)
    console = console_as(Role.archivist, "ada")
    refused = console.post(f"{BATCHES}/{batch_id}/decisions",
                           {"record_id": record_id, "decision": "approve", "reason": "Due"}, csrf=False)
    assert refused.status_code == 403 and "did not come from your console session" in refused.text
    forged = console.post(f"{BATCHES}/{batch_id}/decisions",
                          {"record_id": record_id, "decision": "approve", "reason": "Due", "csrf_token": "x" * 43},
                          csrf=False)
    assert forged.status_code == 403
    assert items_of(admin, batch_id)[record_id]["decision"] == "pending"
    admin.post(f"{RETENTION}/batches/{batch_id}/decisions",
               json={"decisions": [{"record_id": record_id, "decision": "approve"}]})
    assert console.post(f"{BATCHES}/{batch_id}/execute", {"confirm": "yes"}, csrf=False).status_code == 403
    assert admin.get(f"{RETENTION}/batches/{batch_id}").json()["status"] == "open"


def test_an_unknown_batch_is_a_404_page(console_as, admin):
    console = console_as(Role.archivist, "ada")
    missing = decide(console, "no-such-batch", record_id=["x"], decision="approve", reason="Due")
    assert missing.status_code == 404 and "no disposition batch" in missing.text
    assert console.post(f"{BATCHES}/no-such-batch/execute", {"confirm": "yes"}).status_code == 404
    assert console.get(f"{BATCHES}/no-such-batch/progress").status_code == 404


def test_an_item_under_review_stages_says_its_stage_and_is_decided_there(console_as, admin):
    staged = review_item(admin)
    batch_id, record_id = staged["batch_id"], staged["record_id"]
    console = console_as(Role.archivist, "ada")
    page = console.get(f"{BATCHES}/{batch_id}").text
    assert "stage 1 of 1, anyone: 1 approval(s) by admin, archivist, compliance officer, supervisor" in page
    assert decide(console, batch_id, record_id=[record_id], decision="approve", reason="Reviewed").status_code == 303
    item = items_of(admin, batch_id)[record_id]
    assert item["decision"] == "approve" and item["reviews"][0]["by"] == "ada"  # the stage's own record of it


def test_the_review_is_in_chinese_for_chinese_readers(console_as, admin):
    batch_id, _ = batch_of(admin)
    console = console_as(Role.archivist, "ada")
    console.get("/console/language", params={"lang": "zh_CN", "next": f"{BATCHES}/{batch_id}"})
    page = console.get(f"{BATCHES}/{batch_id}").text
    assert "记录决定" in page and "理由（必填）" in page and "批准处置" in page


# --- executing and following it -------------------------------------------------------------------

def wait_until_done(console, batch_id: str) -> str:
    """The progress fragment, asked for as the page's htmx does, until the batch is done."""
    for _ in range(400):
        fragment = console.get(f"{BATCHES}/{batch_id}/progress", headers={"HX-Request": "true"})
        assert fragment.status_code == 200, fragment.text
        if "The batch is done" in fragment.text:
            return fragment.text
        assert 'hx-trigger="every 1s"' in fragment.text  # still executing: it keeps asking
        time.sleep(0.05)
    raise AssertionError(fragment.text)


def test_execute_then_watch_progress_until_the_certificate(console_as, admin, compliance_officer):
    batch_id, (record_id,) = batch_of(admin)
    console = console_as(Role.archivist, "ada")
    decide(console, batch_id, record_id=[record_id], decision="approve", reason="Due")
    unconfirmed = console.post(f"{BATCHES}/{batch_id}/execute")
    assert unconfirmed.status_code == 422 and "tick the confirmation" in unconfirmed.text
    assert admin.get(f"{RETENTION}/batches/{batch_id}").json()["status"] == "open"
    started = console.post(f"{BATCHES}/{batch_id}/execute", {"confirm": "yes"})
    assert started.status_code == 303 and started.headers["location"].startswith(f"{BATCHES}/{batch_id}")
    assert last_event(compliance_officer, "retention.batch.execute")["actor"] == "ada"
    fragment = wait_until_done(console, batch_id)
    assert "<html" not in fragment and 'id="batch-progress"' in fragment and "hx-trigger" not in fragment
    certificate_id = admin.get(f"{RETENTION}/batches/{batch_id}").json()["certificate_id"]
    assert f'href="/console/retention/certificates/{certificate_id}"' in fragment
    assert "destroyed 1, kept 0, held 0" in fragment
    again = console.post(f"{BATCHES}/{batch_id}/execute", {"confirm": "yes"})
    assert again.status_code == 409 and "The batch was not started." in again.text
    assert f"batch {batch_id} is done" in again.text


def test_a_hold_placed_after_approval_keeps_the_file_when_the_batch_runs(console_as, admin):
    batch_id, (record_id,) = batch_of(admin)
    console = console_as(Role.archivist, "ada")
    decide(console, batch_id, record_id=[record_id], decision="approve", reason="Due")
    hold(admin, record_id)  # litigation starts between the approval and the execution
    page = console.get(f"{BATCHES}/{batch_id}").text
    assert "kept when the batch runs" in page  # the item's hold is shown beside it
    assert console.post(f"{BATCHES}/{batch_id}/execute", {"confirm": "yes"}).status_code == 303
    fragment = wait_until_done(console, batch_id)
    assert "destroyed 0, kept 0, held 1" in fragment and "nothing was destroyed, so it has no certificate" in fragment
    assert admin.get(f"/api/v1/records/{record_id}").status_code == 200  # still there


def test_an_executing_batch_polls_and_a_finished_one_stops(console_as, admin, app, client):
    batch_id, (record_id,) = batch_of(admin)
    admin.post(f"{RETENTION}/batches/{batch_id}/decisions",
               json={"decisions": [{"record_id": record_id, "decision": "approve"}]})
    retention = app.state.retention_service
    from records.roles import Principal

    with client.portal() as portal:  # executing, but not run yet: the state a person watches
        portal.call(retention.start_execution, batch_id, Principal("ada", Role.archivist))
    console = console_as(Role.archivist, "ada")
    page = console.get(f"{BATCHES}/{batch_id}").text
    assert f'hx-get="{BATCHES}/{batch_id}/progress" hx-trigger="every 1s" hx-swap="outerHTML"' in page
    assert "<progress" in page and "/decisions" not in page  # no more deciding once it runs
    with client.portal() as portal:
        portal.call(retention.run, batch_id)
    fragment = console.get(f"{BATCHES}/{batch_id}/progress", headers={"HX-Request": "true"}).text
    assert "hx-trigger" not in fragment and "Open the destruction certificate" in fragment
    # Done: said once in the page's status message, not read out every second while it ran.
    assert '<p id="batch-announcer" hx-swap-oob="innerHTML">' in fragment and "certificate is ready" in fragment
    assert '<p id="batch-announcer" role="status" class="visually-hidden"></p>' in console.get(f"{BATCHES}/{batch_id}").text
    assert "aria-live" not in page


# --- certificates ------------------------------------------------------------------------------------

def executed(admin) -> tuple[str, str, str]:
    """A file approved and executed through the API: its batch, the certificate, its reference."""
    certificate_id = certificate(admin)
    issued = admin.get(f"{RETENTION}/certificates/{certificate_id}").json()
    return issued["batch_id"], certificate_id, issued["items"][0]["reference"]


def test_a_certificate_says_what_was_destroyed_by_whom_and_that_it_verifies(console_as, admin, compliance_officer):
    batch_id, certificate_id, reference = executed(admin)
    issued = admin.get(f"{RETENTION}/certificates/{certificate_id}").json()
    console = console_as(Role.archivist, "ada")
    listed = console.get("/console/retention/certificates/")
    assert listed.status_code == 200 and f'href="/console/retention/certificates/{certificate_id}"' in listed.text
    page = console.get(f"/console/retention/certificates/{certificate_id}")
    assert page.status_code == 200, page.text
    assert reference in page.text and issued["executor"] == "root" and "root" in page.text
    assert issued["key_id"] in page.text and issued["signature"] in page.text
    assert "Valid." in page.text and "one of this installation&#39;s audit keys" in page.text
    assert "SHA256:" in page.text  # the key's fingerprint, to compare with the published one
    assert f'href="/console/retention/batches/{batch_id}"' in page.text
    for offset in ("-1", "²", "9" * 5000):  # refused as the API refuses them, never a 500
        assert console.get(f"/console/retention/certificates/{certificate_id}", params={"offset": offset}).status_code == 422
    assert console.get(f"{BATCHES}/{batch_id}", params={"decided": "²"}).status_code == 200
    event = last_event(compliance_officer, "retention.certificate.read")
    assert event["actor"] == "ada" and f"certificate:{certificate_id}" in event["targets"]


def test_the_downloads_are_what_the_api_serves(console_as, admin):
    _, certificate_id, _ = executed(admin)
    console = console_as(Role.compliance_officer, "carol")
    as_json = console.get(f"/console/retention/certificates/{certificate_id}/json")
    assert as_json.status_code == 200 and as_json.headers["content-type"].startswith("application/json")
    assert as_json.headers["content-disposition"] == f'attachment; filename="certificate-{certificate_id}.json"'
    assert as_json.json() == admin.get(f"{RETENTION}/certificates/{certificate_id}").json()
    pdf = console.get(f"/console/retention/certificates/{certificate_id}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    from records.retention.certificates import read_certificate, verify

    embedded = read_certificate(pdf.content)  # the PDF carries the signed JSON, as the API's does
    assert embedded == as_json.json() and verify(embedded) == []


def test_an_altered_certificate_is_shown_as_not_valid_with_why(console_as, admin, app, monkeypatch):
    _, certificate_id, _ = executed(admin)
    retention = app.state.retention_service
    stored = retention.certificate

    async def altered(cid: str) -> DestructionCertificate:
        real = await stored(cid)
        return real.model_copy(update={"executor": "mallory"})  # as if someone edited the database

    monkeypatch.setattr(retention, "certificate", altered)
    page = console_as(Role.archivist, "ada").get(f"/console/retention/certificates/{certificate_id}")
    assert page.status_code == 200
    assert "NOT valid: this certificate cannot be trusted." in page.text and "Valid.</strong>" not in page.text
    assert "the signature does not match" in page.text


def test_certificate_pages_refuse_other_roles_and_unknown_ids(console_as, admin):
    _, certificate_id, _ = executed(admin)
    agent = console_as(Role.agent, "alice")
    for path in ("/console/retention/certificates/", f"/console/retention/certificates/{certificate_id}",
                 f"/console/retention/certificates/{certificate_id}/pdf",
                 f"/console/retention/certificates/{certificate_id}/json"):
        assert agent.get(path).status_code == 403, path


def test_an_unknown_certificate_is_a_404_page(console_as):
    console = console_as(Role.archivist, "ada")
    for path in ("/console/retention/certificates/nope", "/console/retention/certificates/nope/pdf"):
        missing = console.get(path)
        assert missing.status_code == 404 and "no destruction certificate" in missing.text


# --- the reviewer's queue across batches --------------------------------------------------------------

REVIEWS = "/console/retention/reviews/"


def test_a_supervisor_reviews_the_items_of_their_stage_across_batches(console_as, admin, compliance_officer):
    staged = review_item(admin)
    key = f"{staged['batch_id']}:{staged['record_id']}"
    console = console_as(Role.supervisor, "sam")
    assert f'href="{REVIEWS}"' in console.get("/console/").text  # in their navigation
    page = console.get(REVIEWS)
    assert page.status_code == 200 and f'value="{key}"' in page.text
    assert "/console/retention/batches/" not in page.text  # pages a supervisor may not open are not linked

    no_reason = console.post(f"{REVIEWS}decisions", {"item": [key], "decision": "approve"})
    assert no_reason.status_code == 422 and "give the reason for this decision" in no_reason.text
    no_date = console.post(f"{REVIEWS}decisions", {"item": [key], "decision": "extend", "reason": "Audit"})
    assert no_date.status_code == 422 and escape("extend needs `until`") in no_date.text
    assert items_of(admin, staged["batch_id"])[staged["record_id"]]["decision"] == "pending"

    done = console.post(f"{REVIEWS}decisions", {"item": [key], "decision": "approve", "reason": "Checked the file"})
    assert done.status_code == 303 and done.headers["location"] == f"{REVIEWS}?decided=1"
    item = items_of(admin, staged["batch_id"])[staged["record_id"]]
    assert item["decision"] == "approve" and item["reviews"][0]["by"] == "sam"
    assert item["reviews"][0]["reason"] == "Checked the file"
    assert last_event(compliance_officer, "retention.review.decide")["actor"] == "sam"
    assert f'value="{key}"' not in console.get(REVIEWS).text  # decided: no longer waiting


def test_the_reviews_page_refuses_what_the_api_refuses(console_as, admin):
    staged = review_item(admin)
    agent = console_as(Role.agent, "alice")
    assert agent.get(REVIEWS).status_code == 403
    refused = agent.post(f"{REVIEWS}decisions", {"item": [f"{staged['batch_id']}:{staged['record_id']}"],
                                                "decision": "approve", "reason": "Due"})
    assert refused.status_code == 403
    assert items_of(admin, staged["batch_id"])[staged["record_id"]]["decision"] == "pending"


def test_a_review_of_an_unknown_item_is_a_message_not_a_traceback(console_as, admin):
    review_item(admin)
    console = console_as(Role.archivist, "ada")
    nothing = console.post(f"{REVIEWS}decisions", {"decision": "approve", "reason": "Due"})
    assert nothing.status_code == 422 and "select at least one item" in nothing.text
    malformed = console.post(f"{REVIEWS}decisions", {"item": ["no-colon"], "decision": "approve", "reason": "Due"})
    assert malformed.status_code == 422 and "record_id:" in malformed.text
    unknown = console.post(f"{REVIEWS}decisions", {"item": ["no-such-batch:abc"], "decision": "approve", "reason": "Due"})
    assert unknown.status_code == 404 and "no disposition batch" in unknown.text
    assert "The decision was refused." in unknown.text
