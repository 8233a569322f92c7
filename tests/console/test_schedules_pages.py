"""Retention schedules in the console over plain HTTP: create, edit (previewed with the API's dry
run, then a new version), the versions with who made each, re-apply (previewed, then done); legal
minimums and bad input refused beside their field; the API's roles, audit actions and CSRF."""

from __future__ import annotations

import re

from records.roles import Role
from tests.retention.conftest import archive, clock  # noqa: F401 - clock is a fixture
from tests.retention.setup import schedule_id

SCHEDULES = "/api/v1/retention/schedules"
CONSULTATIONS = "Consultations (SPEC §2.5)"


def _error_beside(page: str, field: str) -> str:
    match = re.search(rf'<p class="error" id="error-{field}">([^<]*)</p>', page)
    assert match, f"no message beside {field}"
    assert f"error-{field}" in page.split(match.group(0))[0]  # the field points at its message
    return match.group(1)


def _preview(page: str) -> dict[str, int]:
    return {name: int(n) for name, n in re.findall(r'id="preview-(\w+)">(\d+)<', page)}


def _edit_form(console, schedule: dict, **changes: str) -> dict:  # type: ignore[no-untyped-def]
    """The edit form as the page fills it from ``schedule``, with ``changes`` typed over it."""
    trigger, _, event = schedule["trigger"].partition(":")
    form = {"version": str(schedule["version"]), "name": schedule["name"], "kinds": schedule["kinds"],
            "classification": " ".join(schedule["classification"]), "trigger": trigger, "event": event,
            "period": schedule["period"] or "", "cutoff": schedule["cutoff"] or "", "action": schedule["action"],
            "reason": ""}
    return {**form, **changes}


def _last_event(compliance_officer, action: str) -> dict:  # type: ignore[no-untyped-def]
    return compliance_officer.get("/api/v1/audit/events", params={"action": action}).json()["items"][-1]


def test_an_archivist_creates_a_schedule_and_sees_it_listed(console_as, archivist, compliance_officer):
    console = console_as(Role.archivist, "ada-console")
    assert 'name="period"' in console.get("/console/retention/schedules/new").text
    created = console.post("/console/retention/schedules/", {
        "name": "Work orders, short", "kinds": ["work_order"], "classification": "", "trigger": "event",
        "event": "contract_ended", "period": "p2y", "cutoff": "year", "action": "destroy"})
    assert created.status_code == 303, created.text
    new_id = created.headers["location"].rsplit("/", 1)[1]
    stored = archivist.get(f"{SCHEDULES}/{new_id}").json()
    assert (stored["name"], stored["kinds"], stored["trigger"], stored["period"], stored["cutoff"], stored["created_by"]) == (
        "Work orders, short", ["work_order"], "event:contract_ended", "P2Y", "year", "ada-console")
    assert _last_event(compliance_officer, "retention.schedule.create")["actor"] == "ada-console"
    listed = console.get("/console/retention/schedules/").text
    assert f'href="/console/retention/schedules/{new_id}"' in listed and "contract_ended" in listed
    assert CONSULTATIONS in listed and "at least P3Y by law" in listed  # the plugin's floor, as the API says


