"""An archivist's journey in Chromium: a sweep (set up through the API) gathers a file that fell
due into a batch; the archivist reviews it on the batch page (select all, approve with a reason),
executes it, watches the progress update itself until the batch is done, and opens the
destruction certificate, which the page says verifies; the signed JSON downloads. axe checks the
batch and certificate pages, and screenshots are taken for the README."""

from __future__ import annotations

import json
import re

from tests.conftest import record_body
from tests.console.conftest import assert_accessible, screenshot, sign_in

RETENTION = "/api/v1/retention"
SCHEDULE = "Browser journey: major complaints, due at once"


def archived_due_file(server) -> dict:  # type: ignore[no-untyped-def]
    """A major complaint filed and archived under a schedule that makes it due at once."""
    with server.api("admin") as api:
        names = {s["name"] for s in api.get(f"{RETENTION}/schedules").json()["items"]}
        if SCHEDULE not in names:
            r = api.post(f"{RETENTION}/schedules", json={"name": SCHEDULE, "kinds": ["complaint"],
                                                        "classification": ["urgency:major"], "period": "P0D",
                                                        "action": "destroy"})
            assert r.status_code == 201, r.text
        record = api.post("/api/v1/records", json=record_body(urgency="major", subject="Dropped calls")).json()
        for stage in ("investigating", "handling"):
            assert api.post(f"/api/v1/records/{record['id']}/transitions", json={"to": stage}).status_code == 200
        version = api.get(f"/api/v1/records/{record['id']}").json()["version"]
        r = api.patch(f"/api/v1/records/{record['id']}", json={"result": "Fixed", "feedback": {"satisfaction": 4}},
                      headers={"If-Match": f'"{version}"'})
        assert r.status_code == 200, r.text
        for stage in ("feedback", "archived"):
            assert api.post(f"/api/v1/records/{record['id']}/transitions", json={"to": stage}).status_code == 200
    return record


def due_file_in_a_batch(server) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """``archived_due_file``, then swept: the batch holding it and its reference."""
    record = archived_due_file(server)
    with server.api("admin") as api:
        swept = api.post(f"{RETENTION}/sweeps", json={}).json()
    batch = next(b for b in swept["batches"] if any(i["record_id"] == record["id"] for i in b["items"]))
    return batch["id"], record["reference"]


def test_archivist_reviews_executes_and_opens_the_certificate(page, console_server):
    batch_id, reference = due_file_in_a_batch(console_server)
    sign_in(page, console_server, "archivist")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Retention", exact=True).click()
    page.wait_for_url(re.compile(r".*/console/retention/batches$"))
    page.get_by_role("link", name=batch_id[:8]).click()
    page.wait_for_url(re.compile(rf".*/console/retention/batches/{batch_id}$"))
    assert reference in page.locator("table.items").inner_text()

    # The same item waits in the archivist's review queue across batches.
    page.get_by_role("link", name="Waiting for my review").click()
    page.wait_for_url(re.compile(r".*/console/retention/reviews/$"))
    assert reference in page.locator("table.items").inner_text()
    assert_accessible(page)
    page.go_back()
    page.wait_for_url(re.compile(rf".*/console/retention/batches/{batch_id}$"))

    select_all = page.get_by_label("Select every item on this page")
    select_all.check()  # the script shows the box and ticks every item of the page
    assert page.get_by_label(f"Select {reference}").is_checked()
    page.get_by_label("Approve the disposal").check()
    page.get_by_label("Reason (required)").fill("Retention ran out; no hold, no open request")
    assert_accessible(page)
    screenshot(page, "archivist-review")
    page.get_by_role("button", name="Record the decision").click()
    page.wait_for_url(re.compile(r".*\?decided=\d+$"))
    assert "Decision recorded" in page.locator("main").inner_text()
    assert "archivist-browser" in page.locator("table.items").inner_text()  # who approved

    page.get_by_label(re.compile(r"^I confirm that the \d+ approved file")).check()
    page.get_by_role("button", name="Execute the batch").click()
    # The progress section asks for itself every second until the batch is done, then links on.
    certificate_link = page.get_by_role("link", name="Open the destruction certificate")
    certificate_link.wait_for(timeout=60_000)
    assert "destroyed" in page.locator("#batch-progress").inner_text()
    certificate_link.click()
    page.wait_for_url(re.compile(r".*/console/retention/certificates/[0-9a-f-]{36}$"))
    assert "Valid." in page.locator("#verification").inner_text()
    assert reference in page.locator("table.items").inner_text()
    assert_accessible(page)
    screenshot(page, "certificate")

    with page.expect_download() as download:
        page.get_by_role("link", name="signed JSON", exact=True).click()
    signed = json.loads(open(download.value.path(), "rb").read())
    assert signed["batch_id"] == batch_id and any(i["reference"] == reference for i in signed["items"])


def test_the_review_works_from_the_keyboard_alone(page, console_server):
    """No mouse: Tab to each control by its accessible name, Space to tick, Enter to go."""
    from tests.console.test_browser_keyboard import sign_in_by_keyboard, tab_to

    batch_id, reference = due_file_in_a_batch(console_server)
    sign_in_by_keyboard(page, console_server, "archivist")
    tab_to(page, "Retention", "a")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/console/retention/batches$"))
    tab_to(page, batch_id[:8], "a")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf".*/console/retention/batches/{batch_id}$"))
    tab_to(page, f"Select {reference}", "input")
    page.keyboard.press("Space")
    tab_to(page, "Approve the disposal", "input")
    page.keyboard.press("Space")
    tab_to(page, re.compile(r"^Reason \(required\)"), "textarea")
    page.keyboard.type("Due; reviewed without a mouse")
    tab_to(page, "Record the decision", "button")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*\?decided=1$"))
    tab_to(page, re.compile(r"^I confirm that the \d+ approved file"), "input")
    page.keyboard.press("Space")
    tab_to(page, "Execute the batch", "button")
    page.keyboard.press("Enter")
    page.get_by_role("link", name="Open the destruction certificate").wait_for(timeout=60_000)
    tab_to(page, "Open the destruction certificate", "a")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/console/retention/certificates/[0-9a-f-]{36}$"))
    assert "Valid." in page.locator("#verification").inner_text()
