"""The plugin architecture end to end (issue 5, docs/plugin_hooks.md, README "Plugins").

A test plugin registered in a fixture adds a stage, a classification scheme, a service level
and a metric, which then appear in the API; notification hooks are isolated (the request
succeeds, the plugin is shown `failing`); decision hooks fail the request naming the plugin
and store nothing; block and allow lists, and plugins that fail to load, are reported by
`GET /api/v1/plugins` while the service starts.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from records import hookimpl
from records.classification import ClassificationScheme, SchemeCode
from records.metrics import Criteria, Metric, Target
from records.models import Kind
from records.plugins.manager import plugin_manager
from records.roles import Role
from records.service_levels import ServiceLevel
from records.settings import load_settings
from records.workflow import Stage, Transition, Workflow
from tests.conftest import RoleClient, record_body
from tests.helpers.plugin_apps import Service, running, with_plugins

TELECOM_HOOKS = {
    "telecom-workflows": ["records_register_guards", "records_register_workflows"],
    "telecom-classification": ["records_classify", "records_register_classification_schemes"],
    "telecom-calendars": ["records_register_calendars"],
    "telecom-service-levels": ["records_register_service_levels"],
    "telecom-metrics": ["records_register_metrics"],
}
PERSONAL = ("张三", "13812345678", "ACC-1001", "13900001111")
HANDLERS = [Role.agent, Role.supervisor, Role.admin]
ARCHIVERS = [Role.archivist, Role.supervisor, Role.admin]


def count(who: RoleClient) -> int:
    response = who.get("/api/v1/records", params={"limit": "200"})
    assert response.status_code == 200, response.text
    return len(response.json()["items"])


def move(who: RoleClient, record: dict[str, Any], to: str):  # type: ignore[no-untyped-def]
    return who.post(f"/api/v1/records/{record['id']}/transitions", json={"to": to})


def patch(who: RoleClient, record_id: str, body: dict[str, Any]):  # type: ignore[no-untyped-def]
    current = who.get(f"/api/v1/records/{record_id}").json()
    return who.patch(f"/api/v1/records/{record_id}", json=body, headers={"If-Match": f'"{current["version"]}"'})


# --- a plugin extends the service -------------------------------------------------------------------


class MediationPlugin:
    """A regional team's plugin: complaints go through mediation; a region scheme; a metric."""

    @hookimpl
    def records_register_workflows(self, register):
        stages = ["accepted", "investigating", "handling", "mediation", "feedback", "archived"]
        register(Workflow(
            kind=Kind.complaint, initial="accepted",
            stages=[Stage(name=s, final=s == "archived") for s in stages],
            transitions=[
                Transition(from_="accepted", to="investigating", roles=HANDLERS),
                Transition(from_="investigating", to="handling", roles=HANDLERS),
                Transition(from_="handling", to="mediation", roles=[Role.supervisor]),
                Transition(from_="mediation", to="feedback", roles=HANDLERS, guards=["has_result"]),
                Transition(from_="feedback", to="archived", roles=ARCHIVERS, guards=["has_feedback"]),
            ],
        ))

    @hookimpl
    def records_register_classification_schemes(self, register):
        register(ClassificationScheme(name="region", title_en="Region", title_zh="区域", codes=[
            SchemeCode(code="north", label_en="North", label_zh="北区"),
            SchemeCode(code="north.haidian", label_en="Haidian", label_zh="海淀", parent="north"),
        ]))

    @hookimpl
    def records_classify(self, record):
        if record.description and "Haidian" in record.description:
            return ["region:north.haidian"]
        return None

    @hookimpl
    def records_register_service_levels(self, register):
        register(ServiceLevel(name="mediation_start", title="Mediation starts", source="regional policy",
                              kinds=[Kind.complaint], met_on=["mediation"], limit=timedelta(hours=4)))

    @hookimpl
    def records_register_metrics(self, register):
        register(Metric(
            name="major_complaint_share", title="Major complaints, of all complaints",
            denominator=Criteria(kinds=[Kind.complaint]), numerator=Criteria(urgencies=["major"]),
            target=Target(comparison="<", value=0.05, source="operator policy"),
        ))


