"""Files move along the stages their kind's workflow plugin declares (SPEC.md "Workflow stages")."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from records import hookimpl
from records.api.app import create_app
from records.models import Kind
from records.plugins.manager import plugin_manager
from records.roles import Role
from records.workflow import Stage, Transition, Workflow
from tests.conftest import record_body

PATHS = {
    "consultation": ["received", "accepted", "classified", "processing", "answered", "archived"],
    "work_order": ["pending", "processing", "processed", "feedback_given", "archived"],
    "complaint": ["accepted", "investigating", "handling", "feedback", "archived"],
    "emergency": ["received", "assigned", "processing", "feedback", "archived"],
}


DELIVERY = ["delivery_preparation", "acceptance_test", "delivery_passed", "delivery_failed", "rectification", "followed_up"]


def move(who, record_id, to, **extra):
    return who.post(f"/api/v1/records/{record_id}/transitions", json={"to": to, **extra})


def patch(who, record, body):
    response = who.patch(f"/api/v1/records/{record['id']}", json=body, headers={"If-Match": f'"{record["version"]}"'})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("kind", list(PATHS))
def test_each_kind_goes_through_its_whole_workflow(kind, agent, archivist):
    record = agent.post("/api/v1/records", json=record_body(kind)).json()
    assert record["status"] == PATHS[kind][0]
    for to in PATHS[kind][1:]:
        if to == "archived":
            record = patch(agent, record, {"feedback": {"satisfaction": 5}}) if record["feedback"] is None else record
            response = move(archivist, record["id"], to, note="archived after feedback")
        else:
            if to in ("answered", "processed", "feedback") and record["result"] is None:
                record = patch(agent, record, {"result": "Resolved: signal restored."})
            if to == "feedback_given":
                record = patch(agent, record, {"feedback": {"satisfaction": 4, "comment": "ok"}})
            response = move(agent, record["id"], to)
        assert response.status_code == 200, f"{record['status']} → {to}: {response.text}"
        record = response.json()
        assert record["status"] == to
        assert record["timeline"][-1]["event"] == "transitioned"
        detail = record["timeline"][-1]["detail"]
        assert {k: v for k, v in detail.items() if k != "note_id"} == {"from": PATHS[kind][PATHS[kind].index(to) - 1], "to": to}
    assert record["archived_at"] is not None and record["archived_by"] == "ada"
    assert record["notes"][-1]["text"] == "archived after feedback"
    # The move's reason is its note: the timeline points at it (the text itself stays sealed in the note).
    assert record["timeline"][-1]["detail"]["note_id"] == record["notes"][-1]["id"]
    # Archived: the content is a record now; only annotations may be added.
    stale = agent.patch(f"/api/v1/records/{record['id']}", json={"subject": "rewrite history"},
                        headers={"If-Match": f'"{record["version"]}"'})
    assert stale.status_code == 409 and stale.json()["code"] == "record_archived"
    upload = agent.post(f"/api/v1/records/{record['id']}/attachments", files={"file": ("x.txt", b"x", "text/plain")})
    assert upload.status_code == 409 and upload.json()["code"] == "record_archived"
    assert agent.post(f"/api/v1/records/{record['id']}/notes", json={"text": "annotation"}).status_code == 201
    final = move(archivist, record["id"], "accepted")
    assert final.status_code == 409 and "none (final stage)" in final.json()["detail"]


def test_undeclared_transition_is_409_with_the_allowed_ones(agent, filed):
    response = move(agent, filed["id"], "archived")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "transition_not_allowed"
    assert "investigating" in body["detail"]
    unknown = move(agent, filed["id"], "teleported")
    assert unknown.status_code == 409
    assert agent.get(f"/api/v1/records/{filed['id']}").json()["status"] == "accepted"


@pytest.mark.parametrize("bad", [{"to": ""}, {"to": "Not A Stage"}, {"to": "x" * 65}, {}, {"to": "handling", "why": "x"}])
def test_malformed_transition_bodies_are_422(agent, filed, bad):
    response = agent.post(f"/api/v1/records/{filed['id']}/transitions", json=bad)
    assert response.status_code == 422


def test_guards_give_the_reason(agent, filed):
    assert move(agent, filed["id"], "investigating").status_code == 200
    assert move(agent, filed["id"], "handling").status_code == 200
    refused = move(agent, filed["id"], "feedback")  # a complaint needs its result first (SPEC §1.5)
    assert refused.status_code == 422
    assert refused.json()["code"] == "transition_refused"
    assert "result" in refused.json()["detail"]
    assert agent.get(f"/api/v1/records/{filed['id']}").json()["status"] == "handling"


def test_roles_of_a_transition(agent, archivist, compliance_officer, filed):
    assert move(archivist, filed["id"], "investigating").status_code == 403  # archivists archive, not handle
    assert move(compliance_officer, filed["id"], "investigating").status_code == 403


def test_only_the_owner_or_a_supervisor_moves_a_work_order(agent, other_agent, supervisor):
    order = agent.post("/api/v1/records", json=record_body("work_order")).json()
    refused = move(other_agent, order["id"], "processing")
    assert refused.status_code == 422 and "alice" in refused.json()["detail"]
    assert move(supervisor, order["id"], "processing").status_code == 200


def test_stale_if_match_on_a_transition_is_409(agent, filed):
    response = agent.post(f"/api/v1/records/{filed['id']}/transitions", json={"to": "investigating"},
                          headers={"If-Match": '"7"'})
    assert response.status_code == 409 and response.json()["code"] == "version_conflict"


def test_workflows_are_listed(agent):
    items = agent.get("/api/v1/workflows").json()["items"]
    by_kind = {w["kind"]: w for w in items}
    assert set(by_kind) == set(PATHS)
    for kind, path in PATHS.items():
        workflow = by_kind[kind]
        stages = path if kind != "work_order" else path[:-1] + DELIVERY + ["archived"]
        assert workflow["initial"] == path[0]
        assert [s["name"] for s in workflow["stages"]] == stages
        assert [s["final"] for s in workflow["stages"]] == [False] * (len(stages) - 1) + [True]
        moves = {(t["from"], t["to"]) for t in workflow["transitions"]}
        assert moves >= set(zip(path, path[1:], strict=False))
        if kind == "work_order":  # SPEC §4.2: acceptance, and a failed test leads back through rectification
            assert moves - set(zip(path, path[1:], strict=False)) == {
                ("processing", "delivery_preparation"), ("delivery_preparation", "acceptance_test"),
                ("acceptance_test", "delivery_passed"), ("acceptance_test", "delivery_failed"),
                ("delivery_failed", "rectification"), ("rectification", "delivery_preparation"),
                ("delivery_passed", "processed"), ("feedback_given", "followed_up"), ("followed_up", "archived")}
            assert workflow["acceptance"] == {"passed": "delivery_passed", "failed": "delivery_failed"}
        else:
            assert moves == set(zip(path, path[1:], strict=False))
    complaint = {(t["from"], t["to"]): t for t in by_kind["complaint"]["transitions"]}
    assert complaint[("feedback", "archived")]["guards"] == ["has_feedback"]
    assert set(complaint[("feedback", "archived")]["roles"]) == {"archivist", "supervisor", "admin"}


def test_plugins_are_listed(as_role):
    listed = as_role(Role.plugin_manager, "pat").get("/api/v1/plugins").json()["items"]
    by_name = {p["name"]: p for p in listed}
    shipped = by_name["telecom-workflows"]
    assert shipped["origin"] == "built-in" and shipped["version"]
    assert shipped["hooks"] == ["records_register_guards", "records_register_workflows"]
    assert by_name["local-keys"]["origin"] == "built-in"


class EscalationPlugin:
    """A team's plugin: emergencies gain an 'escalated' stage, and a guard that fails."""

    @hookimpl
    def records_register_guards(self, register):
        def broken(record, transition, actor):
            raise RuntimeError("pager service unreachable")

        register("page_on_call", broken)

    @hookimpl
    def records_register_workflows(self, register):
        register(Workflow(
            kind=Kind.emergency, initial="received",
            stages=[Stage(name="received"), Stage(name="escalated"), Stage(name="paged"), Stage(name="archived", final=True)],
            transitions=[
                Transition(from_="received", to="escalated", roles=[Role.supervisor, Role.agent]),
                Transition(from_="escalated", to="paged", roles=[Role.agent], guards=["page_on_call"]),
                Transition(from_="escalated", to="archived", roles=[Role.archivist]),
            ],
        ))


