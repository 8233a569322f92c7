"""What a person sees in Chromium when the console refuses (issue 16): a page of the wrong role, a
form whose CSRF token is missing, a session that expired. Each refusal is a clear, accessible page
in the viewer's language, and nothing is changed by a refused form."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import record_body
from tests.console.conftest import assert_accessible, sign_in
from tests.helpers.server_process import ServerProcess, create_token


def test_a_page_of_another_role_is_a_clear_refusal(page, console_server):
    sign_in(page, console_server, "agent")
    assert page.get_by_role("link", name="Audit log").count() == 0  # not offered to an agent
    response = page.goto(f"{console_server.base_url}/console/audit")
    assert response is not None and response.status == 403
    assert page.locator("h1").inner_text() == "Not allowed"
    assert page.get_by_role("link", name="Home").count() >= 1  # a way back
    assert_accessible(page)


def test_a_form_without_its_csrf_token_changes_nothing(page, console_server):
    with console_server.api("agent") as agent:
        filed = agent.post("/api/v1/records", json=record_body())
        assert filed.status_code == 201, filed.text
        record = filed.json()
    sign_in(page, console_server, "agent")
    page.goto(f"{console_server.base_url}/console/records/{record['id']}")
    # As a page on another site would post it: the form without the session's token.
    page.evaluate("() => document.querySelectorAll('input[name=csrf_token]').forEach(el => el.remove())")
    page.get_by_role("button", name="Move to investigating").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Not allowed"
    assert "did not come from your console session" in page.locator("main").inner_text()
    assert_accessible(page)
    with console_server.api("agent") as agent:
        assert agent.get(f"/api/v1/records/{record['id']}").json()["status"] == record["status"]


@pytest.fixture
def short_sessions(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``records serve`` whose console sessions end after 2 idle seconds; (base URL, agent token)."""
    data_dir = tmp_path / "data"
    token = create_token(data_dir, "idle-agent", "agent")
    server = ServerProcess(data_dir, tmp_path / "server.log", env={"RECORDS_CONSOLE_SESSION_IDLE_SECONDS": "2"}).start()
    try:
        yield server.base_url, token
    finally:
        server.stop()


def test_an_expired_session_asks_to_sign_in_again_and_returns_to_the_page(page, short_sessions):
    base, token = short_sessions
    page.goto(f"{base}/console/sign-in")
    page.locator("input[name=token]").fill(token)
    page.locator("form[action='/console/sign-in'] button[type=submit]").click()
    page.wait_for_url(re.compile(rf"^{re.escape(base)}/console/$"))
    time.sleep(3)  # idle longer than the session may be
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Files", exact=True).click()
    page.wait_for_url(re.compile(r".*/console/sign-in.*"))
    assert page.get_by_role("status").inner_text() == "Your session has expired. Sign in again."
    assert_accessible(page)
    page.locator("input[name=token]").fill(token)
    page.locator("form[action='/console/sign-in'] button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/console/records/?$"))  # back where the person was going
