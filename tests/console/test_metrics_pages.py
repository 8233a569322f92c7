"""The metrics dashboard over plain HTTP: the API's figures against their targets, charts served
from the console, the files whose deadlines are breached or due soon, and its refusals."""

from __future__ import annotations

import re

from records.roles import Role
from tests.conftest import record_body


def test_the_dashboard_shows_each_metric_against_its_target(console_as, agent):
    for rating in (5, 4, 2):
        record = agent.post("/api/v1/records", json=record_body("consultation")).json()
        agent.patch(f"/api/v1/records/{record['id']}", json={"result": "Answered.", "feedback": {"satisfaction": rating}},
                    headers={"If-Match": f'"{record["version"]}"'})
    api = agent.get("/api/v1/metrics/satisfaction_rate", params={"from": "2020-01-01", "to": "2100-01-01"}).json()
    console = console_as(Role.supervisor, "sam")
    page = console.get("/console/metrics/", params={"from": "2020-01-01", "to": "2100-01-01"})
    assert page.status_code == 200, page.text
    row = re.search(r'<tr id="metric-satisfaction_rate">(.*?)</tr>', page.text, re.DOTALL).group(1)
    assert "Customer satisfaction rate" in row
    assert f"{api['total']['value']:.1%}" in row and "2 / 3" in row  # what the API says, 2 of 3 rated 4-5
    assert "≥ 90.0%" in row and "≥ 85.0% (SPEC §4.1, §5.2)" in row and "not met" in row
    assert 'id="metric-service_availability"' in page.text  # every metric, availability included
    chart = console.get("/console/metrics/satisfaction_rate/chart.svg", params={"from": "2020-01-01", "to": "2100-01-01"})
    assert chart.status_code == 200 and chart.headers["content-type"].startswith("image/svg+xml")
    assert "<script" not in chart.text and "Customer satisfaction rate" in chart.text


def test_the_dashboard_speaks_chinese(console_as):
    console = console_as(Role.archivist, "ada")
    console.get("/console/language", params={"lang": "zh_CN", "next": "/console/metrics/"})  # the switch
    page = console.get("/console/metrics/")
    assert page.status_code == 200
    assert "评价指标" in page.text and "客户满意度" in page.text
    chart = console.get("/console/metrics/satisfaction_rate/chart.svg")
    assert "客户满意度" in chart.text and "目标" in chart.text


def test_breached_and_due_soon_files_are_listed(console_as, agent):
    late = agent.post("/api/v1/records", json=record_body("consultation", urgency="general",
                                                          received_at="2026-01-05T08:00:00Z")).json()
    console = console_as(Role.agent, "alice-console")
    full = console.get("/console/metrics/deadlines")
    assert full.status_code == 200 and "<html" in full.text
    assert late["reference"] in full.text and "Response, general consultation" in full.text
    fragment = console.get("/console/metrics/deadlines", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text and late["reference"] in fragment.text


def test_a_bad_period_is_a_clear_message(console_as):
    console = console_as(Role.supervisor, "sam")
    for params in ({"from": "2026-13-01"}, {"from": "2026-02-01", "to": "2026-01-01"}):
        page = console.get("/console/metrics/", params=params)
        assert page.status_code == 422, params
        assert 'role="alert"' in page.text and "Traceback" not in page.text
    assert console.get("/console/metrics/", params={"group_by": "year"}).status_code in (400, 422)
    assert console.get("/console/metrics/no_such_metric/chart.svg").status_code == 404


def test_who_may_see_metrics(console_as, client):
    assert console_as(Role.plugin_manager, "pat").get("/console/metrics/").status_code == 403
    assert "/console/metrics/" not in console_as(Role.plugin_manager, "pat2").get("/console/").text
    assert 'href="/console/metrics/"' in console_as(Role.compliance_officer, "cora").get("/console/").text
    assert client.get("/console/metrics/", follow_redirects=False).status_code == 303  # no session: sign in


def test_a_masked_role_downloads_an_attachment_only_with_a_purpose(console_as, agent, compliance_officer):
    """Issue 14 finding 6 on the console: as in the API, bytes reach a masked role only for a
    stated purpose, and that read is audited as a reveal."""
    record = agent.post("/api/v1/records", json=record_body()).json()
    attachment = agent.post(f"/api/v1/records/{record['id']}/attachments",
                            files={"file": ("invoice.txt", b"invoice 13812345678", "text/plain")}).json()
    url = f"/console/records/{record['id']}/attachments/{attachment['id']}"
    archivist = console_as(Role.archivist, "ada-dl")
    page = archivist.get(f"/console/records/{record['id']}")
    assert 'name="purpose"' in page.text  # the page asks for one
    refused = archivist.get(url)
    assert refused.status_code == 422 and b"invoice" not in refused.content
    allowed = archivist.get(url, params={"purpose": "billing dispute CP-1"})
    assert allowed.status_code == 200 and allowed.content == b"invoice 13812345678"
    reveals = compliance_officer.get("/api/v1/audit/events", params={"action": "attachment.reveal"}).json()["items"]
    assert any(e["actor"] == "ada-dl" and e.get("purpose") == "billing dispute CP-1" for e in reveals), reveals
    assert console_as(Role.agent, "al-dl").get(url).status_code == 200  # agents see customers in clear