def test_an_edit_is_previewed_as_the_apis_dry_run_then_saved_as_a_new_version(clock, console_as, agent, archivist):  # noqa: F811
    complaints = schedule_id(archivist, "Complaints")
    for _ in range(2):
        archive(agent, archivist, "complaint")
    schedule = archivist.get(f"{SCHEDULES}/{complaints}").json()
    api_preview = archivist.patch(f"{SCHEDULES}/{complaints}", params={"dry_run": "true"},
                                  json={"period": "P1Y", "reason": "shorter"}).json()
    console = console_as(Role.archivist, "ada-console")

    edit = console.get(f"/console/retention/schedules/{complaints}/edit")
    assert edit.status_code == 200 and f'value="{schedule["period"]}"' in edit.text
    preview = console.post(f"/console/retention/schedules/{complaints}/edit",
                           _edit_form(console, schedule, period="P1Y", reason="shorter", intent="preview"))
    assert preview.status_code == 200, preview.text
    assert _preview(preview.text) == {"earlier": api_preview["earlier"], "later": api_preview["later"],
                                      "unchanged": api_preview["unchanged"]} == {"earlier": 2, "later": 0, "unchanged": 0}
    assert "Save version 2" in preview.text and 'value="P1Y"' in preview.text  # the typed edit is kept
    assert archivist.get(f"{SCHEDULES}/{complaints}").json()["version"] == 1  # nothing stored

    saved = console.post(f"/console/retention/schedules/{complaints}/edit",
                         _edit_form(console, schedule, period="P1Y", reason="shorter", intent="save"))
    assert saved.status_code == 303 and saved.headers["location"] == f"/console/retention/schedules/{complaints}?saved=1"
    latest = archivist.get(f"{SCHEDULES}/{complaints}").json()
    assert (latest["version"], latest["period"], latest["created_by"], latest["reason"]) == (2, "P1Y", "ada-console", "shorter")
    assert latest["kinds"] == schedule["kinds"] and latest["classification"] == schedule["classification"]

    page = console.get(f"/console/retention/schedules/{complaints}").text
    versions = page.split('id="versions-heading"', 1)[1]
    v2, v1 = versions.split('id="version-2"', 1)[1].split('id="version-1"', 1)
    assert "ada-console" in v2 and "shorter" in v2 and f"<code>{schedule['period']}</code> → <code>P1Y</code>" in v2
    assert schedule["created_by"] in v1 and "first version" in v1


def test_reapplying_is_previewed_then_rewrites_the_dates(clock, console_as, agent, archivist):  # noqa: F811
    complaints = schedule_id(archivist, "Complaints")
    first = archive(agent, archivist, "complaint")
    archive(agent, archivist, "complaint")
    before = archivist.get(f"/api/v1/records/{first['id']}/retention").json()["retain_until"]
    assert archivist.patch(f"{SCHEDULES}/{complaints}", json={"period": "P9Y", "reason": "regulator"}).status_code == 200
    console = console_as(Role.archivist, "ada-console")

    preview = console.post(f"/console/retention/schedules/{complaints}/reapply", {"reason": "regulator", "intent": "preview"})
    assert preview.status_code == 200, preview.text
    assert _preview(preview.text)["later"] == 2 and "Re-apply to 2 files" in preview.text
    assert archivist.get(f"/api/v1/records/{first['id']}/retention").json()["retain_until"] == before

    done = console.post(f"/console/retention/schedules/{complaints}/reapply", {"reason": "regulator", "intent": "apply"})
    assert done.status_code == 303 and done.headers["location"].endswith("?reapplied=2")
    assert archivist.get(f"/api/v1/records/{first['id']}/retention").json()["retain_until"] > before
    assert "the dates of 2 files were rewritten" in console.get(done.headers["location"]).text
    no_reason = console.post(f"/console/retention/schedules/{complaints}/reapply", {"reason": " ", "intent": "apply"})
    assert no_reason.status_code == 422 and _error_beside(no_reason.text, "reason")


def test_a_legal_minimum_refuses_beside_the_period_and_stores_nothing(console_as, archivist):
    console = console_as(Role.archivist, "ada-console")
    before = archivist.get(SCHEDULES).json()["items"]
    refused = console.post("/console/retention/schedules/", {
        "name": "Quick consultations", "kinds": ["consultation"], "trigger": "archived", "period": "P0D",
        "action": "destroy"})
    assert refused.status_code == 422
    message = _error_beside(refused.text, "period")
    assert "SPEC §2.5" in message and "P3Y" in message
    assert 'value="Quick consultations"' in refused.text
    assert archivist.get(SCHEDULES).json()["items"] == before

    consultations = archivist.get(f"{SCHEDULES}/{schedule_id(archivist, CONSULTATIONS)}").json()
    for intent in ("preview", "save"):
        edit = console.post(f"/console/retention/schedules/{consultations['id']}/edit",
                            _edit_form(console, consultations, period="P1Y", reason="shorter", intent=intent))
        assert edit.status_code == 422 and "P3Y" in _error_beside(edit.text, "period")
    assert archivist.get(f"{SCHEDULES}/{consultations['id']}").json()["version"] == consultations["version"]