@pytest.fixture
def extended(settings) -> Iterator[Service]:
    with running(settings, with_plugins(mediation=MediationPlugin())) as service:
        yield service


def test_the_plugin_stage_appears_in_the_workflows(extended):
    agent = extended.login(Role.agent, "alice")
    workflows = {w["kind"]: w for w in agent.get("/api/v1/workflows").json()["items"]}
    complaint = workflows["complaint"]
    assert [s["name"] for s in complaint["stages"]] == ["accepted", "investigating", "handling", "mediation", "feedback", "archived"]
    assert {(t["from"], t["to"]) for t in complaint["transitions"]} >= {("handling", "mediation"), ("mediation", "feedback")}
    mediation = next(t for t in complaint["transitions"] if t["to"] == "mediation")
    assert mediation["roles"] == ["supervisor"]
    # The other kinds keep the built-in workflows.
    assert [s["name"] for s in workflows["emergency"]["stages"]] == ["received", "assigned", "processing", "feedback", "archived"]


def test_the_plugin_stage_is_used_by_transitions(extended):
    agent, supervisor, archivist = (extended.login(Role.agent, "alice"), extended.login(Role.supervisor, "sam"),
                                    extended.login(Role.archivist, "ada"))
    record = agent.post("/api/v1/records", json=record_body("complaint")).json()
    assert move(agent, record, "investigating").status_code == 200
    assert move(agent, record, "handling").status_code == 200
    skipped = move(agent, record, "feedback")  # the built-in path no longer exists
    assert skipped.status_code == 409 and skipped.json()["code"] == "transition_not_allowed"
    assert "mediation" in skipped.json()["detail"]
    assert move(agent, record, "mediation").status_code == 403  # the plugin gives it to supervisors
    moved = move(supervisor, record, "mediation")
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "mediation"
    assert moved.json()["timeline"][-1]["detail"] == {"from": "handling", "to": "mediation"}
    refused = move(agent, record, "feedback")  # the built-in guard still applies on the plugin's transition
    assert refused.status_code == 422 and refused.json()["code"] == "transition_refused"
    assert patch(agent, record["id"], {"result": "Agreed a refund."}).status_code == 200
    assert move(agent, record, "feedback").status_code == 200
    assert patch(agent, record["id"], {"feedback": {"satisfaction": 4}}).status_code == 200
    archived = move(archivist, record, "archived")
    assert archived.status_code == 200 and archived.json()["archived_at"] is not None


def test_the_plugin_scheme_is_listed_and_classifies(extended):
    agent = extended.login(Role.agent, "alice")
    schemes = {s["name"]: s for s in agent.get("/api/v1/classification-schemes").json()["items"]}
    assert {"region", "content", "urgency", "handling_mode", "service_type"} <= set(schemes)
    region = schemes["region"]
    assert region["title_en"] == "Region" and region["title_zh"] == "区域"
    codes = {c["code"]: c for c in region["codes"]}
    assert codes["north.haidian"]["parent"] == "north" and codes["north.haidian"]["label_zh"] == "海淀"
    record = agent.post("/api/v1/records", json=record_body(
        "complaint", description="No signal in Haidian since Monday.")).json()
    assert "region:north.haidian" in record["classification"]
    assert "content:network_service.signal" in record["classification"]  # the built-in classifier still ran


