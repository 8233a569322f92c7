"""Evaluation metrics against a hand-computed dataset (README "Service levels and metrics").

Six files are filed through the API with `received_at` in September and October 2026, moved and
amended so that every built-in metric of `records_telecom.metrics` has a known numerator and
denominator. Elapsed limits some files must meet on time are stretched with
`service_level_limits` (400 days), so the dataset does not depend on when the test runs; the
others (1 h, 10 min, 24 h, 12 h) are long past.

    file  kind          channel  urgency  received (UTC)          owner at the end   result  rating
    R1    consultation  phone    general  2026-09-07 Mon 02:00    alice              yes     5
    R2    consultation  app_web  urgent   2026-09-13 Sun 20:00    alice              no      3
    R3    complaint     phone    general  2026-09-15 Tue 03:00    bob (reassigned)   yes     4
    R4    complaint     app_web  major    2026-10-05 Mon 01:00    alice              no      2
    R5    work_order    phone    general  2026-10-20 Tue 08:00    alice              yes     5
    R6    emergency     phone    urgent   2026-10-31 Sat 23:30    alice              no      -

Deadlines (response_general, result_feedback, major_completion stretched to 400 days):
    R1 response_general met on time (accepted)
    R2 response_urgent met late (accepted)
    R3 response_major, registration met late (investigating); result_feedback met on time (feedback)
    R4 response_major, registration, major_processing past due; result_feedback, major_completion open
    R5 response_general met on time (processing), work_order_tracking late; result_feedback on time (processed)
    R6 emergency_processing past due
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import TestClient

from records import hookimpl
from records.api.app import create_app
from records.metrics import Criteria, Metric, Target
from records.models import Kind
from records.plugins.manager import plugin_manager
from records.roles import Role
from records.settings import load_settings
from tests.conftest import RoleClient, record_body

STRETCHED = {"response_general": "P400D", "result_feedback": "P400D", "major_completion": "P400D"}
BUILT_IN = {"satisfaction_rate", "complaint_rate", "response_within_limit", "on_time_completion", "completion_rate",
            "first_contact_resolution", "processing_time", "complaint_satisfaction", "service_availability", "service_error_rate",
            "first_time_acceptance", "delivery_feedback_on_time"}


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


class Dataset:
    def __init__(self, app, client: TestClient, users: dict[str, RoleClient], records: dict[str, dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
        self.app, self.client, self.users, self.records = app, client, users, records

    def metric(self, name: str, who: str = "alice", **params: str) -> dict[str, Any]:
        response = self.users[who].get(f"/api/v1/metrics/{name}", params=params)
        assert response.status_code == 200, response.text
        return response.json()


def _patch(who: RoleClient, record: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    current = who.get(f"/api/v1/records/{record['id']}").json()
    response = who.patch(f"/api/v1/records/{record['id']}", json=body, headers={"If-Match": f'"{current["version"]}"'})
    assert response.status_code == 200, response.text
    return response.json()


def _move(who: RoleClient, record: dict[str, Any], to: str) -> dict[str, Any]:
    response = who.post(f"/api/v1/records/{record['id']}/transitions", json={"to": to})
    assert response.status_code == 200, f"→ {to}: {response.text}"
    return response.json()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Iterator[Dataset]:  # type: ignore[no-untyped-def]
    import os

    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("RECORDS_"):
                mp.delenv(name)
        settings = load_settings(data_dir=tmp_path_factory.mktemp("metrics") / "data", service_level_limits=STRETCHED)
        app = create_app(settings)
        with TestClient(app, raise_server_exceptions=False) as client:
            users = {}
            for role, name in [(Role.agent, "alice"), (Role.agent, "bob"), (Role.supervisor, "sam"), (Role.admin, "root"),
                               (Role.archivist, "ada"), (Role.compliance_officer, "carl"), (Role.plugin_manager, "pat")]:
                with client.portal() as portal:
                    token = portal.call(app.state.token_service.issue, name, str(role)).token
                users[name] = RoleClient(client, token, name, role)
            alice, sam = users["alice"], users["sam"]

            def file(kind: str, channel: str, urgency: str, received_at: str) -> dict[str, Any]:
                response = alice.post("/api/v1/records", json=record_body(kind, channel=channel, urgency=urgency,
                                                                          received_at=received_at))
                assert response.status_code == 201, response.text
                return response.json()

            r1 = file("consultation", "phone", "general", "2026-09-07T02:00:00Z")
            _move(alice, r1, "accepted")
            _patch(alice, r1, {"result": "Explained the tariff."})
            _patch(alice, r1, {"feedback": {"satisfaction": 5}})

            r2 = file("consultation", "app_web", "urgent", "2026-09-13T20:00:00Z")
            _move(alice, r2, "accepted")
            _patch(alice, r2, {"feedback": {"satisfaction": 3}})

            r3 = file("complaint", "phone", "general", "2026-09-15T03:00:00Z")
            _patch(sam, r3, {"owner": "bob"})  # reassigned: not resolved at first contact
            _move(alice, r3, "investigating")
            _move(alice, r3, "handling")
            _patch(sam, r3, {"result": "Refunded the overcharge."})
            _move(sam, r3, "feedback")
            _patch(sam, r3, {"feedback": {"satisfaction": 4}})

            r4 = file("complaint", "app_web", "major", "2026-10-05T01:00:00Z")
            _patch(alice, r4, {"feedback": {"satisfaction": 2}})

            r5 = file("work_order", "phone", "general", "2026-10-20T08:00:00Z")
            _move(alice, r5, "processing")
            _patch(alice, r5, {"result": "Replaced the router."})
            _move(alice, r5, "processed")
            _patch(alice, r5, {"feedback": {"satisfaction": 5}})

            r6 = file("emergency", "phone", "urgent", "2026-10-31T23:30:00Z")

            records = {key: alice.get(f"/api/v1/records/{r['id']}").json()
                       for key, r in {"R1": r1, "R2": r2, "R3": r3, "R4": r4, "R5": r5, "R6": r6}.items()}
            yield Dataset(app, client, users, records)


def hours(record: dict[str, Any]) -> float:
    return (parse(record["result_at"]) - parse(record["received_at"])).total_seconds() / 3600


def check(bucket: dict[str, Any], numerator: float, denominator: int, period: str | None = None) -> None:
    assert bucket["period"] == period
    assert bucket["numerator"] == pytest.approx(numerator, abs=1e-5)
    assert bucket["denominator"] == denominator
    if denominator:
        assert bucket["value"] == pytest.approx(numerator / denominator, abs=1e-5)
    else:
        assert bucket["value"] is None


# --- the dataset is what the docstring says -------------------------------------------------------


def test_the_dataset_is_as_described(data):
    r = data.records
    assert [r[k]["owner"] for k in sorted(r)] == ["alice", "alice", "bob", "alice", "alice", "alice"]
    assert [e["detail"] for e in r["R3"]["timeline"] if e["event"] == "reassigned"] == [{"from": "alice", "to": "bob"}]
    assert [r[k]["result"] is not None for k in sorted(r)] == [True, False, True, False, True, False]
    assert [(r[k]["feedback"] or {}).get("satisfaction") for k in sorted(r)] == [5, 3, 4, 2, 5, None]
    late = {(k, d["name"]): d["breached"] for k in r for d in r[k]["deadlines"]}
    assert late == {
        ("R1", "response_general"): False,
        ("R2", "response_urgent"): True,
        ("R3", "response_major"): True, ("R3", "registration"): True, ("R3", "result_feedback"): False,
        ("R4", "response_major"): True, ("R4", "registration"): True, ("R4", "result_feedback"): False,
        ("R4", "major_processing"): True, ("R4", "major_completion"): False,
        ("R5", "response_general"): False, ("R5", "work_order_tracking"): True, ("R5", "result_feedback"): False,
        ("R6", "emergency_processing"): True,
    }


# --- every built-in metric, in total ------------------------------------------------------------


def test_the_metrics_are_listed_with_their_targets(data):
    response = data.users["alice"].get("/api/v1/metrics")
    assert response.status_code == 200, response.text
    items = {m["name"]: m for m in response.json()["items"]}
    assert set(items) == BUILT_IN
    assert all(m["title"] for m in items.values())
    assert items["satisfaction_rate"]["target"]["comparison"] == ">="
    assert items["satisfaction_rate"]["target"]["value"] == pytest.approx(0.90)
    assert items["complaint_rate"]["target"]["comparison"] == "<"
    assert items["complaint_rate"]["target"]["value"] == pytest.approx(0.005)
    assert items["completion_rate"]["target"] is None


@pytest.mark.parametrize(
    ("name", "numerator", "denominator"),
    [
        ("satisfaction_rate", 3, 5),  # R1, R3, R5 rated 4-5 of the five rated
        ("complaint_rate", 2, 6),  # R3, R4
        ("response_within_limit", 2, 5),  # R1, R5 on time; R2, R3 late; R4 past due
        ("on_time_completion", 2, 4),  # R3, R5 result_feedback on time; R4 major_processing, R6 emergency late
        ("completion_rate", 3, 6),  # R1, R3, R5 have a result
        ("first_contact_resolution", 2, 3),  # R1, R5 kept by alice; R3 reassigned
        ("complaint_satisfaction", 1, 2),  # R3 (4) of R3, R4 (2)
    ],
)
def test_each_share_metric_matches_the_hand_computation(data, name, numerator, denominator):
    body = data.metric(name)
    assert body["name"] == name and body["measure"] == "share"
    check(body["total"], numerator, denominator)
    assert body["group_by"] is None


def test_processing_time_is_the_mean_hours_from_receipt_to_result(data):
    r = data.records
    expected = [hours(r[k]) for k in ("R1", "R3", "R5")]
    assert all(h > 24 * 20 for h in expected)  # received weeks before the result
    body = data.metric("processing_time")
    assert body["measure"] == "mean_hours"
    check(body["total"], sum(expected), 3)
    monthly = data.metric("processing_time", group_by="month")["values"]
    assert [b["period"] for b in monthly] == ["2026-09", "2026-10"]
    check(monthly[0], hours(r["R1"]) + hours(r["R3"]), 2, "2026-09")
    check(monthly[1], hours(r["R5"]), 1, "2026-10")


def test_meets_target(data):
    assert data.metric("satisfaction_rate")["meets_target"] is False  # 60% < 90%
    assert data.metric("satisfaction_rate", channel="phone")["meets_target"] is True  # R1 5, R3 4, R5 5: 100%
    assert data.metric("complaint_rate")["meets_target"] is False  # 33% ≥ 0.5%
    assert data.metric("complaint_rate", kind="consultation")["meets_target"] is True  # 0% < 0.5%
    assert data.metric("completion_rate")["meets_target"] is None  # no target
    empty = data.metric("satisfaction_rate", **{"from": "2025-01-01", "to": "2025-02-01"})
    assert empty["meets_target"] is None  # no data, no verdict
    check(empty["total"], 0, 0)
    assert data.metric("satisfaction_rate")["target"] == {"comparison": ">=", "value": 0.9, "source": "SPEC §1.3"}


# --- periods ------------------------------------------------------------------------------------


def test_group_by_month(data):
    body = data.metric("complaint_rate", group_by="month")
    assert body["group_by"] == "month"
    values = body["values"]
    assert [b["period"] for b in values] == ["2026-09", "2026-10"]
    check(values[0], 1, 3, "2026-09")  # R1, R2, R3
    check(values[1], 1, 3, "2026-10")  # R4, R5, R6 (R6 is 1 November in Shanghai but 31 October in UTC)
    check(body["total"], 2, 6)


def test_group_by_week_labels_weeks_by_their_monday(data):
    values = data.metric("complaint_rate", group_by="week")["values"]
    # R2 (Sunday 13 September) belongs to the week of Monday 7 September; R6 (Saturday 31 October)
    # to the week of Monday 26 October.
    assert [(b["period"], b["numerator"], b["denominator"]) for b in values] == [
        ("2026-09-07", 0, 2), ("2026-09-14", 1, 1), ("2026-10-05", 1, 1), ("2026-10-19", 0, 1), ("2026-10-26", 0, 1),
    ]


def test_group_by_day_uses_utc_days(data):
    values = data.metric("completion_rate", group_by="day")["values"]
    assert [(b["period"], b["numerator"], b["denominator"]) for b in values] == [
        ("2026-09-07", 1, 1), ("2026-09-13", 0, 1), ("2026-09-15", 1, 1),
        ("2026-10-05", 0, 1), ("2026-10-20", 1, 1), ("2026-10-31", 0, 1),
    ]
    assert [b["value"] for b in values] == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]


def test_deadline_metrics_by_month(data):
    response = data.metric("response_within_limit", group_by="month")["values"]
    check(response[0], 1, 3, "2026-09")  # R1 on time; R2, R3 late
    check(response[1], 1, 2, "2026-10")  # R5 on time; R4 past due
    completion = data.metric("on_time_completion", group_by="month")["values"]
    check(completion[0], 1, 1, "2026-09")  # R3
    check(completion[1], 1, 3, "2026-10")  # R5 on time; R4 major_processing, R6 emergency_processing late


def test_grouped_totals_are_the_sums_of_their_periods(data):
    for name in sorted(BUILT_IN):
        # Availability is over a span of time, not over the files received in one: it needs `from`.
        span = {"from": "2026-09-01", "to": "2026-11-01"} if name == "service_availability" else {}
        for period in ("day", "week", "month"):
            body = data.metric(name, group_by=period, **span)
            assert body["total"]["denominator"] == sum(b["denominator"] for b in body["values"]), (name, period)
            assert body["total"]["numerator"] == pytest.approx(sum(b["numerator"] for b in body["values"]), abs=1e-4)
            assert body["total"] == data.metric(name, **span)["total"], (name, period)


def test_ungrouped_values_are_only_the_total(data):
    body = data.metric("complaint_rate")
    assert body["values"] == []
    check(body["total"], 2, 6)


# --- bounds and filters ---------------------------------------------------------------------------


def test_from_is_inclusive_and_to_exclusive(data):
    # R2 was received exactly at `from`, R4 exactly at `to`.
    body = data.metric("complaint_rate", **{"from": "2026-09-13T20:00:00Z", "to": "2026-10-05T01:00:00Z"})
    check(body["total"], 1, 2)  # R2, R3
    assert parse(body["received_from"]) == datetime(2026, 9, 13, 20, tzinfo=UTC)
    assert parse(body["received_to"]) == datetime(2026, 10, 5, 1, tzinfo=UTC)
    moved = data.metric("complaint_rate", **{"from": "2026-09-13T20:00:00.000001Z", "to": "2026-10-05T01:00:00.000001Z"})
    check(moved["total"], 2, 2)  # R3, R4


def test_dates_are_midnight_utc(data):
    check(data.metric("complaint_rate", **{"from": "2026-10-01"})["total"], 1, 3)  # R4, R5, R6
    check(data.metric("complaint_rate", to="2026-09-14")["total"], 0, 2)  # R1, R2
    check(data.metric("complaint_rate", **{"from": "2026-09-13", "to": "2026-09-14"})["total"], 0, 1)  # R2 only


def test_times_with_an_offset_are_converted(data):
    # 04:00 on 14 September in Shanghai is 20:00 on 13 September UTC: R2 is included.
    body = data.metric("completion_rate", **{"from": "2026-09-14T04:00:00+08:00", "to": "2026-09-16"})
    check(body["total"], 1, 2)  # R2 (no result), R3 (result)


def test_kind_filter(data):
    check(data.metric("satisfaction_rate", kind="complaint")["total"], 1, 2)  # R3 4, R4 2
    check(data.metric("response_within_limit", kind="consultation")["total"], 1, 2)  # R1 on time, R2 late
    check(data.metric("completion_rate", kind="emergency")["total"], 0, 1)
    body = data.metric("complaint_rate", kind="work_order")
    assert body["kind"] == "work_order"
    check(body["total"], 0, 1)


def test_channel_filter(data):
    body = data.metric("satisfaction_rate", channel="app_web")
    assert body["channel"] == "app_web"
    check(body["total"], 0, 2)  # R2 3, R4 2
    assert body["total"]["value"] == 0.0 and body["meets_target"] is False
    check(data.metric("completion_rate", channel="phone")["total"], 3, 4)  # R1, R3, R5 of R1, R3, R5, R6
    check(data.metric("first_contact_resolution", channel="phone")["total"], 2, 3)


def test_filters_combine(data):
    body = data.metric("complaint_rate", kind="complaint", channel="phone", group_by="month", **{"from": "2026-09-01"})
    assert [(b["period"], b["numerator"], b["denominator"]) for b in body["values"]] == [("2026-09", 1, 1)]


def test_metrics_never_open_a_file(data, monkeypatch):
    """Computed by the store's aggregate query: no record is decrypted for a metric."""
    from records.crypto.sealing import RecordSealer

    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a metric opened a record")

    monkeypatch.setattr(RecordSealer, "open", refuse)
    check(data.metric("satisfaction_rate")["total"], 3, 5)
    check(data.metric("on_time_completion", group_by="week")["total"], 2, 4)


