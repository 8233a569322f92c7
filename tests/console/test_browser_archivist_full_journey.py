"""The archivist's whole journey through the pages (issue 16): a file falls due, but a legal hold
placed in the console keeps it out of the sweep run from the queue; once the hold is released
the next sweep gathers it, the archivist approves it, executes the batch, watches it finish and
opens the certificate, which verifies. Only the setup (a file archived under a due schedule)
goes through the API."""

from __future__ import annotations

import re

from tests.console.conftest import assert_accessible, sign_in
from tests.console.test_browser_archivist_journey import RETENTION, archived_due_file

SWEPT = re.compile(r"The sweep gathered (\d+) due file\(s\) into (\d+) batch\(es\); (\d+) due file\(s\) stay under a legal hold\.")


def sweep_now(page) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    page.get_by_role("link", name="Disposition review").click()
    page.get_by_role("button", name="Sweep now").click()
    page.wait_for_url(re.compile(r".*/console/retention/batches\?due=.*"))
    found = SWEPT.search(page.get_by_role("status").first.inner_text())
    assert found, page.locator("main").inner_text()[:500]
    return int(found.group(1)), int(found.group(2)), int(found.group(3))


def test_hold_sweep_release_review_execute_certificate(page, console_server):
    record = archived_due_file(console_server)
    sign_in(page, console_server, "archivist")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Retention", exact=True).click()

    page.get_by_role("link", name="Legal holds").click()
    page.get_by_role("link", name="Place a legal hold").click()
    page.get_by_label("Case reference").fill("CASE-JOURNEY-1")
    page.get_by_label("Reason for the hold").fill("Customer disputes the bill")
    page.get_by_label(re.compile(r"^Record ids")).fill(record["id"])
    page.get_by_role("button", name="Place the hold").click()
    page.wait_for_url(re.compile(r".*/console/retention/holds/[0-9a-f-]{36}$"))
    hold_url = page.url
    assert page.get_by_role("link", name=record["reference"]).count() == 1

    _, _, held = sweep_now(page)
    assert held >= 1
    assert_accessible(page)
    with console_server.api("archivist") as api:  # the file is in no batch while held
        assert not any(i["record_id"] == record["id"] for b in api.get(f"{RETENTION}/batches", params={"status": "open"})
                       .json()["items"] for i in api.get(f"{RETENTION}/batches/{b['id']}").json()["items"])

    page.goto(hold_url)
    page.get_by_label("Reason for the release").fill("Dispute settled")
    page.get_by_role("button", name="Release this hold").click()
    page.wait_for_load_state()
    assert "hold released" in page.locator("dl.fields").inner_text()

    due, gathered, _ = sweep_now(page)
    assert due >= 1 and gathered >= 1
    with console_server.api("archivist") as api:
        batch_id = next(b["id"] for b in api.get(f"{RETENTION}/batches", params={"status": "open"}).json()["items"]
                        if any(i["record_id"] == record["id"] for i in api.get(f"{RETENTION}/batches/{b['id']}").json()["items"]))
    page.get_by_role("link", name=batch_id[:8]).click()
    page.wait_for_url(re.compile(rf".*/console/retention/batches/{batch_id}$"))
    page.get_by_label("Select every item on this page").check()
    page.get_by_label("Approve the disposal").check()
    page.get_by_label("Reason (required)").fill("Schedule reached; the hold was released")
    page.get_by_role("button", name="Record the decision").click()
    page.wait_for_url(re.compile(r".*\?decided=\d+$"))
    page.get_by_label(re.compile(r"^I confirm that the \d+ approved file")).check()
    page.get_by_role("button", name="Execute the batch").click()
    certificate = page.get_by_role("link", name="Open the destruction certificate")
    certificate.wait_for(timeout=60_000)
    certificate.click()
    page.wait_for_url(re.compile(r".*/console/retention/certificates/[0-9a-f-]{36}$"))
    assert "Valid." in page.locator("#verification").inner_text()
    assert record["reference"] in page.locator("table.items").inner_text()
    with console_server.api("archivist") as api:
        assert api.get(f"/api/v1/records/{record['id']}").status_code == 410  # destroyed
