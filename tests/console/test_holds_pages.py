"""Legal holds in the console over plain HTTP: placing one on named files or a saved query, what
each covers (as the API counts it, personal data masked), releasing one with a reason; every
form is the API's call with its roles and audit action, and every refusal is a message, not a hold."""

from __future__ import annotations

import re

from records.roles import Role
from tests.conftest import record_body

HOLDS = "/api/v1/retention/holds"


def _placed(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/console/retention/holds/([0-9a-f-]+)", response.headers["location"])
    assert match, response.headers["location"]
    return match.group(1)


def _last_event(compliance_officer, action: str) -> dict:  # type: ignore[no-untyped-def]
    response = compliance_officer.get("/api/v1/audit/events", params={"action": action})
    assert response.status_code == 200, response.text
    return response.json()["items"][-1]


def _error_beside(page: str, field: str) -> str:
    """The message the form shows beside ``field`` (and the field points at it)."""
    match = re.search(rf'<p class="error" id="error-{field}">([^<]*)</p>', page)
    assert match, f"no message beside {field}"
    assert f'aria-describedby="error-{field}"' in page
    return match.group(1)


def test_an_archivist_places_a_hold_on_named_files_and_releases_it(console_as, filed, archivist, compliance_officer):
    console = console_as(Role.archivist, "ada-console")
    form = console.get("/console/retention/holds/new")
    assert form.status_code == 200 and 'name="case_reference"' in form.text
    hold_id = _placed(console.post("/console/retention/holds/", {
        "case_reference": "CASE-1", "reason": "Litigation by the customer", "record_ids": f"{filed['id']}\n"}))

    api = archivist.get(f"{HOLDS}/{hold_id}").json()
    assert api["record_ids"] == [filed["id"]] and api["placed_by"] == "ada-console" and api["case_reference"] == "CASE-1"
    event = _last_event(compliance_officer, "retention.hold.place")
    assert event["actor"] == "ada-console" and f"hold:{hold_id}" in event["targets"]

    detail = console.get(f"/console/retention/holds/{hold_id}")
    assert detail.status_code == 200 and filed["reference"] in detail.text
    assert "Named files: 1" in detail.text and '<dd id="covered-total">1 now</dd>' in detail.text
    listed = console.get("/console/retention/holds/")
    assert f'href="/console/retention/holds/{hold_id}"' in listed.text and "1 when placed" in listed.text

    released = console.post(f"/console/retention/holds/{hold_id}/release", {"reason": "Case settled"})
    assert released.status_code == 303 and released.headers["location"] == f"/console/retention/holds/{hold_id}"
    api = archivist.get(f"{HOLDS}/{hold_id}").json()
    assert api["released_by"] == "ada-console" and api["release_reason"] == "Case settled"
    after = console.get(f"/console/retention/holds/{hold_id}").text
    assert "Case settled" in after and "Release this hold" not in after
    again = console.post(f"/console/retention/holds/{hold_id}/release", {"reason": "twice"})
    assert again.status_code == 409 and "was released" in again.text


def test_a_saved_query_hold_shows_its_masked_scope_and_the_apis_coverage(console_as, agent, filed, archivist):
    console = console_as(Role.archivist, "ada-console")
    hold_id = _placed(console.post("/console/retention/holds/", {
        "case_reference": "CASE-77", "reason": "Regulator's inquiry", "customer_phone": "13812345678",
        "kind": "complaint", "received_from": "2020-01-01", "purpose": "诉讼保全 CASE-77"}))
    # a file of the same customer filed after the hold is covered too; another customer's is not
    assert agent.post("/api/v1/records", json=record_body()).status_code == 201
    assert agent.post("/api/v1/records", json=record_body(customer={
        "name": "李四", "phone": "13900000000", "account": "ACC-2002"})).status_code == 201

    coverage = archivist.get(f"{HOLDS}/{hold_id}/records").json()
    assert coverage["total"] == 2
    detail = console.get(f"/console/retention/holds/{hold_id}").text
    assert f'<dd id="covered-total">{coverage["total"]} now</dd>' in detail
    assert all(item["reference"] in detail for item in coverage["items"])
    assert "matches the saved query" in detail
    for page in (detail, console.get("/console/retention/holds/").text):
        assert "138****5678" in page and "13812345678" not in page
        assert "Complaint" in page and "2020-01-01" in page  # the kind and the range it covers
    query = archivist.get(f"{HOLDS}/{hold_id}").json()["query"]
    assert query["kind"] == "complaint" and query["received_from"].startswith("2019-12-31T16:00")  # Shanghai's day


def test_a_lookup_hold_without_a_purpose_is_refused_beside_the_field(console_as, filed, archivist):
    console = console_as(Role.archivist, "ada-console")
    refused = console.post("/console/retention/holds/", {
        "case_reference": "CASE-2", "reason": "Litigation", "customer_phone": "13812345678"})
    assert refused.status_code == 422
    assert "purpose" in _error_beside(refused.text, "purpose")
    assert 'value="CASE-2"' in refused.text  # what was typed is kept
    assert archivist.get(HOLDS).json()["items"] == []


def test_bad_input_is_a_message_beside_its_field_and_places_nothing(console_as, filed, archivist):
    console = console_as(Role.archivist, "ada-console")
    base = {"case_reference": "CASE-3", "reason": "Litigation"}
    bad_date = console.post("/console/retention/holds/", {**base, "received_from": "2026-02-30"})
    assert bad_date.status_code == 422 and "not a date" in _error_beside(bad_date.text, "received_from")
    backwards = console.post("/console/retention/holds/", {**base, "received_from": "2026-03-01",
                                                          "received_to": "2026-02-01"})
    assert backwards.status_code == 422 and "received_from must be before received_to" in backwards.text
    nothing = console.post("/console/retention/holds/", base)
    assert nothing.status_code == 422 and "a hold needs record_ids or a query" in nothing.text
    unknown = console.post("/console/retention/holds/", {**base, "record_ids": "no-such-record"})
    assert unknown.status_code == 404 and "no record has id" in _error_beside(unknown.text, "record_ids")
    bad_phone = console.post("/console/retention/holds/", {**base, "customer_phone": "12", "purpose": "x"})
    assert bad_phone.status_code == 422 and _error_beside(bad_phone.text, "customer_phone")
    no_reason = console.post("/console/retention/holds/", {"case_reference": "CASE-4", "record_ids": filed["id"]})
    assert no_reason.status_code == 422 and _error_beside(no_reason.text, "reason")
    assert archivist.get(HOLDS).json()["items"] == []
    assert "Traceback" not in bad_date.text + unknown.text


def test_a_release_needs_a_reason(console_as, filed, archivist):
    hold_id = archivist.post(HOLDS, json={"reason": "Audit", "case_reference": "A-1",
                                          "record_ids": [filed["id"]]}).json()["id"]
    console = console_as(Role.archivist, "ada-console")
    refused = console.post(f"/console/retention/holds/{hold_id}/release", {"reason": "  "})
    assert refused.status_code == 422 and "reason" in refused.text
    assert archivist.get(f"{HOLDS}/{hold_id}").json()["released_at"] is None
    missing = console.post("/console/retention/holds/no-such-hold/release", {"reason": "x"})
    assert missing.status_code == 404 and "no legal hold" in missing.text


def test_roles_the_api_refuses_are_refused_here(console_as, filed, archivist):
    hold_id = archivist.post(HOLDS, json={"reason": "Audit", "case_reference": "A-1",
                                          "record_ids": [filed["id"]]}).json()["id"]
    officer = console_as(Role.compliance_officer, "carl-console")
    listed = officer.get("/console/retention/holds/")
    assert listed.status_code == 200 and "/console/retention/holds/new" not in listed.text  # reads, as in the API
    assert officer.get(f"/console/retention/holds/{hold_id}").status_code == 200
    assert officer.get("/console/retention/holds/new").status_code == 403
    refused = officer.post(f"/console/retention/holds/{hold_id}/release", {"reason": "not mine"})
    assert refused.status_code == 403 and "Your role may not do this." in refused.text
    assert officer.post("/console/retention/holds/", {"case_reference": "C", "reason": "r",
                                                      "record_ids": filed["id"]}).status_code == 403
    assert archivist.get(f"{HOLDS}/{hold_id}").json()["released_at"] is None
    assert len(archivist.get(HOLDS).json()["items"]) == 1


def test_agents_may_not_see_holds(console_as, filed):
    agent = console_as(Role.agent, "alice-console")
    assert agent.get("/console/retention/holds/").status_code == 403


def test_a_form_without_csrf_places_and_releases_nothing(console_as, filed, archivist):
    hold_id = archivist.post(HOLDS, json={"reason": "Audit", "case_reference": "A-1",
                                          "record_ids": [filed["id"]]}).json()["id"]
    console = console_as(Role.archivist, "ada-console")
    placed = console.post("/console/retention/holds/", {"case_reference": "C", "reason": "r", "record_ids": filed["id"]},
                          csrf=False)
    assert placed.status_code == 403 and "csrf_refused" in placed.text
    released = console.post(f"/console/retention/holds/{hold_id}/release", {"reason": "r"}, csrf=False)
    assert released.status_code == 403
    assert [h["id"] for h in archivist.get(HOLDS).json()["items"]] == [hold_id]
    assert archivist.get(f"{HOLDS}/{hold_id}").json()["released_at"] is None


def test_the_holds_pages_are_in_chinese_for_chinese_browsers(console_as, filed, archivist):
    archivist.post(HOLDS, json={"reason": "Audit", "case_reference": "A-1", "record_ids": [filed["id"]]})
    console = console_as(Role.archivist, "ada-console")
    console.get("/console/language", params={"lang": "zh_CN", "next": "/console/retention/holds/"})
    assert "法律保留" in console.get("/console/retention/holds/").text