def test_the_plugin_metric_is_listed_and_computed(extended):
    agent = extended.login(Role.agent, "alice")
    metrics = {m["name"]: m for m in agent.get("/api/v1/metrics").json()["items"]}
    assert "major_complaint_share" in metrics and "satisfaction_rate" in metrics
    assert metrics["major_complaint_share"]["target"]["comparison"] == "<"
    for urgency in ("major", "general", "urgent", "general"):
        assert agent.post("/api/v1/records", json=record_body("complaint", urgency=urgency)).status_code == 201
    agent.post("/api/v1/records", json=record_body("consultation", urgency="major"))
    body = agent.get("/api/v1/metrics/major_complaint_share").json()
    assert (body["total"]["numerator"], body["total"]["denominator"]) == (1, 4)
    assert body["total"]["value"] == 0.25 and body["meets_target"] is False


def test_the_plugin_service_level_is_listed_and_met_at_its_stage(extended):
    agent, supervisor = extended.login(Role.agent, "alice"), extended.login(Role.supervisor, "sam")
    levels = {p["name"]: p for p in agent.get("/api/v1/service-levels").json()["items"]}
    assert levels["mediation_start"]["limit_seconds"] == 4 * 3600 and levels["mediation_start"]["met_on"] == ["mediation"]
    record = agent.post("/api/v1/records", json=record_body("complaint")).json()
    assert {d["name"] for d in record["deadlines"]} == {"response_major", "registration", "result_feedback", "mediation_start"}
    move(agent, record, "investigating")
    move(agent, record, "handling")
    moved = move(supervisor, record, "mediation").json()
    assert next(d for d in moved["deadlines"] if d["name"] == "mediation_start")["met_at"] is not None


def test_the_test_plugin_is_listed_as_registered(extended):
    listed = extended.plugins()
    mediation = listed["mediation"]
    assert mediation["status"] == "active"
    assert mediation["hooks"] == sorted([
        "records_classify", "records_register_classification_schemes", "records_register_metrics",
        "records_register_service_levels", "records_register_workflows"])


# --- lifecycle notifications ------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.events: list[Any] = []

    @hookimpl
    def records_lifecycle(self, event):
        self.events.append(event)


class Exploding:
    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def records_lifecycle(self, event):
        self.calls += 1
        raise ConnectionError("chat webhook unreachable")


def test_lifecycle_events_follow_the_file_and_carry_no_personal_data(settings):
    recorder = Recorder()
    with running(settings, with_plugins(recorder=recorder)) as service:
        agent, archivist = service.login(Role.agent, "alice"), service.login(Role.archivist, "ada")
        record = agent.post("/api/v1/records", json=record_body("complaint")).json()
        for to in ("investigating", "handling"):
            assert move(agent, record, to).status_code == 200
        assert patch(agent, record["id"], {"result": "Fixed.", "customer": {"phone": "13900001111"}}).status_code == 200
        assert move(agent, record, "feedback").status_code == 200
        assert patch(agent, record["id"], {"feedback": {"satisfaction": 5}}).status_code == 200
        assert move(archivist, record, "archived").status_code == 200
        service.drain()
    events = [e for e in recorder.events if e.record_id == record["id"]]
    names = [e.name for e in events]
    assert names == ["created", "transitioned", "transitioned", "amended", "transitioned", "amended",
                     "transitioned", "archived"]
    assert all(e.reference == record["reference"] and e.kind == "complaint" for e in events)
    assert events[0].actor == "alice"
    transitions = [e.detail for e in events if e.name == "transitioned"]
    assert transitions == [{"from": "accepted", "to": "investigating"}, {"from": "investigating", "to": "handling"},
                           {"from": "handling", "to": "feedback"}, {"from": "feedback", "to": "archived"}]
    assert events[-1].actor == "ada"
    assert "customer" in events[3].detail["fields"]  # names the field, never its value
    for event in events:
        dumped = event.model_dump_json()
        for value in PERSONAL:
            assert value not in dumped, (event.name, value)
        assert "Fixed." not in dumped