def test_bad_input_is_a_message_beside_its_field(console_as, archivist):
    console = console_as(Role.archivist, "ada-console")
    base = {"name": "Bad", "kinds": ["complaint"], "trigger": "archived", "period": "P1Y", "action": "destroy"}
    cases = [({"period": "three years"}, "period"), ({"kinds": []}, "kinds"), ({"period": ""}, "period"),
             ({"classification": "nosuchscheme:x"}, "classification"), ({"trigger": "event", "event": ""}, "trigger"),
             ({"action": "burn"}, "action"), ({"name": ""}, "name")]
    for change, field in cases:
        response = console.post("/console/retention/schedules/", {**base, **change})
        assert response.status_code == 422, (change, response.text)
        assert _error_beside(response.text, field), change
        assert "Traceback" not in response.text
    assert "Bad" not in {s["name"] for s in archivist.get(SCHEDULES).json()["items"]}

    complaints = archivist.get(f"{SCHEDULES}/{schedule_id(archivist, 'Complaints')}").json()
    no_reason = console.post(f"/console/retention/schedules/{complaints['id']}/edit",
                             _edit_form(console, complaints, period="P4Y", intent="save"))
    assert no_reason.status_code == 422 and _error_beside(no_reason.text, "reason")
    bad_version = console.post(f"/console/retention/schedules/{complaints['id']}/edit",
                               _edit_form(console, complaints, version="x", reason="r", intent="save"))
    assert bad_version.status_code == 422 and "version" in bad_version.text
    assert archivist.get(f"{SCHEDULES}/{complaints['id']}").json()["version"] == complaints["version"]
    assert console.get("/console/retention/schedules/no-such-schedule").status_code == 404


def test_an_edit_sends_only_what_changed_since_the_version_read(console_as, archivist):
    """Another archivist's edit made meanwhile to another field is not undone by a stale form."""
    complaints = archivist.get(f"{SCHEDULES}/{schedule_id(archivist, 'Complaints')}").json()
    console = console_as(Role.archivist, "ada-console")
    assert archivist.patch(f"{SCHEDULES}/{complaints['id']}", json={"cutoff": "year", "reason": "meanwhile"}).status_code == 200
    saved = console.post(f"/console/retention/schedules/{complaints['id']}/edit",
                         _edit_form(console, complaints, period="P7Y", reason="longer", intent="save"))
    assert saved.status_code == 303, saved.text
    latest = archivist.get(f"{SCHEDULES}/{complaints['id']}").json()
    assert (latest["version"], latest["period"], latest["cutoff"]) == (complaints["version"] + 2, "P7Y", "year")


def test_roles_the_api_refuses_are_refused_here(console_as, archivist):
    complaints = schedule_id(archivist, "Complaints")
    officer = console_as(Role.compliance_officer, "carl-console")
    for path in ("/console/retention/schedules/", f"/console/retention/schedules/{complaints}",
                 "/console/retention/schedules/new"):
        assert officer.get(path).status_code == 403, path
    refused = officer.post(f"/console/retention/schedules/{complaints}/reapply", {"reason": "r", "intent": "apply"})
    assert refused.status_code == 403 and "Your role may not do this." in refused.text
    assert "/console/retention/schedules/" not in officer.get("/console/retention/holds/").text  # no tab either


def test_a_form_without_csrf_changes_nothing(console_as, archivist):
    complaints = archivist.get(f"{SCHEDULES}/{schedule_id(archivist, 'Complaints')}").json()
    console = console_as(Role.archivist, "ada-console")
    created = console.post("/console/retention/schedules/", {"name": "No token", "kinds": ["complaint"],
                                                             "period": "P1Y", "action": "destroy"}, csrf=False)
    assert created.status_code == 403 and "csrf_refused" in created.text
    edited = console.post(f"/console/retention/schedules/{complaints['id']}/edit",
                          _edit_form(console, complaints, period="P7Y", reason="r", intent="save"), csrf=False)
    assert edited.status_code == 403
    assert "No token" not in {s["name"] for s in archivist.get(SCHEDULES).json()["items"]}
    assert archivist.get(f"{SCHEDULES}/{complaints['id']}").json()["version"] == complaints["version"]


