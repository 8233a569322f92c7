"""A JSON route takes its body only under a JSON Content-Type: any other (or none) is 415, so a
page elsewhere cannot file a record by a text/plain or form post."""

from __future__ import annotations

import json

import pytest

from tests.conftest import RoleClient, record_body
from tests.retention.setup import RETENTION

# --- JSON bodies only under a JSON Content-Type --------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                          "application/xml", None])
def test_a_json_body_under_another_content_type_is_415(agent: RoleClient, content_type):
    # A page on any site can make a browser post text/plain or a form without a preflight.
    headers = {"Content-Type": content_type} if content_type else {}  # bytes alone: httpx sends no type
    response = agent.post("/api/v1/records", content=json.dumps(record_body()).encode(), headers=headers)
    assert response.status_code == 415, response.text
    assert response.json()["code"] == "unsupported_media_type"
    assert agent.get("/api/v1/records").json()["items"] == []  # nothing was filed


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON",
                                          "application/merge-patch+json"])
def test_json_in_any_of_its_spellings_is_accepted(agent: RoleClient, content_type):
    response = agent.post("/api/v1/records", content=json.dumps(record_body()).encode(), headers={"Content-Type": content_type})
    assert response.status_code == 201, response.text


def test_every_json_route_refuses_other_types(admin: RoleClient, filed):
    for method, url in [("PATCH", f"/api/v1/records/{filed['id']}"), ("POST", f"/api/v1/records/{filed['id']}/notes"),
                        ("POST", f"/api/v1/records/{filed['id']}/transitions"), ("POST", "/api/v1/tokens"),
                        ("POST", f"{RETENTION}/schedules"), ("POST", f"{RETENTION}/holds"), ("POST", f"{RETENTION}/sweeps")]:
        response = admin.request(method, url, content=b'{"text": "x"}', headers={"Content-Type": "text/plain", "If-Match": '"1"'})
        assert response.status_code == 415, (method, url, response.text)