@pytest.fixture
def escalation_client(settings):
    pm = plugin_manager()
    pm.register(EscalationPlugin(), name="escalation")
    app = create_app(settings, plugins=pm)
    with TestClient(app, raise_server_exceptions=False) as client:
        with client.portal() as portal:
            token = portal.call(app.state.token_service.issue, "alice", "agent").token
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def test_a_plugin_replaces_a_workflow_and_its_guard_failures_name_it(escalation_client):
    client = escalation_client
    workflows = {w["kind"]: w for w in client.get("/api/v1/workflows").json()["items"]}
    assert [s["name"] for s in workflows["emergency"]["stages"]] == ["received", "escalated", "paged", "archived"]
    record = client.post("/api/v1/records", json=record_body("emergency")).json()
    assert record["status"] == "received"
    assert client.post(f"/api/v1/records/{record['id']}/transitions", json={"to": "escalated"}).status_code == 200
    failed = client.post(f"/api/v1/records/{record['id']}/transitions", json={"to": "paged"})
    assert failed.status_code == 500
    assert failed.json()["code"] == "plugin_failed"
    assert "page_on_call" in failed.json()["detail"] and "test_workflows" in failed.json()["detail"]
    assert client.get(f"/api/v1/records/{record['id']}").json()["status"] == "escalated"


class BrokenClassifier:
    @hookimpl
    def records_classify(self, record):
        raise RuntimeError("classifier model not loaded")


class RegionClassifier:
    @hookimpl
    def records_classify(self, record):
        return ["region:north.haidian", "Not A Code"]  # the malformed one is dropped


def test_a_failing_classifier_is_isolated(settings):
    pm = plugin_manager()
    pm.register(BrokenClassifier(), name="broken-classifier")
    pm.register(RegionClassifier(), name="region-classifier")
    app = create_app(settings, plugins=pm)
    with TestClient(app, raise_server_exceptions=False) as client:
        with client.portal() as portal:
            token = portal.call(app.state.token_service.issue, "alice", "agent").token
        response = client.post("/api/v1/records", json=record_body(), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.text
    record = response.json()
    assert "region:north.haidian" in record["classification"] and "Not A Code" not in record["classification"]
    assert "urgency:urgent" in record["classification"]  # the built-in classifier still ran
    failed = [e for e in record["timeline"] if e["event"] == "classification_failed"]
    assert failed and failed[0]["detail"] == {"plugins": ["broken-classifier"]}