def test_a_raising_lifecycle_hook_never_fails_the_request(settings):
    exploding, recorder = Exploding(), Recorder()
    with running(settings, with_plugins(exploding=exploding, recorder=recorder)) as service:
        agent = service.login(Role.agent, "alice")
        response = agent.post("/api/v1/records", json=record_body("complaint"))
        assert response.status_code == 201, response.text
        record = response.json()
        assert move(agent, record, "investigating").status_code == 200
        assert agent.get(f"/api/v1/records/{record['id']}").json()["status"] == "investigating"
        service.drain()
        listed = service.plugins()
    assert exploding.calls == 2
    assert [e.name for e in recorder.events] == ["created", "transitioned"]  # the other plugin still hears
    state = listed["exploding"]
    assert state["status"] == "failing"
    assert state["failures"] >= 2
    assert state["last_failure"].startswith("records_lifecycle(")  # its hook, never its message
    assert "chat webhook unreachable" not in state["last_failure"]
    assert state["last_failure_at"] is not None
    assert listed["recorder"]["status"] == "active" and listed["recorder"]["failures"] == 0
    assert listed["telecom-workflows"]["status"] == "active"


# --- decision hooks -----------------------------------------------------------------------------------


class StrictIntake:
    @hookimpl
    def records_validate_record(self, record, previous, actor):
        problems = []
        if "REJECT" in (record.subject or ""):
            problems.append("the subject must describe the problem")
        if previous is not None and previous.subject != record.subject and "LOCKED" in previous.subject:
            problems.append("this subject is locked")
        return problems


class NeedsAccount:
    @hookimpl
    def records_validate_record(self, record, previous, actor):
        return ["no account"] if "REJECT" in (record.subject or "") else None


class CrashingValidator:
    @hookimpl
    def records_validate_record(self, record, previous, actor):
        if "CRASH" in (record.subject or ""):
            raise RuntimeError("rules engine down")


class CrashingClassifier:
    @hookimpl
    def records_classify(self, record):
        raise RuntimeError("model not loaded")


@pytest.fixture
def strict(settings) -> Iterator[Service]:
    pm = with_plugins(strict_intake=StrictIntake(), needs_account=NeedsAccount(), crashing_validator=CrashingValidator())
    with running(settings, pm) as service:
        yield service


def test_a_validation_plugin_rejects_a_filing_naming_itself(strict):
    agent = strict.login(Role.agent, "alice")
    assert agent.post("/api/v1/records", json=record_body()).status_code == 201
    before = count(agent)
    response = agent.post("/api/v1/records", json=record_body(subject="REJECT this"))
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "record_rejected"
    assert "strict-intake: the subject must describe the problem" in body["detail"]
    assert "needs-account: no account" in body["detail"]  # every plugin's problems, at once
    assert count(agent) == before


def test_a_validation_plugin_rejects_an_amendment(strict):
    agent = strict.login(Role.agent, "alice")
    record = agent.post("/api/v1/records", json=record_body(subject="LOCKED subject")).json()
    response = patch(agent, record["id"], {"subject": "Changed"})
    assert response.status_code == 422 and response.json()["code"] == "record_rejected"
    assert "strict-intake: this subject is locked" in response.json()["detail"]
    stored = agent.get(f"/api/v1/records/{record['id']}").json()
    assert stored["version"] == record["version"] and stored["subject"] == "LOCKED subject"


def test_a_raising_validation_plugin_fails_the_request_and_stores_nothing(strict):
    agent = strict.login(Role.agent, "alice")
    agent.post("/api/v1/records", json=record_body())
    before = count(agent)
    response = agent.post("/api/v1/records", json=record_body(subject="CRASH it"))
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "plugin_failed"
    assert "crashing-validator" in body["detail"]
    assert count(agent) == before
    record = agent.get("/api/v1/records").json()["items"][0]
    amended = patch(agent, record["id"], {"subject": "CRASH later"})
    assert amended.status_code == 500 and amended.json()["code"] == "plugin_failed"
    assert agent.get(f"/api/v1/records/{record['id']}").json()["version"] == record["version"]


