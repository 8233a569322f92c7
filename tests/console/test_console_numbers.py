"""Numbers typed into headers and forms are ASCII digits or a clear refusal: ``"²".isdigit()`` is
true in Python and ``int("²")`` raises, which once made such a value a 500."""

from __future__ import annotations

import pytest

from records.models import whole_number
from tests.conftest import record_body


@pytest.mark.parametrize("raw", ["²", "١٢", "３", "-1", "1.0", " 1", "", "9" * 40])
def test_only_plain_whole_numbers_are_numbers(raw):
    assert whole_number(raw, 10**12) is None


def test_plain_numbers_up_to_the_limit():
    assert whole_number("0", 5) == 0 and whole_number("5", 5) == 5 and whole_number("6", 5) is None


def test_a_superscript_version_is_a_422_in_the_api_and_the_console(console_as, agent):
    filed = agent.post("/api/v1/records", json=record_body()).json()
    # (an If-Match header reaches the app decoded as Latin-1 and cannot carry "²" as such; it is read
    # by the same function all the same)
    refused = agent.patch(f"/api/v1/records/{filed['id']}", json={"subject": "x"}, headers={"If-Match": '"²"'.encode("utf-8")})
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_input", refused.text
    console = console_as(agent)
    page = console.post(f"/console/records/{filed['id']}/amend", {"version": "²", "subject": "x"})
    assert page.status_code == 422, page.text[:300]
