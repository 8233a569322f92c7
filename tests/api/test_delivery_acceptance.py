"""Delivery acceptance (SPEC §4.2-§4.4) and the §4.1 figures computed from the files.

A work order of a delivering service type goes processing → delivery preparation → acceptance
test → passed (with the customer's signed confirmation) or failed (with the reason) →
rectification → a new delivery; §4.3's feedback limits start when the test passes and §4.4's
follow-up when the feedback is given. Availability comes from emergency files' outages, the
service error rate from handled files whose handler recorded a service failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from records import clock as clock_module
from records.api.app import create_app
from records.errors import InvalidConfiguration
from records.roles import Role
from records.settings import load_settings
from tests.conftest import RoleClient, record_body


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Iterator[Clock]:
    c = Clock(datetime(2026, 11, 2, 9, tzinfo=UTC))  # a Monday, a working day
    clock_module.set_clock(lambda: c.now)
    try:
        yield c
    finally:
        clock_module.set_clock(None)


def move(who: RoleClient, record_id: str, to: str, **extra: Any):  # type: ignore[no-untyped-def]
    return who.post(f"/api/v1/records/{record_id}/transitions", json={"to": to, **extra})


def moved(who: RoleClient, record_id: str, to: str, **extra: Any) -> dict[str, Any]:
    response = move(who, record_id, to, **extra)
    assert response.status_code == 200, response.text
    return response.json()


def patch(who: RoleClient, record_id: str, body: dict[str, Any]):  # type: ignore[no-untyped-def]
    version = who.get(f"/api/v1/records/{record_id}").json()["version"]
    return who.patch(f"/api/v1/records/{record_id}", json=body, headers={"If-Match": f'"{version}"'})


def patched(who: RoleClient, record_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = patch(who, record_id, body)
    assert response.status_code == 200, response.text
    return response.json()


def work_order(agent: RoleClient, service_type: str = "network") -> dict[str, Any]:
    response = agent.post("/api/v1/records", json=record_body(
        "work_order", service_type=service_type, subject="Broadband installation", urgency="general"))
    assert response.status_code == 201, response.text
    return response.json()


def deadline(record: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((d for d in record["deadlines"] if d["name"] == name), None)


def test_a_delivery_fails_its_acceptance_then_passes_with_its_deadlines(clock, agent, archivist):
    order = work_order(agent)
    rid = order["id"]
    moved(agent, rid, "processing")
    # A delivering work order cannot skip its acceptance (§4.2).
    skipped = move(agent, rid, "processed")
    assert skipped.status_code == 422 and "acceptance test" in skipped.json()["detail"]
    moved(agent, rid, "delivery_preparation")
    moved(agent, rid, "acceptance_test")
    # Failing needs the reason (§4.2.3 "说明原因"), passing needs the customer's confirmation.
    no_reason = move(agent, rid, "delivery_failed")
    assert no_reason.status_code == 422 and no_reason.json()["code"] == "transition_refused"
    unsigned = move(agent, rid, "delivery_passed")
    assert unsigned.status_code == 422 and "confirmation" in unsigned.json()["detail"]
    clock.advance(hours=2)
    failed = moved(agent, rid, "delivery_failed", note="Router would not sync: line noise on the drop cable")
    assert failed["delivery"] == {"failed_attempts": 1, "accepted_at": None, "confirmation": None}
    reason = failed["timeline"][-1]["detail"]["note_id"]
    assert next(n for n in failed["notes"] if n["id"] == reason)["text"].startswith("Router would not sync")
    # A confirmation is recorded only during an acceptance test.
    early = patch(agent, rid, {"delivery_confirmation": {"reference": "SIGN-2026-0042"}})
    assert early.status_code == 422 and "acceptance test" in early.json()["detail"]
    moved(agent, rid, "rectification")
    moved(agent, rid, "delivery_preparation")
    moved(agent, rid, "acceptance_test")
    clock.advance(hours=1)
    signed = patched(agent, rid, {"delivery_confirmation": {"reference": "SIGN-2026-0042"}})
    assert signed["delivery"]["confirmation"]["reference"] == "SIGN-2026-0042"
    assert signed["delivery"]["confirmation"]["recorded_by"] == "alice"
    assert deadline(signed, "delivery_feedback_response") is None  # the §4.3 clock has not started
    passed = moved(agent, rid, "delivery_passed")
    accepted_at = datetime.fromisoformat(passed["delivery"]["accepted_at"])
    assert accepted_at == clock.now and passed["delivery"]["failed_attempts"] == 1
    # Both attempts are on the timeline.
    tests = [e for e in passed["timeline"] if e["event"] == "transitioned" and e["detail"]["to"] == "acceptance_test"]
    assert len(tests) == 2
    response = deadline(passed, "delivery_feedback_response")
    handling = deadline(passed, "delivery_feedback_handling")
    assert datetime.fromisoformat(response["due_at"]) == accepted_at + timedelta(hours=24)
    assert datetime.fromisoformat(handling["due_at"]) == accepted_at + timedelta(hours=72)
    clock.advance(hours=5)
    patched(agent, rid, {"result": "Installed and synced at 300 Mbit/s."})
    processed = moved(agent, rid, "processed")
    assert deadline(processed, "delivery_feedback_response")["met_at"] is not None
    clock.advance(hours=80)  # handled after 72 h: late
    patched(agent, rid, {"feedback": {"satisfaction": 5}})
    given = moved(agent, rid, "feedback_given")
    handled = deadline(given, "delivery_feedback_handling")
    assert handled["met_at"] > handled["due_at"]
    follow_up = deadline(given, "delivery_follow_up")
    assert follow_up is not None and follow_up["calendar"] == "cn" and follow_up["met_at"] is None
    # §4.4: a delivered work order is followed up before it is archived.
    early_archive = move(archivist, rid, "archived")
    assert early_archive.status_code == 422 and "followed up" in early_archive.json()["detail"]
    moved(agent, rid, "followed_up")
    archived = moved(archivist, rid, "archived")
    assert deadline(archived, "delivery_follow_up")["met_at"] is not None


def test_a_work_order_that_delivers_nothing_keeps_the_short_path(agent, archivist):
    order = work_order(agent, service_type="billing")
    rid = order["id"]
    moved(agent, rid, "processing")
    refused = move(agent, rid, "delivery_preparation")
    assert refused.status_code == 422 and "delivering service type" in refused.json()["detail"]
    patched(agent, rid, {"result": "Plan changed from next month."})
    moved(agent, rid, "processed")
    patched(agent, rid, {"feedback": {"satisfaction": 4}})
    given = moved(agent, rid, "feedback_given")
    assert given["delivery"] is None and deadline(given, "delivery_follow_up") is None
    assert move(agent, rid, "followed_up").status_code == 422
    moved(archivist, rid, "archived")


def test_delivery_fields_are_checked(agent):
    consultation = agent.post("/api/v1/records", json=record_body("consultation")).json()
    wrong_kind = patch(agent, consultation["id"], {"delivery_confirmation": {"reference": "SIGN-1"}})
    assert wrong_kind.status_code == 422 and "work_order" in wrong_kind.text
    order = work_order(agent)
    for bad in ({"reference": ""}, {"reference": "signed by 张三 at home"}, {"reference": "S-1", "confirmed_at": "yesterday"},
                {"reference": "S-1", "extra": 1}):
        response = patch(agent, order["id"], {"delivery_confirmation": bad})
        assert response.status_code in (400, 422), (bad, response.text)
        assert "张三" not in response.text
    assert agent.get(f"/api/v1/records/{order['id']}").json()["version"] == order["version"]


def running_agent(client: TestClient, app) -> RoleClient:  # type: ignore[no-untyped-def]
    with client.portal() as portal:
        token = portal.call(app.state.token_service.issue, "alice", "agent").token
    return RoleClient(client, token, "alice", Role.agent)


def test_which_service_types_deliver_is_a_plugin_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("RECORDS_PLUGIN_SETTINGS", '{"telecom": {"delivering_service_types": ["billing"]}}')
    app = create_app(load_settings(data_dir=tmp_path / "data"))
    with TestClient(app, raise_server_exceptions=False) as client:
        agent = running_agent(client, app)
        billing = work_order(agent, service_type="billing")
        moved(agent, billing["id"], "processing")
        moved(agent, billing["id"], "delivery_preparation")
        network = work_order(agent, service_type="network")
        moved(agent, network["id"], "processing")
        assert move(agent, network["id"], "delivery_preparation").status_code == 422
    monkeypatch.setenv("RECORDS_PLUGIN_SETTINGS", '{"telecom": {"delivering_service_types": ["fibre"]}}')
    with pytest.raises(ExceptionGroup) as caught:  # the server does not start
        with TestClient(create_app(load_settings(data_dir=tmp_path / "other"))):
            pass
    assert caught.group_contains(InvalidConfiguration, match="delivering_service_types: known service types are network")


# --- the §4.1 figures and the §4.2/§4.3 metrics, from files with known values -----------------------


def outage(agent: RoleClient, start: str, end: str | None, service: str) -> None:
    incident = {"started_at": start, "service_type": service, "customers_affected": 120, "affected_area": "Xuhui"}
    if end is not None:
        incident["ended_at"] = end
    response = agent.post("/api/v1/records", json=record_body(
        "emergency", subject="Outage", urgency="urgent", received_at=start, incident=incident))
    assert response.status_code == 201, response.text


def metric(who: RoleClient, name: str, **params: str) -> dict[str, Any]:
    response = who.get(f"/api/v1/metrics/{name}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_service_availability_is_computed_from_emergency_files(clock, agent):
    outage(agent, "2026-11-01T10:00:00Z", "2026-11-01T10:30:00Z", "network")
    outage(agent, "2026-11-01T10:15:00Z", "2026-11-01T10:45:00Z", "voice")  # overlaps: counted once overall
    outage(agent, "2026-11-01T23:50:00Z", None, "network")  # still down at 09:00 on the 2nd
    day = {"from": "2026-11-01", "to": "2026-11-02"}
    overall = metric(agent, "service_availability", **day)
    assert overall["total"]["denominator"] == 1440
    assert overall["total"]["numerator"] == pytest.approx(1440 - 45 - 10)
    assert overall["target"]["value"] == pytest.approx(0.999) and overall["meets_target"] is False
    assert metric(agent, "service_availability", service_type="network", **day)["total"]["numerator"] == pytest.approx(1400)
    assert metric(agent, "service_availability", service_type="voice", **day)["total"]["numerator"] == pytest.approx(1410)
    # By day: the 2nd has run for nine hours so far, all of them down.
    days = metric(agent, "service_availability", group_by="day", **{"from": "2026-11-01", "to": "2026-11-04"})
    assert [(b["period"], b["denominator"], round(b["numerator"])) for b in days["values"]] == [
        ("2026-11-01", 1440, 1385), ("2026-11-02", 540, 0)]
    # It is over a period, from emergency files: these questions have no answer.
    for params in ({}, {"from": "2026-11-01", "channel": "phone"}, {"from": "2026-11-01", "kind": "complaint"}):
        refused = agent.get("/api/v1/metrics/service_availability", params=params)
        assert refused.status_code == 422, (params, refused.text)
    assert agent.get("/api/v1/metrics/complaint_rate", params={"service_type": "network"}).status_code == 422
    bad = agent.post("/api/v1/records", json=record_body("emergency", incident={
        "started_at": "2026-11-01T10:00:00Z", "ended_at": "2026-11-01T09:00:00Z"}))
    assert bad.status_code == 422 and "ended_at" in bad.text


def test_service_error_rate_counts_failures_the_handlers_recorded(agent):
    for failed in (True, False, None, False):
        record = agent.post("/api/v1/records", json=record_body("consultation")).json()
        body: dict[str, Any] = {"result": "Answered."}
        if failed is not None:
            body["service_failed"] = failed
        assert patched(agent, record["id"], body)["service_failed"] is failed
    unhandled = agent.post("/api/v1/records", json=record_body("consultation")).json()
    patched(agent, unhandled["id"], {"service_failed": True})  # no result yet: not in the denominator
    rate = metric(agent, "service_error_rate")
    assert (rate["total"]["numerator"], rate["total"]["denominator"]) == (1, 4)
    assert rate["target"] == {"comparison": "<=", "value": 0.001, "source": "SPEC §4.1"} and rate["meets_target"] is False


def deliver(clock: Clock, agent: RoleClient, failures: int, feedback_after_hours: float) -> None:
    rid = work_order(agent)["id"]
    moved(agent, rid, "processing")
    for attempt in range(failures + 1):
        moved(agent, rid, "delivery_preparation")
        moved(agent, rid, "acceptance_test")
        if attempt < failures:
            moved(agent, rid, "delivery_failed", note="Signal below the contracted level")
            moved(agent, rid, "rectification")
    patched(agent, rid, {"delivery_confirmation": {"reference": f"SIGN-{rid[:8]}"}})
    moved(agent, rid, "delivery_passed")
    patched(agent, rid, {"result": "Delivered."})
    moved(agent, rid, "processed")
    clock.advance(hours=feedback_after_hours)
    patched(agent, rid, {"feedback": {"satisfaction": 4}})
    moved(agent, rid, "feedback_given")


def test_first_time_acceptance_and_feedback_after_delivery_on_time(clock, agent):
    deliver(clock, agent, failures=0, feedback_after_hours=10)  # both §4.3 deadlines on time
    deliver(clock, agent, failures=2, feedback_after_hours=100)  # answered on time, handled late
    first = metric(agent, "first_time_acceptance")
    assert (first["total"]["numerator"], first["total"]["denominator"]) == (1, 2)
    on_time = metric(agent, "delivery_feedback_on_time")
    assert (on_time["total"]["numerator"], on_time["total"]["denominator"]) == (3, 4)


def test_a_metric_target_is_one_setting_away(tmp_path, monkeypatch):
    monkeypatch.setenv("RECORDS_METRIC_TARGETS", '{"satisfaction_rate": ">= 85%"}')
    app = create_app(load_settings(data_dir=tmp_path / "data"))
    with TestClient(app, raise_server_exceptions=False) as client:
        agent = running_agent(client, app)
        items = {m["name"]: m for m in agent.get("/api/v1/metrics").json()["items"]}
    satisfaction = items["satisfaction_rate"]
    assert satisfaction["target"] == {"comparison": ">=", "value": 0.85, "source": "SPEC §4.1, §5.2"}
    assert satisfaction["alternatives"] == [{"comparison": ">=", "value": 0.9, "source": "SPEC §1.3"}]
    for bad, message in (('{"no_such_metric": ">= 1%"}', "no_such_metric"), ('{"satisfaction_rate": "high"}', "not a target"),
                         ('{"processing_time": "< 5"}', "no rate target")):
        monkeypatch.setenv("RECORDS_METRIC_TARGETS", bad)
        with pytest.raises(ExceptionGroup) as caught:
            with TestClient(create_app(load_settings(data_dir=tmp_path / "other"))):
                pass
        assert caught.group_contains(InvalidConfiguration, match=message), bad