def test_a_raising_classifier_does_not_stop_the_filing(settings):
    with running(settings, with_plugins(crashing_classifier=CrashingClassifier())) as service:
        agent = service.login(Role.agent, "alice")
        response = agent.post("/api/v1/records", json=record_body())
        assert response.status_code == 201, response.text
        record = response.json()
        assert "urgency:urgent" in record["classification"]  # the built-in classifier's codes are kept
        failed = [e for e in record["timeline"] if e["event"] == "classification_failed"]
        assert failed and failed[0]["detail"] == {"plugins": ["crashing-classifier"]}
        assert count(agent) == 1




def test_a_raising_classifier_is_shown_failing(settings):
    with running(settings, with_plugins(crashing_classifier=CrashingClassifier())) as service:
        agent = service.login(Role.agent, "alice")
        assert agent.post("/api/v1/records", json=record_body()).status_code == 201
        state = service.plugins()["crashing-classifier"]
    assert state["status"] == "failing"
    assert state["failures"] == 1 and state["last_failure"].startswith("records_classify raised builtins.")
    assert "model not loaded" not in state["last_failure"]


# --- block and allow lists ----------------------------------------------------------------------------


def test_a_blocked_metrics_plugin_takes_its_metrics_away(settings):
    with running(settings, plugin_manager(block=["telecom-metrics"])) as service:
        agent = service.login(Role.agent, "alice")
        response = agent.get("/api/v1/metrics")
        assert response.status_code == 200 and response.json()["items"] == []
        assert agent.get("/api/v1/metrics/satisfaction_rate").json()["code"] == "metric_not_found"
        assert agent.post("/api/v1/records", json=record_body()).status_code == 201  # everything else works
        listed = service.plugins()
    blocked = listed["telecom-metrics"]
    assert blocked["status"] == "blocked" and blocked["hooks"] == []
    assert "RECORDS_PLUGINS_BLOCK" in blocked["error"]
    assert listed["telecom-workflows"]["status"] == "active"


def test_the_block_setting_blocks_by_module_name_too(data_dir):
    settings = load_settings(data_dir=data_dir, plugins_block="records_telecom.metrics")
    with running(settings) as service:
        assert service.login(Role.agent, "alice").get("/api/v1/metrics").json()["items"] == []
        assert service.plugins()["telecom-metrics"]["status"] == "blocked"


def test_the_block_setting_is_applied_at_start(data_dir):
    settings = load_settings(data_dir=data_dir, plugins_block="telecom-metrics")
    with running(settings) as service:
        agent = service.login(Role.agent, "alice")
        assert agent.get("/api/v1/metrics").json()["items"] == []
        listed = service.plugins()
    assert listed["telecom-metrics"]["status"] == "blocked"
    assert listed["telecom-classification"]["status"] == "active"


def test_the_allow_setting_loads_only_the_named_plugins(data_dir):
    # Any spelling pip would treat as the same name selects the plugin listed as telecom-workflows.
    allowed = "telecom-workflows,telecom_calendars,Telecom.Service_Levels"
    settings = load_settings(data_dir=data_dir, plugins_allow=allowed)
    with running(settings) as service:
        agent = service.login(Role.agent, "alice")
        assert agent.get("/api/v1/metrics").json()["items"] == []
        assert agent.get("/api/v1/classification-schemes").json()["items"] == []
        record = agent.post("/api/v1/records", json=record_body())
        assert record.status_code == 201, record.text
        assert record.json()["classification"] == []  # no classifier loaded
        assert record.json()["deadlines"]  # service levels loaded
        listed = service.plugins()
    for name in ("telecom-workflows", "telecom-calendars", "telecom-service-levels"):
        assert listed[name]["status"] == "active", name
    for name in ("telecom-metrics", "telecom-classification"):
        assert listed[name]["status"] == "blocked" and "RECORDS_PLUGINS_ALLOW" in listed[name]["error"]
    assert listed["local-keys"]["status"] == "active"  # built-ins always load


