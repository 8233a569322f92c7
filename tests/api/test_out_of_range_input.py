"""Out-of-range input is a 4xx problem, never a 500: odd cursors, times at the ends of the
calendar, crafted record cursors."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from records.models import RecordQuery
from records.services.record_cursors import query_fingerprint
from tests.conftest import record_body
from tests.helpers.in_process import assert_problem

# --- out-of-range input is 4xx, never 500 ----------------------------------------------------------


@pytest.mark.parametrize("cursor", ["99999999999999999999", "%C2%B2"])
def test_odd_audit_cursors_are_invalid_cursor(compliance_officer, cursor):
    assert_problem(compliance_officer.get(f"/api/v1/audit/events?cursor={cursor}"), 400, "invalid_cursor")


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_audit_times_at_the_ends_of_the_calendar_are_422(compliance_officer, since):
    assert_problem(compliance_officer.get("/api/v1/audit/events", params={"since": since}), 422)


def test_a_record_filter_at_the_start_of_the_calendar_is_422(agent):
    assert_problem(agent.get("/api/v1/records?created_from=0001-01-01T00:00:00%2B05:00"), 422)


def test_a_received_at_in_the_year_500_is_422(agent):
    assert_problem(agent.post("/api/v1/records", json=record_body(received_at="0500-01-01T00:00:00Z")), 422)


def _records_cursor(t: str, i: str) -> str:
    fingerprint = query_fingerprint(RecordQuery())
    raw = json.dumps({"t": t, "i": i, "q": fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize("t", ["0001-01-01T00:00:00+05:00", "0001-01-01T00:00:00.000000Z"])
def test_a_crafted_records_cursor_in_the_year_1_is_refused(agent, filed, t):
    # The crafted cursor carries the right fingerprint: one in a sane year is accepted.
    control = agent.get(f"/api/v1/records?cursor={quote(_records_cursor('2999-01-01T00:00:00.000000Z', 'z'))}")
    assert control.status_code == 200, control.text
    assert [r["id"] for r in control.json()["items"]] == [filed["id"]]
    response = agent.get(f"/api/v1/records?cursor={quote(_records_cursor(t, filed['id']))}")
    assert response.status_code in (400, 422), response.text
    assert_problem(response, response.status_code)
