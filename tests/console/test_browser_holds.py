"""An archivist's legal hold in Chromium: place one by saved query (a customer's phone), see what it
covers with the phone masked, release it with a reason; then the schedules (an edit previewed
with the dry run) and the forecast with its charts. axe checks each page; screenshots for the README."""

from __future__ import annotations

import re

from tests.conftest import record_body
from tests.console.conftest import assert_accessible, screenshot, sign_in
from tests.retention.conftest import archive

PHONE = "13955501234"  # this test's customer only: the hold's coverage is this test's file


def test_archivist_holds_by_saved_query_sees_its_coverage_and_releases_it(page, console_server):
    filed = console_server.api("agent").post("/api/v1/records", json=record_body(customer={
        "name": "王五", "phone": PHONE, "account": "ACC-3003"}))
    assert filed.status_code == 201, filed.text
    reference = filed.json()["reference"]

    sign_in(page, console_server, "archivist")
    page.goto(f"{console_server.base_url}/console/retention/batches")
    page.get_by_role("link", name="Legal holds").click()
    page.wait_for_url(re.compile(r".*/console/retention/holds/?$"))
    page.get_by_role("link", name="Place a legal hold").click()
    page.wait_for_url(re.compile(r".*/console/retention/holds/new$"))
    assert_accessible(page)
    page.get_by_label("Case reference").fill("CASE-BROWSER-1")
    page.get_by_label("Reason for the hold").fill("The customer's lawsuit")
    page.get_by_label("Customer phone").fill(PHONE)
    page.get_by_label("Kind").select_option("complaint")
    page.get_by_label("Received from").fill("2020-01-01")
    page.get_by_role("button", name="Place the hold").click()
    # A lookup by phone needs its purpose, as in the API: said beside the field, what was typed kept.
    purpose = page.get_by_label(re.compile(r"^Purpose of the lookup"))
    assert purpose.get_attribute("aria-invalid") == "true" and "purpose" in page.locator("#error-purpose").inner_text()
    assert page.get_by_label("Customer phone").input_value() == PHONE
    assert_accessible(page)
    purpose.fill("litigation hold CASE-BROWSER-1")
    page.get_by_role("button", name="Place the hold").click()
    page.wait_for_url(re.compile(r".*/console/retention/holds/[0-9a-f-]{36}$"))

    assert page.locator("h1").inner_text() == "Legal hold CASE-BROWSER-1"
    assert page.locator("#covered-total").inner_text() == "1 now"
    assert "139****1234" in page.content() and PHONE not in page.content()
    assert page.get_by_role("link", name=reference).count() == 1
    assert_accessible(page)
    screenshot(page, "holds")

    page.get_by_label("Reason for the release").fill("Case settled")
    page.get_by_role("button", name="Release this hold").click()
    page.wait_for_load_state()
    assert "hold released" in page.locator("dl.fields").inner_text()
    assert "Case settled" in page.locator("table").first.inner_text()
    assert page.get_by_role("button", name="Release this hold").count() == 0

    page.get_by_role("link", name="Legal holds").click()
    row = page.locator("tr", has_text="CASE-BROWSER-1")
    assert "hold released" in row.inner_text() and "139****1234" in row.inner_text()
    assert_accessible(page)


ACCOUNT_QUERIES = "content:business_handling.account_query"


def test_archivist_previews_a_schedule_edit_and_reads_the_forecast(page, console_server):
    # A file due in 60 days under a schedule of its own (a code no other test files under), so the
    # forecast has something to show without changing what any other file falls due.
    admin, agent, archivist = (console_server.api(role) for role in ("admin", "agent", "archivist"))
    created = admin.post("/api/v1/retention/schedules", json={
        "name": "Account-query complaints (browser test)", "kinds": ["complaint"], "classification": [ACCOUNT_QUERIES],
        "period": "P60D", "action": "destroy"})
    assert created.status_code == 201, created.text
    archive(agent, archivist, "complaint", classification=[ACCOUNT_QUERIES])

    sign_in(page, console_server, "archivist")
    page.goto(f"{console_server.base_url}/console/retention/holds/")
    page.get_by_role("link", name="Retention schedules").click()
    page.wait_for_url(re.compile(r".*/console/retention/schedules/?$"))
    assert_accessible(page)
    screenshot(page, "schedules")

    # A legal minimum refuses a schedule below it, the message beside the period it concerns.
    page.get_by_role("link", name="Create a schedule").click()
    page.get_by_label("Schedule name").fill("Quick consultations")
    page.get_by_label("Consultation").check()
    page.get_by_label("Retention period").fill("P0D")
    page.get_by_role("button", name="Create the schedule").click()
    page.wait_for_load_state()
    period = page.get_by_label("Retention period")
    assert period.get_attribute("aria-invalid") == "true"
    assert "P3Y" in page.locator("#error-period").inner_text()
    assert_accessible(page)
    page.get_by_role("link", name="Retention schedules").click()

    page.get_by_role("link", name="Complaints", exact=True).click()
    page.get_by_role("link", name="Edit (makes a new version)").click()
    page.get_by_label("Retention period").fill("P9Y")
    page.get_by_label("Reason for the change (kept with the version)").fill("the regulator's letter")
    page.get_by_role("button", name="Preview the change").click()
    page.wait_for_load_state()
    assert "Preview: nothing is stored yet" in page.content()
    assert page.get_by_role("button", name=re.compile(r"^Save version \d+$")).count() == 1
    assert_accessible(page)

    page.get_by_role("link", name="Forecast of disposals").click()
    page.wait_for_url(re.compile(r".*/console/retention/forecast/?$"))
    assert page.locator("#forecast-due td").count() == 3
    row = page.locator("#forecast-by-schedule tr", has_text="Account-query complaints (browser test)")
    assert row.locator("td").all_inner_texts() == ["0", "1", "1"]
    charts = page.locator("figure.forecast-chart img")
    assert charts.count() >= 1
    assert charts.first.evaluate("img => img.complete && img.naturalWidth > 0")  # the chart draws
    assert_accessible(page)
    screenshot(page, "forecast")
