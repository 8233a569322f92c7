"""Service levels through the API: each file's deadlines, `?sla=`, limits from settings, breaches.

README "Service levels and metrics": clocks start at `received_at`; a deadline is met when the
file enters a stage that meets it; `breached` is true when met late or still open past due;
breaches are reported once each (audit event + `deadline_breached` lifecycle notification).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from records import hookimpl
from records.api.app import create_app
from records.errors import InvalidConfiguration
from records.plugins.manager import plugin_manager
from records.roles import Role
from records.settings import load_settings
from tests.conftest import RoleClient, record_body


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ago(**delta: float) -> str:
    return iso(datetime.now(UTC) - timedelta(**delta))


def deadlines(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in record["deadlines"]}


def file(who: RoleClient, kind: str = "complaint", **overrides: Any) -> dict[str, Any]:
    response = who.post("/api/v1/records", json=record_body(kind, **overrides))
    assert response.status_code == 201, response.text
    return response.json()


def move(who: RoleClient, record: dict[str, Any], to: str) -> dict[str, Any]:
    response = who.post(f"/api/v1/records/{record['id']}/transitions", json={"to": to})
    assert response.status_code == 200, response.text
    return response.json()


def ids(who: RoleClient, **params: str) -> set[str]:
    response = who.get("/api/v1/records", params={"limit": "200", **params})
    assert response.status_code == 200, response.text
    return {r["id"] for r in response.json()["items"]}


@contextlib.contextmanager
def service(settings, plugins=None) -> Iterator[tuple[Any, TestClient, Any]]:  # type: ignore[no-untyped-def]
    """An app on its own settings; ``login(role, name)`` gives a RoleClient."""
    app = create_app(settings, plugins=plugins)
    with TestClient(app, raise_server_exceptions=False) as client:
        def login(role: Role, name: str) -> RoleClient:
            with client.portal() as portal:
                token = portal.call(app.state.token_service.issue, name, str(role)).token
            return RoleClient(client, token, name, role)

        yield app, client, login


# --- deadlines on a file ------------------------------------------------------------------------


def test_a_filed_complaint_carries_its_deadlines(agent):
    record = file(agent, "complaint", urgency="urgent")
    received = parse(record["received_at"])
    found = deadlines(record)
    assert set(found) == {"response_major", "registration", "result_feedback"}
    for deadline in found.values():
        assert deadline["breached"] is False
        assert deadline["met_at"] is None
        assert deadline["title"]
        assert parse(deadline["due_at"]) > received
    assert parse(found["response_major"]["due_at"]) == received + timedelta(hours=1)
    assert found["response_major"]["calendar"] is None
    assert found["registration"]["calendar"] == "cn"
    assert found["result_feedback"]["calendar"] == "cn"
    assert found["registration"]["calendar_fallback"] is False


@pytest.mark.parametrize(
    ("kind", "overrides", "expected"),
    [
        ("consultation", {"urgency": "general"}, {"response_general"}),
        ("consultation", {"urgency": "urgent"}, {"response_urgent"}),
        ("consultation", {"urgency": "general", "complexity": "complex"}, {"response_urgent", "review_confirmation"}),
        ("consultation", {"urgency": "major"}, {"response_major", "major_processing", "major_completion"}),
        ("work_order", {"urgency": "general"}, {"response_general", "work_order_tracking", "result_feedback"}),
        ("complaint", {"urgency": "major"},
         {"response_major", "registration", "result_feedback", "major_processing", "major_completion"}),
        ("emergency", {"urgency": "major"}, {"emergency_processing"}),  # emergencies: no response limits
    ],
)
def test_which_deadlines_apply_follows_the_readme_table(agent, kind, overrides, expected):
    record = file(agent, kind, **overrides)
    assert set(deadlines(record)) == expected


def test_elapsed_limits_count_from_received_at(agent):
    received = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    cases = {
        ("consultation", "general"): ("response_general", timedelta(minutes=20)),
        ("consultation", "urgent"): ("response_urgent", timedelta(minutes=10)),
        ("work_order", "general"): ("work_order_tracking", timedelta(hours=24)),
        ("emergency", "urgent"): ("emergency_processing", timedelta(hours=12)),
        ("complaint", "major"): ("major_completion", timedelta(hours=72)),
    }
    for (kind, urgency), (name, limit) in cases.items():
        record = file(agent, kind, urgency=urgency, received_at=iso(received))
        assert parse(deadlines(record)[name]["due_at"]) == received + limit, (kind, name)


def test_registration_across_national_day_is_due_at_the_end_of_9_october(agent):
    record = file(agent, "complaint", received_at="2026-09-30T02:00:00Z")
    registration = deadlines(record)["registration"]
    assert parse(registration["due_at"]) == datetime(2026, 10, 9, 16, 0, tzinfo=UTC)
    assert registration["calendar"] == "cn" and registration["calendar_fallback"] is False
    assert registration["breached"] is True  # long past, never met


def test_entering_investigating_meets_response_and_registration(agent):
    record = file(agent, "complaint")
    moved = move(agent, record, "investigating")
    found = deadlines(moved)
    for name in ("response_major", "registration"):
        assert found[name]["met_at"] is not None, name
        assert parse(found[name]["met_at"]) >= parse(record["created_at"])
        assert found[name]["breached"] is False
    assert found["result_feedback"]["met_at"] is None
    # Read back: what the transition returned is what is stored.
    again = deadlines(agent.get(f"/api/v1/records/{record['id']}").json())
    assert again["registration"]["met_at"] == found["registration"]["met_at"]


def test_result_stage_meets_result_feedback_and_keeps_earlier_met_times(agent):
    record = file(agent, "complaint")
    investigating = move(agent, record, "investigating")
    met_before = deadlines(investigating)["response_major"]["met_at"]
    move(agent, record, "handling")
    current = agent.get(f"/api/v1/records/{record['id']}").json()
    patched = agent.patch(f"/api/v1/records/{record['id']}", json={"result": "Refunded."},
                          headers={"If-Match": f'"{current["version"]}"'})
    assert patched.status_code == 200, patched.text
    final = deadlines(move(agent, record, "feedback"))
    assert final["result_feedback"]["met_at"] is not None
    assert final["response_major"]["met_at"] == met_before  # met once, never moved again


def test_a_deadline_met_late_stays_breached(agent):
    record = file(agent, "complaint", received_at=ago(days=3))
    found = deadlines(move(agent, record, "investigating"))
    assert found["response_major"]["met_at"] is not None
    assert found["response_major"]["breached"] is True


# --- ?sla= ----------------------------------------------------------------------------------------


def test_a_complaint_received_days_ago_is_breached_not_due_soon(agent):
    late = file(agent, "complaint", received_at=ago(days=3))
    fresh = file(agent, "complaint")
    response_major = deadlines(late)["response_major"]
    assert response_major["breached"] is True and response_major["met_at"] is None
    assert deadlines(fresh)["response_major"]["breached"] is False
    breached = ids(agent, sla="breached")
    assert late["id"] in breached and fresh["id"] not in breached
    assert late["id"] not in ids(agent, sla="due_soon")


def test_sla_combines_with_other_filters(agent):
    late_complaint = file(agent, "complaint", received_at=ago(days=3))
    late_consultation = file(agent, "consultation", urgency="general", received_at=ago(days=3))
    assert ids(agent, sla="breached", kind="complaint") == {late_complaint["id"]}
    assert ids(agent, sla="breached", kind="consultation") == {late_consultation["id"]}


def test_a_file_met_in_time_is_not_breached(agent):
    record = file(agent, "consultation", urgency="general")
    move(agent, record, "accepted")
    assert record["id"] not in ids(agent, sla="breached")
    assert record["id"] not in ids(agent, sla="due_soon")  # met: no longer due


def test_due_soon_follows_the_window_setting(data_dir):
    settings = load_settings(data_dir=data_dir, due_soon_seconds=900)
    with service(settings) as (_, _, login):
        alice = login(Role.agent, "alice")
        urgent = file(alice, "consultation", urgency="urgent")  # due in 10 min: within 15
        general = file(alice, "consultation", urgency="general")  # due in 20 min: not yet
        late = file(alice, "consultation", urgency="urgent", received_at=ago(hours=1))  # past due
        soon = ids(alice, sla="due_soon")
        assert urgent["id"] in soon
        assert general["id"] not in soon
        assert late["id"] not in soon
        assert ids(alice, sla="breached") == {late["id"]}


@pytest.mark.parametrize("value", ["late", "BREACHED", ""])
def test_an_unknown_sla_value_is_a_problem_with_a_code(agent, value):
    response = agent.get("/api/v1/records", params={"sla": value})
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] in ("validation_failed", "bad_request", "invalid_input")


# --- amendment moves a file between policies ----------------------------------------------------


def test_amending_urgency_moves_a_consultation_to_the_urgent_limit(agent):
    record = file(agent, "consultation", urgency="general")
    received = parse(record["received_at"])
    assert set(deadlines(record)) == {"response_general"}
    response = agent.patch(f"/api/v1/records/{record['id']}", json={"urgency": "urgent"},
                           headers={"If-Match": f'"{record["version"]}"'})
    assert response.status_code == 200, response.text
    found = deadlines(response.json())
    assert set(found) == {"response_urgent"}
    assert parse(found["response_urgent"]["due_at"]) == received + timedelta(minutes=10)
    stored = agent.get(f"/api/v1/records/{record['id']}").json()
    assert set(deadlines(stored)) == {"response_urgent"}


def test_amending_urgency_to_major_adds_the_major_limits(agent):
    record = file(agent, "work_order", urgency="general")
    response = agent.patch(f"/api/v1/records/{record['id']}", json={"urgency": "major"},
                           headers={"If-Match": f'"{record["version"]}"'})
    assert response.status_code == 200, response.text
    assert set(deadlines(response.json())) == {
        "response_major", "work_order_tracking", "result_feedback", "major_processing", "major_completion"}


# --- limits from settings -------------------------------------------------------------------------


def test_a_limit_override_changes_the_due_time(data_dir):
    settings = load_settings(data_dir=data_dir, service_level_limits={"response_general": "PT10M", "result_feedback": "3wd"})
    with service(settings) as (_, _, login):
        alice = login(Role.agent, "alice")
        record = file(alice, "consultation", urgency="general")
        due = parse(deadlines(record)["response_general"]["due_at"])
        assert due == parse(record["received_at"]) + timedelta(minutes=10)
        levels = {p["name"]: p for p in alice.get("/api/v1/service-levels").json()["items"]}
        assert levels["response_general"]["limit_seconds"] == 600
        assert levels["result_feedback"]["working_days"] == 3
        assert levels["result_feedback"]["limit_seconds"] is None
        # 3 working days from 30 September 2026: 8, 9 and Saturday 10 October.
        complaint = file(alice, "complaint", received_at="2026-09-30T02:00:00Z")
        assert parse(deadlines(complaint)["result_feedback"]["due_at"]) == datetime(2026, 10, 10, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        ({"response_genral": "PT10M"}, "response_genral"),
        ({"response_general": "ten minutes"}, "ten minutes"),
        ({"response_general": "2 weeks"}, "response_general"),
    ],
)
def test_a_bad_limit_override_refuses_to_start(data_dir, limits, expected):
    import asyncio

    from records.installation import Installation

    settings = load_settings(data_dir=data_dir, service_level_limits=limits)

    async def run():
        installation = await Installation.open(settings)
        await installation.close()

    with pytest.raises(InvalidConfiguration) as caught:
        asyncio.run(run())
    assert expected in str(caught.value)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    yield exc
    for inner in getattr(exc, "exceptions", ()):
        yield from _causes(inner)


def test_a_bad_limit_override_from_the_environment_refuses_to_start(data_dir, monkeypatch):
    monkeypatch.setenv("RECORDS_SERVICE_LEVEL_LIMITS", '{"no_such_level": "PT1H"}')
    app = create_app(load_settings(data_dir=data_dir))
    with pytest.raises(BaseException) as caught, TestClient(app):
        pass
    refusals = [e for e in _causes(caught.value) if isinstance(e, InvalidConfiguration)]
    assert refusals and "no_such_level" in str(refusals[0])


# --- GET /api/v1/service-levels -------------------------------------------------------------------


def test_service_levels_are_listed(agent, plugin_manager):
    response = agent.get("/api/v1/service-levels")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["default_calendar"] == "cn"
    levels = {p["name"]: p for p in body["items"]}
    assert set(levels) == {
        "response_general", "response_urgent", "response_major", "registration", "work_order_tracking",
        "result_feedback", "major_processing", "major_completion", "review_confirmation", "emergency_processing",
        "delivery_feedback_response", "delivery_feedback_handling", "delivery_follow_up",
    }
    assert levels["response_general"]["limit_seconds"] == 20 * 60
    assert levels["response_urgent"]["limit_seconds"] == 10 * 60
    assert levels["response_major"]["limit_seconds"] == 3600
    assert levels["work_order_tracking"]["limit_seconds"] == 24 * 3600
    assert levels["major_processing"]["limit_seconds"] == 24 * 3600
    assert levels["major_completion"]["limit_seconds"] == 72 * 3600
    assert levels["review_confirmation"]["limit_seconds"] == 48 * 3600
    assert levels["emergency_processing"]["limit_seconds"] == 12 * 3600
    assert levels["registration"]["working_days"] == 2 and levels["registration"]["calendar"] == "cn"
    assert levels["registration"]["limit_seconds"] is None
    assert levels["result_feedback"]["working_days"] == 2
    assert levels["registration"]["met_on"] == ["investigating"]
    assert levels["registration"]["kinds"] == ["complaint"]
    assert levels["emergency_processing"]["kinds"] == ["emergency"] and levels["emergency_processing"]["met_on"] == ["feedback"]
    assert levels["response_general"]["conditional"] is True and levels["registration"]["conditional"] is False
    assert all(p["source"] for p in levels.values())
    # Every role may read the limits in force.
    assert plugin_manager.get("/api/v1/service-levels").status_code == 200


# --- breaches are reported once -------------------------------------------------------------------


class BreachWatcher:
    def __init__(self) -> None:
        self.events: list[Any] = []

    @hookimpl
    def records_lifecycle(self, event):
        self.events.append(event)


@pytest.fixture
def watched(settings):
    watcher = BreachWatcher()
    pm = plugin_manager()
    pm.register(watcher, name="breach-watcher")
    with service(settings, pm) as (app, client, login):
        yield app, client, login, watcher


def test_report_breaches_claims_each_breach_once_and_notifies(watched):
    app, client, login, watcher = watched
    alice = login(Role.agent, "alice")
    carl = login(Role.compliance_officer, "carl")
    late = file(alice, "complaint", received_at=ago(days=3))  # response, registration, result feedback all past due
    met_late = file(alice, "consultation", urgency="urgent", received_at=ago(hours=2))
    move(alice, met_late, "accepted")  # met, but late
    fresh = file(alice, "complaint")
    with client.portal() as portal:
        claims = portal.call(app.state.record_service.report_breaches)
        again = portal.call(app.state.record_service.report_breaches)
        portal.call(app.state.notifier.drain)
    claimed = {(c.record_id, c.name) for c in claims}
    assert claimed == {
        (late["id"], "response_major"), (late["id"], "registration"), (late["id"], "result_feedback"),
        (met_late["id"], "response_urgent"),
    }
    assert not any(c.record_id == fresh["id"] for c in claims)
    assert again == []

    # One audit event per breach, naming the record and the deadline.
    response = carl.get("/api/v1/audit/events", params={"action": "deadline.breached"})
    assert response.status_code == 200, response.text
    events = response.json()["items"]
    assert len(events) == 4
    assert {(e["targets"][0], e["targets"][1]) for e in events} == {
        (f"record:{r}", f"deadline:{n}") for r, n in claimed}
    assert all(e["action"] == "deadline.breached" for e in events)

    # One lifecycle notification per breach, with the deadline's name.
    breaches = [e for e in watcher.events if e.name == "deadline_breached"]
    assert sorted((e.record_id, e.detail["deadline"]) for e in breaches) == sorted(claimed)
    by_key = {(e.record_id, e.detail["deadline"]): e for e in breaches}
    late_event = by_key[(late["id"], "response_major")]
    assert late_event.reference == late["reference"] and late_event.kind == "complaint"
    assert parse(late_event.detail["due_at"]) == parse(deadlines(late)["response_major"]["due_at"])
    assert late_event.detail["met_at"] is None
    assert by_key[(met_late["id"], "response_urgent")].detail["met_at"] is not None


def test_a_breach_is_not_reported_again_after_the_file_changes(watched):
    app, client, login, watcher = watched
    alice = login(Role.agent, "alice")
    late = file(alice, "complaint", received_at=ago(days=3))
    with client.portal() as portal:
        first = portal.call(app.state.record_service.report_breaches)
    assert {c.name for c in first} == {"response_major", "registration", "result_feedback"}
    move(alice, late, "investigating")  # meets response and registration, late: already reported
    current = alice.get(f"/api/v1/records/{late['id']}").json()
    assert alice.patch(f"/api/v1/records/{late['id']}", json={"subject": "Still no signal"},
                       headers={"If-Match": f'"{current["version"]}"'}).status_code == 200
    with client.portal() as portal:
        assert portal.call(app.state.record_service.report_breaches) == []
        portal.call(app.state.notifier.drain)
    assert len([e for e in watcher.events if e.name == "deadline_breached"]) == 3


def test_a_new_deadline_after_amendment_is_reported_on_its_own(watched):
    app, client, login, _watcher = watched
    alice = login(Role.agent, "alice")
    record = file(alice, "consultation", urgency="general", received_at=ago(hours=2))
    with client.portal() as portal:
        assert [c.name for c in portal.call(app.state.record_service.report_breaches)] == ["response_general"]
    patched = alice.patch(f"/api/v1/records/{record['id']}", json={"urgency": "urgent"},
                          headers={"If-Match": f'"{record["version"]}"'})
    assert patched.status_code == 200, patched.text
    with client.portal() as portal:
        assert [c.name for c in portal.call(app.state.record_service.report_breaches)] == ["response_urgent"]


# --- limits given in settings are held to the same rules as a plugin's ----------------------------



@pytest.mark.parametrize("limit", ["PT0S", "-PT10M", "999wd"])
def test_an_out_of_range_limit_override_refuses_to_start(data_dir, limit):
    import asyncio

    from records.installation import Installation

    settings = load_settings(data_dir=data_dir, service_level_limits={"response_general": limit})

    async def run():
        installation = await Installation.open(settings)
        await installation.close()

    with pytest.raises(InvalidConfiguration, match="response_general"):
        asyncio.run(run())


# --- a policy that starts to apply after the stage that meets it was entered ---------------------



def test_regrading_a_file_that_already_responded_keeps_the_response_met(agent):
    record = file(agent, "consultation", urgency="general")
    accepted = move(agent, record, "accepted")
    assert deadlines(accepted)["response_general"]["met_at"] is not None
    response = agent.patch(f"/api/v1/records/{record['id']}", json={"urgency": "urgent"},
                           headers={"If-Match": f'"{accepted["version"]}"'})
    assert response.status_code == 200, response.text
    urgent = deadlines(response.json())["response_urgent"]
    assert urgent["met_at"] is not None  # it was answered when it entered `accepted`
    assert urgent["breached"] is False