def test_the_schedule_pages_are_in_chinese_for_chinese_browsers(console_as):
    console = console_as(Role.archivist, "ada-console")
    console.get("/console/language", params={"lang": "zh_CN", "next": "/console/retention/schedules/"})
    page = console.get("/console/retention/schedules/").text
    assert "保管期限表" in page and "投诉" in page


# --- the forecast --------------------------------------------------------------------------------

def _due_schedule(admin, name: str, code: str, period: str) -> None:  # type: ignore[no-untyped-def]
    r = admin.post(SCHEDULES, json={"name": name, "kinds": ["complaint"], "classification": [code], "period": period,
                                    "action": "destroy"})
    assert r.status_code == 201, r.text


def _row(page: str, row_id: str) -> list[int]:
    row = page.split(f'id="{row_id}"', 1)[1].split("</tr>", 1)[0]
    return [int(n) for n in re.findall(r'<td class="value"[^>]*>(\d+)</td>', row)]


def _charts(page: str) -> list[str]:
    import base64

    return [base64.b64decode(data).decode() for data in re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', page)]


def test_the_forecast_is_the_apis_sweep_forecast_by_kind_and_schedule(clock, console_as, agent, archivist, admin):  # noqa: F811
    from datetime import timedelta

    _due_schedule(admin, "Urgent complaints, 20 days", "urgency:urgent", "P20D")
    _due_schedule(admin, "Major complaints, 60 days", "urgency:major", "P60D")
    archive(agent, archivist, "complaint")
    archive(agent, archivist, "complaint", urgency="major")
    held = archive(agent, archivist, "complaint")
    assert admin.post("/api/v1/retention/holds", json={"reason": "r", "case_reference": "C-1",
                                                       "record_ids": [held["id"]]}).status_code == 201
    api = {}
    for days in (30, 90, 365):
        as_of = (clock.now + timedelta(days=days)).isoformat()
        api[days] = admin.post("/api/v1/retention/sweeps", json={"as_of": as_of}).json()
    console = console_as(Role.archivist, "ada-console")

    page = console.get("/console/retention/forecast/")
    assert page.status_code == 200, page.text
    assert _row(page.text, "forecast-due") == [api[d]["due"] for d in (30, 90, 365)] == [1, 2, 2]
    assert _row(page.text, "forecast-held") == [api[d]["held"] for d in (30, 90, 365)] == [1, 1, 1]
    by_kind = page.text.split('id="forecast-by-kind"', 1)[1].split("</tbody>", 1)[0]
    complaints = by_kind.split("<th scope=\"row\">Complaint</th>", 1)[1].split("</tr>", 1)[0]
    assert re.findall(r"<td class=\"value\">(\d+)</td>", complaints) == ["1", "2", "2"]
    by_schedule = page.text.split('id="forecast-by-schedule"', 1)[1]
    assert re.search(r"Urgent complaints, 20 days</th><td class=\"value\">1</td><td class=\"value\">1</td>", by_schedule)
    assert re.search(r"Major complaints, 60 days</th><td class=\"value\">0</td><td class=\"value\">1</td>", by_schedule)
    for horizon in api.values():  # as the API's forecast lists them
        assert horizon["forecast"] is True and horizon["batches"][0]["id"] is None
    kind_chart, schedule_chart = _charts(page.text)
    assert "next 30 days" in kind_chart and "Complaint" in kind_chart and "<script" not in kind_chart
    assert "Major complaints, 60 days" in schedule_chart and "…" not in schedule_chart  # legends not cut off
    assert ">0<" in kind_chart  # the axis starts at 0
    # nothing was stored: no batch was opened by the forecasts
    assert admin.get("/api/v1/retention/batches").json()["items"] == []


def test_the_forecast_speaks_chinese_and_only_to_the_sweeps_roles(console_as):
    console = console_as(Role.archivist, "ada-console")
    console.get("/console/language", params={"lang": "zh_CN", "next": "/console/retention/forecast/"})
    page = console.get("/console/retention/forecast/").text
    assert "未来 30 天" in page
    kind_chart = _charts(page)[0]
    assert "未来 365 天" in kind_chart and "投诉" in kind_chart


def test_compliance_officers_may_not_forecast_as_in_the_api(console_as):
    officer = console_as(Role.compliance_officer, "carl-console")
    assert officer.get("/console/retention/forecast/").status_code == 403
