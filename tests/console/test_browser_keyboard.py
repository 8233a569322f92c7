"""Every journey works from the keyboard alone (issue 16): no mouse, no clicks. Each step moves the
focus with Tab as a person would until it reaches the control by its accessible name (failing if
Tab never gets there), checks that the focus can be seen, then types or presses Enter or Space.

The journeys: an agent signs in, files a complaint and moves it on; a compliance officer finds an
access in the audit log and has the browser verify it is in the signed log."""

from __future__ import annotations

import re
import time
from typing import Any

from tests.console.conftest import home_url

MAX_TABS = 150


def focused(page: Any) -> dict[str, str]:
    return page.evaluate("""() => {
        const el = document.activeElement;
        if (!el || el === document.body) return {name: "", tag: "", outline: "", shadow: ""};
        const label = el.labels && el.labels.length ? el.labels[0].innerText : "";
        const style = getComputedStyle(el);
        return {name: (el.getAttribute("aria-label") || label || el.innerText || el.value || "").trim(),
                tag: el.tagName.toLowerCase(), outline: style.outlineStyle, shadow: style.boxShadow};
    }""")


def tab_to(page: Any, name: str | re.Pattern[str], tag: str | None = None) -> None:
    """Press Tab until the focused control is the one called ``name``; its focus must be visible."""
    wanted = name if isinstance(name, re.Pattern) else re.compile(rf"^{re.escape(name)}(\s|$)")
    seen = []
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        now = focused(page)
        seen.append(now["name"][:30])
        if wanted.search(now["name"]) and (tag is None or now["tag"] == tag):
            assert now["outline"] not in ("none", "") or now["shadow"] != "none", f"{name!r} has focus but shows none"
            return
    raise AssertionError(f"Tab never reaches {name!r}; it went through {seen[:60]}")


def sign_in_by_keyboard(page: Any, server: Any, role: str) -> None:
    page.goto(f"{server.base_url}/console/sign-in")
    tab_to(page, re.compile("^API token"), "input")
    page.keyboard.type(server.tokens[role])
    page.keyboard.press("Enter")
    page.wait_for_url(home_url(server))


def test_an_agent_files_and_moves_a_complaint_by_keyboard(page, console_server):
    sign_in_by_keyboard(page, console_server, "agent")
    tab_to(page, "File a new one", "a")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/console/records/new.*"))
    for label, text in (("Channel", "phone"), ("Urgency", "urgent")):
        tab_to(page, re.compile(rf"^{label}"), "select")
        page.keyboard.type(text)  # a closed select takes the option typed
    assert page.locator("[name=channel]").input_value() == "phone"
    for label, text in (("Customer name", "王五"), ("Customer phone", "13712345678"),
                        ("Customer account", "ACC-3003"), ("Subject", "Slow broadband"),
                        ("Description", "Broadband slows to 1 Mbit/s every evening.")):
        tab_to(page, re.compile(rf"^{label}"))
        page.keyboard.type(text)
    tab_to(page, "File it", "button")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/console/records/[0-9a-f-]{36}$"))
    assert page.locator("h1").inner_text().startswith("CP-")
    tab_to(page, "Move to Investigating", "button")
    with page.expect_navigation():
        page.keyboard.press("Space")
    assert page.get_by_role("button", name="Move to handling").count() == 1  # it moved on


def test_a_compliance_officer_finds_and_verifies_an_access_by_keyboard(page, console_server):
    with console_server.api("agent") as agent:
        assert agent.get("/api/v1/records").status_code == 200  # an access to find
    time.sleep(3)  # the service seals new events every RECORDS_AUDIT_SEAL_SECONDS (2 s)
    sign_in_by_keyboard(page, console_server, "compliance_officer")
    tab_to(page, "Audit log", "a")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/console/audit/?$"))
    tab_to(page, re.compile("^Actor"), "input")
    page.keyboard.type("agent-browser")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*actor=agent-browser.*"))
    page.wait_for_selector("button.verify-event:not([hidden])")
    tab_to(page, re.compile("^Verify"), "button")
    page.keyboard.press("Enter")
    result = page.locator("output.verify-result").first
    page.wait_for_function("() => { const t = document.querySelector('output.verify-result').innerText.trim();"
                           " return t.length > 0 && !t.startsWith('Checking'); }")
    assert "In the signed log" in result.inner_text(), result.inner_text()