def test_blocking_the_workflows_refuses_to_start(data_dir):
    """Without any workflow the service cannot file anything: it says so at start."""
    from records.errors import InvalidConfiguration

    settings = load_settings(data_dir=data_dir, plugins_block="telecom-workflows")
    with pytest.raises(BaseException) as caught, running(settings):
        pass
    found = [caught.value, *getattr(caught.value, "exceptions", [])]
    assert any(isinstance(e, InvalidConfiguration) and "workflow" in str(e) for e in found)


# --- plugins that cannot load --------------------------------------------------------------------------


class NopePlugin:
    @hookimpl
    def records_nope(self, record):
        return None


class WrongArguments:
    @hookimpl
    def records_classify(self, record, weather):
        return None


@pytest.fixture
def extra_entry_points(monkeypatch):
    def install(*extra: importlib.metadata.EntryPoint) -> None:
        real = importlib.metadata.entry_points

        def entry_points(**selection):  # type: ignore[no-untyped-def]
            found = list(real(**selection))
            if selection.get("group") == "records":
                found.extend(extra)
            return found

        monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)

    return install


def entry_point(name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group="records")


def test_a_plugin_that_fails_to_import_is_listed_failed_and_the_service_starts(settings, extra_entry_points):
    extra_entry_points(entry_point("broken_import", "no_such_module_xyz"))
    with running(settings) as service:
        agent = service.login(Role.agent, "alice")
        assert agent.post("/api/v1/records", json=record_body()).status_code == 201
        assert len(agent.get("/api/v1/metrics").json()["items"]) == 12
        listed = service.plugins()
    broken = listed["broken-import"]
    assert broken["status"] == "failed"
    assert "no_such_module_xyz" in broken["error"] and "ModuleNotFoundError" in broken["error"]
    assert broken["hooks"] == []
    assert all(listed[name]["status"] == "active" for name in TELECOM_HOOKS)


def test_a_plugin_with_an_unknown_hook_is_refused(settings, extra_entry_points):
    extra_entry_points(entry_point("nope", f"{__name__}:NopePlugin"), entry_point("wrong_arguments", f"{__name__}:WrongArguments"))
    pm = plugin_manager()
    assert pm.get_plugin("nope") is None and pm.get_plugin("wrong_arguments") is None
    with running(settings, pm) as service:
        agent = service.login(Role.agent, "alice")
        response = agent.post("/api/v1/records", json=record_body())
        assert response.status_code == 201, response.text
        listed = service.plugins()
    assert listed["nope"]["status"] == "failed" and "records_nope" in listed["nope"]["error"]
    assert listed["wrong-arguments"]["status"] == "failed" and "weather" in listed["wrong-arguments"]["error"]


def test_a_blocked_entry_point_is_not_even_imported(settings, extra_entry_points):
    extra_entry_points(entry_point("broken_import", "no_such_module_xyz"))
    with running(settings, plugin_manager(block=["broken_import"])) as service:
        state = service.plugins()["broken-import"]
    assert state["status"] == "blocked"  # not "failed": it was never loaded


# --- GET /api/v1/plugins ---------------------------------------------------------------------------------


def test_every_built_in_plugin_is_listed_with_version_origin_and_hooks(client, plugin_manager, admin, agent):
    response = plugin_manager.get("/api/v1/plugins")
    assert response.status_code == 200, response.text
    listed = {p["name"]: p for p in response.json()["items"]}
    version = importlib.metadata.version("records")
    for name, hooks in TELECOM_HOOKS.items():
        plugin = listed[name]
        assert plugin["origin"] == "built-in", name  # shipped with records, loaded through its entry points
        assert plugin["version"] == version, name
        assert plugin["hooks"] == hooks, name
        assert plugin["status"] == "active" and plugin["failures"] == 0 and plugin["error"] is None, name
    keys = listed["local-keys"]
    assert keys["origin"] == "built-in" and keys["hooks"] == ["records_key_provider"] and keys["status"] == "active"
    assert admin.get("/api/v1/plugins").status_code == 200
    refused = agent.get("/api/v1/plugins")
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