# --- charts ---------------------------------------------------------------------------------------


def test_svg_chart(data):
    response = data.users["alice"].get("/api/v1/metrics/satisfaction_rate", params={"format": "svg", "group_by": "month"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/svg+xml")
    text = response.text
    assert "<svg" in text
    assert "2026-09" in text and "2026-10" in text  # the periods label the x axis
    assert "Customer satisfaction rate" in text and "…" not in text  # the legend is never truncated
    # A rate is read on the whole scale: the axis runs from 0% to 100%, and the target is its own line.
    labels = re.findall(r'<text[^>]*class="[^"]*"[^>]*>([0-9.]+%)</text>', text) or re.findall(r">([0-9.]+%)<", text)
    assert "0.0%" in labels and "100.0%" in labels, labels
    assert "target ≥ 90.0%" in text and "stroke-dasharray" in text
    assert "<script" not in text


def test_svg_chart_in_chinese(data):
    response = data.users["alice"].get("/api/v1/metrics/satisfaction_rate",
                                       params={"format": "svg", "group_by": "month", "lang": "zh"})
    assert response.status_code == 200, response.text
    assert "客户满意度" in response.text and "目标 ≥ 90.0%" in response.text
    assert "Noto Sans CJK SC" in response.text  # a font with Chinese glyphs comes first
    assert data.users["alice"].get("/api/v1/metrics/satisfaction_rate", params={"format": "svg", "lang": "fr"}).status_code == 422


def test_svg_chart_without_grouping_and_without_data(data):
    for params in ({"format": "svg"}, {"format": "svg", "from": "2025-01-01", "to": "2025-02-01", "group_by": "day"}):
        response = data.users["carl"].get("/api/v1/metrics/processing_time", params=params)
        assert response.status_code == 200, (params, response.text)
        assert response.headers["content-type"].startswith("image/svg+xml")
        assert "<svg" in response.text




@pytest.mark.parametrize("params", [{"group_by": "month"}, {}, {"group_by": "week", "kind": "complaint"}])
def test_svg_chart_embeds_no_script(data, params):
    response = data.users["alice"].get("/api/v1/metrics/satisfaction_rate", params={"format": "svg", **params})
    assert response.status_code == 200, response.text
    assert "<script" not in response.text.lower()


# --- errors and roles -----------------------------------------------------------------------------


def test_an_unknown_metric_is_404(data):
    response = data.users["alice"].get("/api/v1/metrics/no_such_metric")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "metric_not_found"


@pytest.mark.parametrize(
    ("params", "codes"),
    [
        ({"from": "yesterday"}, {"invalid_input"}),
        ({"to": "2026-13-01"}, {"invalid_input"}),
        ({"from": "2026-10-01", "to": "2026-10-01"}, {"invalid_input"}),
        ({"from": "2026-10-02", "to": "2026-10-01"}, {"invalid_input"}),
        ({"from": "2026-10-01T10:00:00Z", "to": "2026-10-01T09:59:59Z"}, {"invalid_input"}),
        ({"group_by": "year"}, {"validation_failed", "bad_request"}),
        ({"kind": "letter"}, {"validation_failed", "bad_request"}),
        ({"channel": "pigeon"}, {"validation_failed", "bad_request"}),
        ({"format": "png"}, {"validation_failed", "bad_request"}),
    ],
)
def test_bad_parameters_are_problems_with_stable_codes(data, params, codes):
    response = data.users["alice"].get("/api/v1/metrics/complaint_rate", params=params)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] in codes


def test_bound_errors_name_the_field(data):
    body = data.users["alice"].get("/api/v1/metrics/complaint_rate", params={"from": "2026-10-02", "to": "2026-10-01"}).json()
    assert body["status"] == 422
    assert body["errors"][0]["field"] == "from"
    bad = data.users["alice"].get("/api/v1/metrics/complaint_rate", params={"to": "soon"}).json()
    assert bad["errors"][0]["field"] == "to"


@pytest.mark.parametrize("who", ["alice", "sam", "root", "ada", "carl"])
def test_roles_that_read_metrics(data, who):
    assert data.users[who].get("/api/v1/metrics").status_code == 200
    assert data.users[who].get("/api/v1/metrics/completion_rate").status_code == 200


def test_the_plugin_manager_may_not_read_metrics(data):
    for url in ("/api/v1/metrics", "/api/v1/metrics/completion_rate", "/api/v1/metrics/completion_rate?format=svg"):
        response = data.users["pat"].get(url)
        assert response.status_code == 403, url
        assert response.json()["code"] == "forbidden"


def test_metrics_need_a_token(data):
    response = data.client.get("/api/v1/metrics/completion_rate")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# --- a metric from a plugin, and escaping -----------------------------------------------------------


class HostileTitles:
    @hookimpl
    def records_register_metrics(self, register):
        register(Metric(
            name="major_complaint_share", title="<script>alert(1)</script> major complaints",
            denominator=Criteria(kinds=[Kind.complaint]), numerator=Criteria(urgencies=["major"]),
            target=Target(comparison="<", value=0.05, source="operator policy"),
        ))


def test_a_plugin_metric_is_computed_and_its_chart_escapes_its_title(settings):
    pm = plugin_manager()
    pm.register(HostileTitles(), name="hostile-titles")
    app = create_app(settings, plugins=pm)
    with TestClient(app, raise_server_exceptions=False) as client:
        with client.portal() as portal:
            token = portal.call(app.state.token_service.issue, "alice", "agent").token
        headers = {"Authorization": f"Bearer {token}"}
        for urgency in ("major", "urgent", "general"):
            assert client.post("/api/v1/records", json=record_body("complaint", urgency=urgency), headers=headers).status_code == 201
        body = client.get("/api/v1/metrics/major_complaint_share", headers=headers).json()
        check(body["total"], 1, 3)
        assert body["meets_target"] is False
        chart = client.get("/api/v1/metrics/major_complaint_share", params={"format": "svg"}, headers=headers)
        assert chart.status_code == 200
        assert "alert(1)" in chart.text  # the title is there…
        assert "<script>alert" not in chart.text.lower()  # …escaped, never markup
        assert "&lt;script&gt;alert(1)" in chart.text
