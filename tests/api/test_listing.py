"""Listing records: filters, cursor pagination, stable order, page-size cap."""

from __future__ import annotations

import pytest

from tests.conftest import record_body


@pytest.fixture
def mixed(agent, other_agent):
    """Eight files of different kinds, channels, urgencies, owners and contact times."""
    specs = [
        (agent, record_body("complaint", channel="phone", urgency="major", received_at="2026-03-01T08:00:00Z",
                            classification=["content:fault_handling.equipment_fault"])),
        (agent, record_body("consultation", channel="online_chat", urgency="general", received_at="2026-03-02T08:00:00Z")),
        (agent, record_body("work_order", channel="app_web", urgency="urgent", received_at="2026-03-03T08:00:00Z",
                            classification=["content:fault_handling.equipment_fault", "content:customer_service.suggestion"])),
        (other_agent, record_body("emergency", channel="phone", urgency="major", received_at="2026-03-04T08:00:00Z")),
        (other_agent, record_body("complaint", channel="social_media", urgency="urgent", received_at="2026-03-05T08:00:00Z")),
        (other_agent, record_body("consultation", channel="phone", urgency="general", received_at="2026-03-06T08:00:00Z",
                                  classification=["content:customer_service.suggestion"])),
        (agent, record_body("complaint", channel="business_hall", urgency="general", received_at="2026-03-07T08:00:00Z")),
        (agent, record_body("work_order", channel="smart_voice", urgency="major", received_at="2026-03-08T08:00:00Z")),
    ]
    filed = []
    for who, body in specs:
        response = who.post("/api/v1/records", json=body)
        assert response.status_code == 201, response.text
        filed.append(response.json())
    return filed


def ids(response):
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["items"]]


def test_newest_first_without_filters(agent, mixed):
    assert ids(agent.get("/api/v1/records")) == [r["id"] for r in reversed(mixed)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=complaint", [0, 4, 6]),
        ("channel=phone", [0, 3, 5]),
        ("urgency=major", [0, 3, 7]),
        ("owner=bob", [3, 4, 5]),
        ("classification=content:fault_handling.equipment_fault", [0, 2]),
        ("classification=content:customer_service.suggestion", [2, 5]),
        ("kind=complaint&owner=alice", [0, 6]),
        ("kind=consultation&urgency=general&channel=phone", [5]),
        ("received_from=2026-03-03T00:00:00Z&received_to=2026-03-06T00:00:00Z", [2, 3, 4]),
        ("received_from=2026-03-03T08:00:00%2B00:00&received_to=2026-03-03T08:00:00.000001Z", [2]),
        ("status=received&kind=emergency", [3]),
        # A code with a received range, a created range or other filters reads the code's own rows.
        ("classification=content:fault_handling.equipment_fault&received_from=2026-03-02T00:00:00Z", [2]),
        ("classification=content:customer_service.suggestion&received_to=2026-03-04T00:00:00Z", [2]),
        ("classification=content:customer_service.suggestion&received_from=2026-03-01T00:00:00Z"
         "&received_to=2026-04-01T00:00:00Z&kind=consultation", [5]),
        ("classification=content:fault_handling.equipment_fault&kind=complaint&owner=alice", [0]),
        ("classification=content:fault_handling.equipment_fault&received_from=2026-03-09T00:00:00Z", []),
        ("kind=complaint&received_from=2026-03-02T00:00:00Z&received_to=2026-03-07T00:00:00Z", [4]),
        ("status=closed", []),
    ],
)
def test_filters(agent, mixed, query, expected):
    found = ids(agent.get(f"/api/v1/records?{query}"))
    assert sorted(found) == sorted(mixed[i]["id"] for i in expected)


def test_reference_and_created_range(agent, mixed):
    target = mixed[3]
    assert ids(agent.get(f"/api/v1/records?reference={target['reference']}")) == [target["id"]]
    created = target["created_at"]
    later = ids(agent.get("/api/v1/records", params={"created_from": created}))
    assert later == [r["id"] for r in reversed(mixed[3:])]
    earlier = ids(agent.get("/api/v1/records", params={"created_to": created}))
    assert earlier == [r["id"] for r in reversed(mixed[:3])]


def test_cursor_pagination_visits_every_record_once_in_order(agent, mixed):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = agent.get("/api/v1/records", params=params).json()
        assert len(page["items"]) <= 3
        seen += [r["id"] for r in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [r["id"] for r in reversed(mixed)]


def test_pages_stay_stable_while_new_records_arrive(agent, mixed):
    first = agent.get("/api/v1/records", params={"limit": 4}).json()
    agent.post("/api/v1/records", json=record_body())  # newer than everything: must not shift page two
    second = agent.get("/api/v1/records", params={"limit": 4, "cursor": first["next_cursor"]}).json()
    assert [r["id"] for r in second["items"]] == [r["id"] for r in reversed(mixed[:4])]


def test_filtered_pagination_keeps_filters(agent, mixed):
    page = agent.get("/api/v1/records", params={"kind": "complaint", "limit": 2}).json()
    rest = agent.get("/api/v1/records", params={"kind": "complaint", "limit": 2, "cursor": page["next_cursor"]}).json()
    assert [r["id"] for r in page["items"] + rest["items"]] == [mixed[6]["id"], mixed[4]["id"], mixed[0]["id"]]
    assert rest["next_cursor"] is None
    # A cursor from one query is refused by another, rather than silently skipping records.
    other = agent.get("/api/v1/records", params={"kind": "emergency", "cursor": page["next_cursor"]})
    assert other.status_code == 400
    assert other.json()["code"] == "invalid_cursor"


@pytest.mark.parametrize("received", [{}, {"received_from": "2026-03-01T00:00:00Z", "received_to": "2026-04-01T00:00:00Z"}])
def test_pages_by_code_visit_its_files_once_newest_first(agent, mixed, received):
    code = {"classification": "content:customer_service.suggestion"}
    body = record_body(received_at="2026-03-09T08:00:00Z", classification=[code["classification"]])
    extra = agent.post("/api/v1/records", json=body).json()
    seen, cursor = [], None
    while True:
        page = agent.get("/api/v1/records", params={**code, **received, "limit": 1, **({"cursor": cursor} if cursor else {})})
        seen += ids(page)
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == [extra["id"], mixed[5]["id"], mixed[2]["id"]]


@pytest.mark.parametrize("cursor", ["garbage", "eyJ0IjoxfQ", "%%%", "a" * 600])
def test_bad_cursors_are_client_errors(agent, mixed, cursor):
    response = agent.get("/api/v1/records", params={"cursor": cursor})
    assert response.status_code in (400, 422)
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("limit", ["0", "-1", "201", "abc", "99999999999999999999"])
def test_page_size_is_capped(agent, mixed, limit):
    response = agent.get(f"/api/v1/records?limit={limit}")
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_largest_page_allowed(agent, mixed):
    assert len(ids(agent.get("/api/v1/records?limit=200"))) == 8


@pytest.mark.parametrize(
    "query",
    ["kind=letter", "channel=fax", "urgency=whenever", "created_from=yesterday", "received_to=2026-13-01", "owner=" + "x" * 65],
)
def test_invalid_filters_name_the_parameter(agent, query):
    response = agent.get(f"/api/v1/records?{query}")
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_failed"
    assert query.split("=")[0] in body["detail"]
