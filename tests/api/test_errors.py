"""Malformed and oversized input gets a clear problem response, never a 500, and changes nothing."""

from __future__ import annotations

import json

import pytest

from tests.conftest import record_body


def assert_problem(response, status, code=None):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:records:problem:")
    assert body["title"] and body["detail"]
    if code:
        assert body["code"] == code
    assert "Traceback" not in response.text
    return body


def count(agent):
    return len(agent.get("/api/v1/records?limit=200").json()["items"])


@pytest.mark.parametrize("raw", [b"{bad", b"", b"[1,2", b"\xff\xfe", b"null", b"[]", b'"text"', b"123"])
def test_malformed_json_bodies(agent, raw):
    response = agent.post("/api/v1/records", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422)
    assert_problem(response, response.status_code)
    assert count(agent) == 0


def test_validation_errors_name_each_field(agent):
    body = record_body(kind="letter", channel="fax")
    del body["subject"]
    body["customer"]["phone"] = "call me"
    problem = assert_problem(agent.post("/api/v1/records", json=body), 422, "validation_failed")
    fields = {e["field"] for e in problem["errors"]}
    assert {"kind", "channel", "subject", "customer.phone"} <= fields


def test_unknown_fields_are_refused_not_dropped(agent):
    problem = assert_problem(agent.post("/api/v1/records", json=record_body(priority="high")), 422)
    assert problem["errors"][0]["field"] == "priority"
    nested = assert_problem(
        agent.post("/api/v1/records", json=record_body(customer={"name": "A", "phone": "13800000000", "account": "1", "id_card": "x"})),
        422,
    )
    assert nested["errors"][0]["field"] == "customer.id_card"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "x" * 201),
        ("description", "x" * 20_001),
        ("subject", ""),
        ("subject", "   "),
        ("subject", "bell\x07"),
        ("customer", {"name": "A" * 201, "phone": "13800000000", "account": "1"}),
        ("customer", {"name": "A", "phone": "1" * 40, "account": "1"}),
        ("classification", ["a"] * 51),
        ("urgency", None),
        ("received_at", "not a time"),
    ],
)
def test_field_limits(agent, field, value):
    assert_problem(agent.post("/api/v1/records", json=record_body(**{field: value})), 422, "validation_failed")
    assert count(agent) == 0


def test_oversized_body_is_413(agent):
    body = json.dumps(record_body(description="x" * 2_000_000)).encode()
    assert_problem(agent.post("/api/v1/records", content=body, headers={"Content-Type": "application/json"}), 413, "payload_too_large")
    assert count(agent) == 0


def test_unknown_route_and_method(agent, filed):
    assert_problem(agent.get("/api/v1/nothing-here"), 404)
    assert_problem(agent.delete(f"/api/v1/records/{filed['id']}"), 405)


def test_deeply_nested_json_is_refused(agent):
    nested = "[" * 10_000 + "]" * 10_000
    response = agent.post("/api/v1/records", content=nested.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422)


def test_huge_numbers_and_wrong_types(agent, filed):
    url = f"/api/v1/records/{filed['id']}"
    for body in ({"feedback": {"satisfaction": 10**40}}, {"feedback": {"satisfaction": "5 stars"}}, {"urgency": 3}):
        assert_problem(agent.patch(url, json=body, headers={"If-Match": '"1"'}), 422)
    assert_problem(agent.patch(url, json={"subject": "x"}, headers={"If-Match": '"99999999999999999999"'}), 422)
    assert agent.get(url).json()["version"] == 1
