"""An agent's journey in Chromium: sign in, file a complaint, attach a file, move it through its
workflow (the guard's reason shown while a result is missing) until a supervisor archives it, as
the workflow says; find it again;
axe checks each main page on the way and screenshots are taken for the README."""

from __future__ import annotations

import re

from tests.console.conftest import assert_accessible, screenshot, sign_in


def move(page, stage: str) -> None:
    page.get_by_role("button", name=f"Move to {stage}").click()
    page.wait_for_load_state()


def test_agent_files_attaches_and_archives_a_complaint(page, console_server):
    sign_in(page, console_server, "agent")
    page.get_by_role("link", name="File a new one").first.click()
    page.wait_for_url(re.compile(r".*/console/records/new.*"))
    assert_accessible(page)
    screenshot(page, "file-new")
    page.locator("[name=channel]").select_option("phone")
    page.locator("[name=urgency]").select_option("urgent")
    page.locator("[name='customer.name']").fill("张三")
    page.locator("[name='customer.phone']").fill("13812345678")
    page.locator("[name='customer.account']").fill("ACC-1001")
    page.locator("[name=subject]").fill("No signal since Monday")
    page.locator("[name=description]").fill("Customer reports no mobile signal at home since Monday morning.")
    page.get_by_role("button", name="File it").click()
    page.wait_for_url(re.compile(r".*/console/records/[0-9a-f-]{36}$"))
    assert page.locator("h1").inner_text().startswith("CP-")
    record_url = page.url

    page.locator("#file").set_input_files(files=[{"name": "信号测试.txt", "mimeType": "text/plain",
                                                  "buffer": "signal test: -120 dBm".encode()}])
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(re.compile(r".*#attachments$"))
    link = page.get_by_role("link", name="信号测试.txt")
    with page.expect_download() as download:
        link.click()
    assert open(download.value.path(), "rb").read() == b"signal test: -120 dBm"

    move(page, "investigating")
    move(page, "handling")
    # The workflow's guard refuses feedback until the customer has been given a result.
    assert "not now" in page.locator("ul.moves").inner_text()
    assert page.get_by_role("button", name="Move to feedback").count() == 0
    assert_accessible(page)
    screenshot(page, "record")
    page.locator("#a-result").fill("Replaced the faulty base station module; signal restored.")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_load_state()
    move(page, "feedback")
    page.locator("#a-satisfaction").select_option("5")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_load_state()
    # Agents hand in; the workflow lets supervisors (and archivists) declare the record.
    assert "may not move" in page.locator("ul.moves").inner_text()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*reason=signed_out"))
    sign_in(page, console_server, "supervisor")
    page.goto(record_url)
    move(page, "archived")
    assert "Archived" in page.locator("main > p").first.inner_text()
    assert page.locator("#file").count() == 0  # a record: nothing more to attach

    page.get_by_role("link", name="Files", exact=True).click()
    page.wait_for_url(re.compile(r".*/console/records/?$"))
    assert page.get_by_role("link", name=re.compile(r"^CP-")).count() >= 1
    assert_accessible(page)
    screenshot(page, "records")
    page.goto(record_url)
    assert "Replaced the faulty base station module" in page.content()
