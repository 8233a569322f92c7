"""The access audit log seen through the API: every operation leaves an event, refusals and
failures included; a change and its event commit together; checkpoints, inclusion and
consistency proofs verify with the independent RFC 9162 verifier in ``tests/audit/rfc9162.py``
over leaves the test re-derives from what ``GET /api/v1/audit/events`` returns; queries filter,
page and export every matching event.

Nothing here checks a proof with ``records.audit.merkle``: leaves, roots and the signed message
are recomputed from their documented definitions.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from litestar import Litestar
from litestar.testing import TestClient

from records.audit.events import AuditEventDraft, Outcome
from records.audit.log import EventQuery
from records.plugins.signing import public_pem
from records.roles import Role
from records.settings import RecordsSettings
from tests.audit.rfc9162 import mth, unhex, unhex_path, verify_consistency, verify_inclusion
from tests.conftest import RoleClient, record_body
from tests.helpers.audit_events import EVENTS, canonical_from_api, is_problem
from tests.plugin_wheels import build_wheel

CHECKPOINTS = "/api/v1/audit/checkpoints"
RECORDS = "/api/v1/records"


# --- helpers ---------------------------------------------------------------------------------


def log_size(app: Litestar, client: TestClient) -> int:
    with client.portal() as portal:
        return portal.call(app.state.storage.audit.size)


def events_after(app: Litestar, client: TestClient, size_before: int) -> list[dict[str, Any]]:
    """Events with seq >= size_before, straight from the service (no API call, so no new event)."""
    with client.portal() as portal:
        found = portal.call(app.state.audit_service.find, EventQuery(after_seq=size_before - 1, limit=100_000))
    return [e.model_dump(mode="json") for e in found]


def event_for(app: Litestar, client: TestClient, size_before: int, request_id: str | None) -> dict[str, Any]:
    matching = [e for e in events_after(app, client, size_before) if e["request_id"] == request_id]
    assert len(matching) == 1, f"expected exactly one event for request {request_id}, got {matching}"
    return matching[0]


def all_events(reader: RoleClient, **params: Any) -> list[dict[str, Any]]:
    """Every event matching ``params``, page by page through the API."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": 500, **params, **({"cursor": cursor} if cursor else {})}
        response = reader.get(EVENTS, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        found.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def leaf_of(event: dict[str, Any]) -> bytes:
    return hashlib.sha256(b"\x00" + canonical_from_api(event)).digest()


def signed_message(tree_size: int, root_hash: str, timestamp: str) -> bytes:
    """The checkpoint's signed text per the docstring of records.audit.log.checkpoint_message:
    a header line then one ``name value`` field per line, each line ending in a newline."""
    lines = ["records audit checkpoint v1", f"tree_size {tree_size}", f"root_hash {root_hash}", f"timestamp {timestamp}"]
    return "".join(line + "\n" for line in lines).encode("utf-8")


def issue(app: Litestar, client: TestClient, name: str, role: Role) -> str:
    with client.portal() as portal:
        return portal.call(app.state.token_service.issue, name, role.value).token


# --- every operation under /api is audited ----------------------------------------------------


def _handlers_by_operation(app: Litestar) -> dict[tuple[str, str], Any]:
    """(method, OpenAPI path) -> the route handler serving it, read from the app's routes."""
    found = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            for method in handler.http_methods:
                found[(method.lower(), path)] = handler
    return found


@dataclass
class WalkContext:
    app: Litestar
    client: TestClient
    record_id: str
    attachment_id: str
    revocable_token: str
    sealed_size: int
    batch_record_id: str = ""
    publisher: Any = None  # Ed25519 key trusted for the walk's plugin installs
    review_target: dict[str, str] | None = None  # an item waiting for a review stage every reviewing role decides

    def signed_wheel(self, version: str) -> dict[str, Any]:
        filename, wheel = build_wheel(version=version)
        signature = base64.b64encode(self.publisher.sign(wheel)).decode()
        return {"files": {"wheel": (filename, wheel, "application/zip"), "signature": (None, signature)}}

    def version(self) -> int:
        with self.client.portal() as portal:
            return portal.call(self.app.state.storage.records.get, self.record_id).version


# operationId -> (role to call as, or None for admin when admitted; request keyword arguments).
CallSpec = tuple[Role | None, Callable[[WalkContext], dict[str, Any]]]
OPERATION_CALLS: dict[str, CallSpec] = {
    "fileRecord": (None, lambda c: {"json": record_body()}),
    "listRecords": (None, lambda c: {"params": {"limit": 5}}),
    "getRecord": (None, lambda c: {}),
    "revealIdentity": (Role.compliance_officer, lambda c: {"headers": {"X-Purpose": "walk"}}),
    "amendRecord": (None, lambda c: {"json": {"subject": f"amended at v{c.version()}"},
                                     "headers": {"If-Match": f'"{c.version()}"'}}),
    "addNote": (None, lambda c: {"json": {"text": "walked past"}}),
    # The walk's record is a complaint in its first stage; handlers may open the investigation.
    "transitionRecord": (None, lambda c: {"json": {"to": "investigating"}}),
    "listWorkflows": (None, lambda c: {}),
    "listClassificationSchemes": (None, lambda c: {}),
    "listPlugins": (None, lambda c: {}),
    "uploadAttachment": (None, lambda c: {"files": {"file": ("walk.txt", b"walk", "text/plain")}}),
    # An identity role: for masked roles the same download is recorded as attachment.reveal (tests/api/test_free_text_masking.py).
    "downloadAttachment": (Role.agent, lambda c: {}),
    "createToken": (None, lambda c: {"json": {"name": "walk-new", "role": "agent"}}),
    "listTokens": (None, lambda c: {}),
    "revokeToken": (None, lambda c: {}),
    "whoAmI": (None, lambda c: {}),
    "latestCheckpoint": (None, lambda c: {}),
    "sealCheckpoint": (Role.compliance_officer, lambda c: {}),
    "inclusionProof": (None, lambda c: {"params": {"index": 0, "tree_size": c.sealed_size}}),
    "consistencyProof": (None, lambda c: {"params": {"first": 1, "second": c.sealed_size}}),
    "auditPublicKeys": (None, lambda c: {}),
    "listAuditEvents": (Role.compliance_officer, lambda c: {"params": {"limit": 3}}),
    "listMetrics": (None, lambda c: {}),
    "getMetric": (None, lambda c: {"params": {"group_by": "day"}}),
    "listServiceLevels": (None, lambda c: {}),
    # The walk pre-installs the example plugin at 1.0.0: this upgrades it; the others act on it.
    "installPlugin": (None, lambda c: c.signed_wheel("2.0.0")),
    "disablePlugin": (None, lambda c: {}),
    "enablePlugin": (None, lambda c: {}),
    "uninstallPlugin": (None, lambda c: {}),
    "listTrustedKeys": (None, lambda c: {}),
    "trustKey": (None, lambda c: {"json": {"name": "walk-new-key", "public_key": public_pem(Ed25519PrivateKey.generate().public_key())}}),
    "distrustKey": (None, lambda c: {}),
    "createRetentionSchedule": (None, lambda c: {"json": {"name": "Walk", "kinds": ["emergency"], "period": "P7Y",
                                                          "action": "destroy"}}),
    "listRetentionSchedules": (None, lambda c: {}),
    "getRetentionSchedule": (None, lambda c: {}),
    "amendRetentionSchedule": (Role.archivist, lambda c: {"json": {"period": "P4Y", "reason": "walk"}}),
    "reapplyRetentionSchedule": (None, lambda c: {"json": {"reason": "walk"}}),
    "fireRetentionEvent": (None, lambda c: {"json": {"name": "account_closed", "record_ids": [c.record_id]}}),
    "placeLegalHold": (None, lambda c: {"json": {"reason": "walk", "case_reference": "W", "record_ids": [c.record_id]}}),
    "listLegalHolds": (Role.compliance_officer, lambda c: {}),
    "getLegalHold": (None, lambda c: {}),
    "releaseLegalHold": (Role.archivist, lambda c: {"json": {"reason": "walk"}}),
    "runDispositionSweep": (None, lambda c: {"json": {"as_of": "2999-01-01T00:00:00Z"}}),
    "listDispositionBatches": (None, lambda c: {}),
    "getDispositionBatch": (None, lambda c: {}),
    "decideDispositionItems": (Role.archivist, lambda c: {"json": {"decisions": [
        {"record_id": c.batch_record_id, "decision": "approve"}]}}),
    "executeDispositionBatch": (None, lambda c: {}),
    "getDestructionCertificate": (Role.compliance_officer, lambda c: {}),
    "getRecordRetention": (Role.compliance_officer, lambda c: {}),
    "listRetentionFloors": (Role.compliance_officer, lambda c: {}),
    "getRetentionFloor": (None, lambda c: {}),
    "declareRetentionFloor": (Role.archivist, lambda c: {"json": {"kinds": ["emergency"], "minimum_period": "P2Y",
                                                                   "reason": "walk"}}),
    "removeRetentionFloor": (None, lambda c: {"json": {"reason": "walk"}}),
    "listHeldRecords": (Role.compliance_officer, lambda c: {}),
    "listReviews": (Role.archivist, lambda c: {}),
    "decideReviews": (Role.compliance_officer, lambda c: {"json": {"decision": "approve", "items": [c.review_target]}}),
}


def test_every_api_operation_in_the_schema_leaves_an_event(app: Litestar, client: TestClient, admin: RoleClient,
                                                           as_role: Callable[..., RoleClient]) -> None:
    callers = {Role.admin: admin}
    for role in Role:
        callers.setdefault(role, as_role(role, f"walk-{role.value}".replace("_", "-")))
    filed = admin.post(RECORDS, json=record_body())
    assert filed.status_code == 201, filed.text
    record_id = filed.json()["id"]
    uploaded = admin.post(f"{RECORDS}/{record_id}/attachments", files={"file": ("a.txt", b"attached", "text/plain")})
    assert uploaded.status_code == 201, uploaded.text
    issue(app, client, "walk-victim", Role.agent)
    with client.portal() as portal:
        sealed = portal.call(app.state.audit_service.seal).tree_size
    assert sealed >= 2
    from tests.retention import setup as retention_setup

    certificate_id = retention_setup.certificate(admin)
    batch_id = retention_setup.open_batch(admin, approve=True)
    batch_record_id = admin.get(f"/api/v1/retention/batches/{batch_id}").json()["items"][0]["record_id"]
    with client.portal() as portal:
        sealed = portal.call(app.state.audit_service.seal).tree_size
    ctx = WalkContext(app, client, record_id, uploaded.json()["id"], "walk-victim", sealed, batch_record_id,
                      Ed25519PrivateKey.generate())
    ctx.review_target = retention_setup.review_item(admin)
    for key_name, key in (("walk-key", ctx.publisher), ("walk-spare", Ed25519PrivateKey.generate())):
        assert admin.post("/api/v1/plugins/trusted-keys", json={"name": key_name, "public_key": public_pem(key.public_key())}).status_code == 201
    installed = callers[Role.plugin_manager].post("/api/v1/plugins", **ctx.signed_wheel("1.0.0"))
    assert installed.status_code == 201, installed.text
    path_values = {"record_id": record_id, "attachment_id": ctx.attachment_id, "name": ctx.revocable_token,
                   "metric": "satisfaction_rate", "plugin": installed.json()["name"], "key_name": "walk-spare",
                   "schedule_id": retention_setup.schedule_id(admin), "hold_id": retention_setup.hold(admin, record_id),
                   "batch_id": batch_id, "certificate_id": certificate_id, "floor_id": retention_setup.floor(admin)}

    spec = client.get("/schema/openapi.json").json()
    handlers = _handlers_by_operation(app)
    walked = []
    for path, operations in spec["paths"].items():
        if not path.startswith("/api"):
            continue
        for method, operation in operations.items():
            op_id = operation.get("operationId")
            assert op_id in OPERATION_CALLS, (
                f"{method.upper()} {path} ({op_id}) is new to this test: add a valid call for it to OPERATION_CALLS "
                "and make sure the route declares its audit action"
            )
            handler = handlers[(method, path)]
            action = handler.opt.get("audit")
            assert action, f"{method.upper()} {path} ({op_id}) declares no audit action: its calls leave no event"
            admitted = handler.opt.get("roles") or frozenset()
            assert admitted, f"{op_id} admits no role"
            preferred, build = OPERATION_CALLS[op_id]
            role = preferred or (Role.admin if Role.admin in admitted else sorted(admitted)[0])
            assert role in admitted, f"{op_id}: {role} is not admitted ({sorted(admitted)})"
            caller = callers[role]

            kwargs = build(ctx)
            unknown = set(re.findall(r"\{(\w+)\}", path)) - set(path_values)
            assert not unknown, f"{op_id}: no value for path parameters {unknown}"
            url = re.sub(r"\{(\w+)\}", lambda m: path_values[m.group(1)], path)
            before = log_size(app, client)
            response = caller.request(method.upper(), url, **kwargs)
            after = log_size(app, client)

            assert 200 <= response.status_code < 300, f"{op_id}: {response.status_code} {response.text}"
            assert after >= before + 1, f"{op_id}: the log did not grow ({before} -> {after})"
            new = events_after(app, client, before)
            mine = [e for e in new if e["action"] == action and e["actor"] == caller.name]
            assert mine, f"{op_id}: no {action} event by {caller.name} among {new}"
            request_id = response.headers.get("x-request-id")
            assert request_id and any(e["request_id"] == request_id for e in mine), (op_id, request_id, mine)
            event = next(e for e in mine if e["request_id"] == request_id)
            assert event["outcome"] == "allowed" and event["role"] == role.value, event
            walked.append(op_id)
    assert len(walked) == len(set(walked)) == len(OPERATION_CALLS), sorted(set(OPERATION_CALLS) - set(walked))


def test_every_api_route_declares_an_audit_action(app: Litestar) -> None:
    """Also routes left out of the schema: anything under /api must be audited."""
    for (method, path), handler in _handlers_by_operation(app).items():
        if not path.startswith("/api") or method == "options":
            continue
        assert handler.opt.get("audit"), f"{method.upper()} {path} is not audited"


# --- refusals and failures are events --------------------------------------------------------


def test_no_token_is_a_denied_event_without_actor(app: Litestar, client: TestClient) -> None:
    before = log_size(app, client)
    response = client.get(RECORDS)
    is_problem(response, 401)
    new = events_after(app, client, before)
    assert len(new) == 1, new
    event = new[0]
    assert event["action"] == "record.list"
    assert (event["outcome"], event["status"], event["actor"], event["role"]) == ("denied", 401, None, None)
    assert event["request_id"]

    before = log_size(app, client)
    response = client.get(f"{RECORDS}/abc", headers={"Authorization": "Bearer rec_not-a-real-token"})
    is_problem(response, 401)
    (event,) = events_after(app, client, before)
    assert (event["action"], event["outcome"], event["status"], event["actor"]) == ("record.read", "denied", 401, None)
    assert event["targets"] == ["record:abc"]


def test_no_token_response_carries_the_events_request_id(app: Litestar, client: TestClient) -> None:
    before = log_size(app, client)
    response = client.get(RECORDS)
    assert response.status_code == 401
    (event,) = events_after(app, client, before)
    assert response.headers.get("x-request-id") == event["request_id"]


def test_wrong_role_is_a_denied_event_with_the_actor(app: Litestar, client: TestClient, agent: RoleClient) -> None:
    before = log_size(app, client)
    response = agent.get("/api/v1/tokens")
    is_problem(response, 403)
    event = event_for(app, client, before, response.headers["x-request-id"])
    assert (event["action"], event["outcome"], event["status"]) == ("token.list", "denied", 403)
    assert (event["actor"], event["role"]) == ("alice", "agent")


def test_not_found_is_a_failed_event(app: Litestar, client: TestClient, agent: RoleClient) -> None:
    before = log_size(app, client)
    response = agent.get(f"{RECORDS}/00000000-0000-4000-8000-000000000000")
    is_problem(response, 404)
    event = event_for(app, client, before, response.headers["x-request-id"])
    assert (event["action"], event["outcome"], event["status"], event["actor"]) == ("record.read", "failed", 404, "alice")
    assert event["targets"] == ["record:00000000-0000-4000-8000-000000000000"]


def test_validation_error_is_a_failed_event(app: Litestar, client: TestClient, agent: RoleClient) -> None:
    before = log_size(app, client)
    response = agent.post(RECORDS, json={"kind": "complaint"})
    is_problem(response, 422, "validation_failed")
    event = event_for(app, client, before, response.headers["x-request-id"])
    assert (event["action"], event["outcome"], event["status"], event["actor"]) == ("record.create", "failed", 422, "alice")


def test_purpose_lands_in_the_event(app: Litestar, client: TestClient, agent: RoleClient,
                                    compliance_officer: RoleClient, filed: dict[str, Any]) -> None:
    before = log_size(app, client)
    response = compliance_officer.get(f"{RECORDS}/{filed['id']}/identity", headers={"X-Purpose": "complaint audit 2026-11"})
    assert response.status_code == 200, response.text
    event = event_for(app, client, before, response.headers["x-request-id"])
    assert (event["action"], event["purpose"], event["actor"]) == ("record.reveal_identity", "complaint audit 2026-11", "carl")

    # A change commits its event itself: the purpose travels with it too.
    before = log_size(app, client)
    response = agent.post(RECORDS, json=record_body(), headers={"X-Purpose": "customer called"})
    assert response.status_code == 201, response.text
    event = event_for(app, client, before, response.headers["x-request-id"])
    assert (event["action"], event["purpose"]) == ("record.create", "customer called")

    # Without the header, no purpose.
    before = log_size(app, client)
    response = agent.get(f"{RECORDS}/{filed['id']}")
    assert event_for(app, client, before, response.headers["x-request-id"])["purpose"] is None


def test_over_long_purpose_is_refused_and_still_an_event(app: Litestar, client: TestClient, agent: RoleClient,
                                                          filed: dict[str, Any]) -> None:
    before = log_size(app, client)
    response = agent.get(f"{RECORDS}/{filed['id']}", headers={"X-Purpose": "x" * 501})
    is_problem(response, 422, "validation_failed")
    (event,) = events_after(app, client, before)
    assert (event["outcome"], event["status"], event["action"]) == ("failed", 422, "record.read")
    assert event["purpose"] == "x" * 500
    assert event["request_id"] in response.headers["x-request-id"]


def test_over_long_purpose_event_names_the_caller(app: Litestar, client: TestClient, agent: RoleClient) -> None:
    before = log_size(app, client)
    response = agent.get(RECORDS, headers={"X-Purpose": "x" * 501})
    assert response.status_code == 422
    (event,) = events_after(app, client, before)
    assert (event["actor"], event["role"]) == ("alice", "agent")


def test_over_long_purpose_response_carries_one_request_id(app: Litestar, client: TestClient, agent: RoleClient) -> None:
    before = log_size(app, client)
    response = agent.get(RECORDS, headers={"X-Purpose": "x" * 501})
    assert response.status_code == 422
    (event,) = events_after(app, client, before)
    assert response.headers.get_list("x-request-id") == [event["request_id"]]


@pytest.mark.parametrize("case", ["allowed", "created", "denied", "not_found", "invalid", "conflict", "export"])
def test_response_carries_the_events_request_id(app: Litestar, client: TestClient, agent: RoleClient,
                                                compliance_officer: RoleClient, filed: dict[str, Any], case: str) -> None:
    calls: dict[str, tuple[RoleClient, str, str, dict[str, Any], int]] = {
        "allowed": (agent, "GET", f"{RECORDS}/{filed['id']}", {}, 200),
        "created": (agent, "POST", RECORDS, {"json": record_body()}, 201),
        "denied": (agent, "GET", EVENTS, {}, 403),
        "not_found": (agent, "GET", f"{RECORDS}/nope", {}, 404),
        "invalid": (agent, "POST", f"{RECORDS}/{filed['id']}/notes", {"json": {}}, 422),
        "conflict": (agent, "PATCH", f"{RECORDS}/{filed['id']}", {"json": {"subject": "x"}, "headers": {"If-Match": '"9"'}}, 409),
        "export": (compliance_officer, "GET", EVENTS, {"params": {"format": "jsonl"}}, 200),
    }
    caller, method, url, kwargs, status = calls[case]
    before = log_size(app, client)
    response = caller.request(method, url, **kwargs)
    assert response.status_code == status, response.text
    request_id = response.headers.get("x-request-id")
    assert request_id, response.headers
    assert response.headers.get_list("x-request-id") == [request_id]
    event = event_for(app, client, before, request_id)
    assert event["actor"] == caller.name and event["status"] in (status, None)


# --- a change and its event commit together ----------------------------------------------------


def test_filing_commits_its_event_naming_the_record(app: Litestar, client: TestClient, agent: RoleClient) -> None:
    before = log_size(app, client)
    response = agent.post(RECORDS, json=record_body())
    assert response.status_code == 201, response.text
    record_id = response.json()["id"]
    new = events_after(app, client, before)
    assert len(new) == 1, new  # one event: the one committed with the record, not a second from the middleware
    (event,) = new
    assert event["action"] == "record.create" and event["outcome"] == "allowed"
    assert f"record:{record_id}" in event["targets"]
    assert event["request_id"] == response.headers["x-request-id"]


def test_stale_if_match_is_a_failed_event(app: Litestar, client: TestClient, agent: RoleClient,
                                          filed: dict[str, Any]) -> None:
    first = agent.patch(f"{RECORDS}/{filed['id']}", json={"subject": "first"}, headers={"If-Match": '"1"'})
    assert first.status_code == 200, first.text
    before = log_size(app, client)
    stale = agent.patch(f"{RECORDS}/{filed['id']}", json={"subject": "second"}, headers={"If-Match": '"1"'})
    is_problem(stale, 409, "version_conflict")
    new = events_after(app, client, before)
    assert [(e["action"], e["outcome"], e["status"]) for e in new] == [("record.amend", "failed", 409)], new
    assert new[0]["request_id"] == stale.headers["x-request-id"]
    assert agent.get(f"{RECORDS}/{filed['id']}").json()["subject"] == "first"


def test_amend_that_loses_a_race_records_failed_not_allowed(app: Litestar, client: TestClient, agent: RoleClient,
                                                           filed: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The If-Match was current when checked, but another writer commits first: the event drafted
    for the change must not survive the change that did not happen."""
    repository = app.state.storage.records
    real_replace = repository.replace
    raced: list[int] = []

    async def replace_after_a_competitor(record, expected_version, events=()):  # type: ignore[no-untyped-def]
        if not raced:
            current = await repository.get(record.id)
            competitor = current.model_copy(update={"version": current.version + 1})
            assert await real_replace(competitor, expected_version=current.version)  # commits first, no event
            raced.append(current.version + 1)
        return await real_replace(record, expected_version=expected_version, events=events)

    monkeypatch.setattr(repository, "replace", replace_after_a_competitor)
    before = log_size(app, client)
    response = agent.patch(f"{RECORDS}/{filed['id']}", json={"subject": "lost"}, headers={"If-Match": '"1"'})
    is_problem(response, 409, "version_conflict")
    assert raced == [2]
    new = events_after(app, client, before)
    assert [(e["action"], e["outcome"], e["status"]) for e in new] == [("record.amend", "failed", 409)], new
    assert new[0]["request_id"] == response.headers["x-request-id"]


def test_reads_name_every_record_and_attachment_they_returned(app: Litestar, client: TestClient, agent: RoleClient) -> None:
    ids = [agent.post(RECORDS, json=record_body(subject=f"listed {n}")).json()["id"] for n in range(3)]
    before = log_size(app, client)
    listed = agent.get(RECORDS, params={"customer_phone": "13812345678"})
    assert {item["id"] for item in listed.json()["items"]} == set(ids)
    event = event_for(app, client, before, listed.headers["x-request-id"])
    assert sorted(t for t in event["targets"] if not t.startswith("lookup:")) == sorted(f"record:{i}" for i in ids)
    assert [t.split(":")[1] for t in event["targets"] if t.startswith("lookup:")] == ["customer.phone"]

    attachment = agent.post(f"{RECORDS}/{ids[0]}/attachments", files={"file": ("a.txt", b"abc", "text/plain")}).json()
    before = log_size(app, client)
    download = agent.get(f"{RECORDS}/{ids[0]}/attachments/{attachment['id']}")
    assert download.content == b"abc"
    event = event_for(app, client, before, download.headers["x-request-id"])
    assert event["action"] == "attachment.download"
    assert set(event["targets"]) == {f"record:{ids[0]}", f"attachment:{attachment['id']}"}


def test_change_events_carry_the_http_status(app: Litestar, client: TestClient, agent: RoleClient) -> None:
    before = log_size(app, client)
    response = agent.post(RECORDS, json=record_body())
    assert response.status_code == 201
    assert event_for(app, client, before, response.headers["x-request-id"])["status"] == 201


def test_failed_change_leaves_a_failed_event(app: Litestar, client: TestClient, admin: RoleClient) -> None:
    first = admin.post("/api/v1/tokens", json={"name": "twice", "role": "agent"})
    assert first.status_code == 201, first.text
    before = log_size(app, client)
    again = admin.post("/api/v1/tokens", json={"name": "twice", "role": "agent"})
    is_problem(again, 409)
    event = event_for(app, client, before, again.headers["x-request-id"])
    assert (event["action"], event["outcome"], event["status"]) == ("token.create", "failed", 409)


def test_failed_cli_change_leaves_a_failed_event(app: Litestar, client: TestClient, settings: RecordsSettings) -> None:
    from click.testing import CliRunner

    from records.cli import main

    issue(app, client, "taken", Role.agent)
    before = log_size(app, client)
    result = CliRunner().invoke(main, ["tokens", "create", "--role", "agent", "--name", "taken",
                                       "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 2, result.output
    new = events_after(app, client, before)
    assert [(e["action"], e["outcome"]) for e in new] == [("token.create", "failed")], new


def _refuse_audit_inserts(settings: RecordsSettings, refuse: bool) -> None:
    """Make every INSERT into audit_events fail (or work again), through a second connection."""
    with sqlite3.connect(settings.database_path, isolation_level=None) as conn:
        if refuse:
            conn.execute("CREATE TRIGGER no_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'refused'); END")
        else:
            conn.execute("DROP TRIGGER no_audit")
    conn.close()


def test_no_event_no_action(app: Litestar, client: TestClient, agent: RoleClient, settings: RecordsSettings,
                            filed: dict[str, Any]) -> None:
    """When the event cannot be stored, the change is not made and the read is not answered."""
    before = log_size(app, client)
    _refuse_audit_inserts(settings, True)
    try:
        created = agent.post(RECORDS, json=record_body(subject="must not exist"))
        amended = agent.patch(f"{RECORDS}/{filed['id']}", json={"subject": "must not change"}, headers={"If-Match": '"1"'})
        read = agent.get(f"{RECORDS}/{filed['id']}")
    finally:
        _refuse_audit_inserts(settings, False)
    # (The changes answer 500, not 503 audit_unavailable: see test_failed_change_leaves_a_failed_event.)
    assert created.status_code >= 500 and amended.status_code >= 500, (created.text, amended.text)
    is_problem(read, 503, "audit_unavailable")
    assert "13812345678" not in read.text and filed["reference"] not in read.text
    assert log_size(app, client) == before
    listed = agent.get(RECORDS).json()["items"]
    assert [item["id"] for item in listed] == [filed["id"]]
    current = agent.get(f"{RECORDS}/{filed['id']}").json()
    assert (current["version"], current["subject"]) == (1, filed["subject"])


# --- checkpoints and proofs, verified independently -------------------------------------------------


def _seal(reader: RoleClient) -> dict[str, Any]:
    response = reader.post(CHECKPOINTS)
    assert response.status_code == 201, response.text
    return response.json()


def test_inclusion_and_consistency_proofs_verify_independently(agent: RoleClient, supervisor: RoleClient,
                                                               compliance_officer: RoleClient) -> None:
    ids = []
    for n in range(4):
        created = agent.post(RECORDS, json=record_body(subject=f"proof {n}", description="客户投诉：信号差"))
        assert created.status_code == 201
        ids.append(created.json()["id"])
        assert agent.get(f"{RECORDS}/{ids[-1]}").status_code == 200
    agent.get(f"{RECORDS}/missing")
    first = _seal(compliance_officer)
    for record_id in ids:
        supervisor.patch(f"{RECORDS}/{record_id}", json={"subject": "changed"}, headers={"If-Match": '"1"'})
    agent.post(RECORDS, json={"kind": "nonsense"})
    compliance_officer.get(f"{RECORDS}/{ids[0]}/identity", headers={"X-Purpose": "check"})
    second = _seal(compliance_officer)
    size, m = second["tree_size"], first["tree_size"]
    assert 0 < m < size

    events = all_events(compliance_officer)
    assert [e["seq"] for e in events] == list(range(len(events))) and len(events) >= size
    entries = [canonical_from_api(e) for e in events[:size]]
    # The signed roots are the MTH of the events as the API shows them.
    assert mth(entries[:m]).hex() == first["root_hash"]
    assert mth(entries).hex() == second["root_hash"]

    root = unhex(second["root_hash"])
    for index in range(size):
        response = compliance_officer.get("/api/v1/audit/proofs/inclusion", params={"index": index, "tree_size": size})
        assert response.status_code == 200, response.text
        proof = response.json()
        leaf = leaf_of(events[index])
        assert leaf == hashlib.sha256(b"\x00" + entries[index]).digest()
        assert (proof["index"], proof["tree_size"], proof["leaf_hash"]) == (index, size, leaf.hex())
        assert verify_inclusion(leaf, index, size, unhex_path(proof["path"]), root), f"inclusion of {index} fails"
        # Negative control: the same proof does not prove a neighbour's leaf.
        other = leaf_of(events[(index + 1) % size])
        assert not verify_inclusion(other, index, size, unhex_path(proof["path"]), root)

    # An earlier sealed size against the later checkpoint (by index, as auditors use it).
    response = compliance_officer.get("/api/v1/audit/proofs/inclusion", params={"index": 0, "tree_size": m})
    assert verify_inclusion(leaf_of(events[0]), 0, m, unhex_path(response.json()["path"]), unhex(first["root_hash"]))

    response = compliance_officer.get("/api/v1/audit/proofs/consistency", params={"first": m, "second": size})
    assert response.status_code == 200, response.text
    proof = response.json()
    assert (proof["first"], proof["second"]) == (m, size)
    path = unhex_path(proof["path"])
    assert verify_consistency(m, size, unhex(first["root_hash"]), root, path)
    assert not verify_consistency(m, size, mth(entries[: m - 1] + [b"forged"]), root, path)  # negative control
    # And from every earlier size, against roots the test computes itself.
    for earlier in range(1, size + 1):
        response = compliance_officer.get("/api/v1/audit/proofs/consistency", params={"first": earlier, "second": size})
        assert response.status_code == 200, response.text
        assert verify_consistency(earlier, size, mth(entries[:earlier]), root, unhex_path(response.json()["path"])), earlier


def test_checkpoint_signature_verifies_with_the_published_key(agent: RoleClient, compliance_officer: RoleClient) -> None:
    from records.audit.log import checkpoint_message

    agent.post(RECORDS, json=record_body())
    sealed = _seal(compliance_officer)
    latest = compliance_officer.get("/api/v1/audit/checkpoint")
    assert latest.status_code == 200, latest.text
    keys = compliance_officer.get("/api/v1/audit/public-keys")
    assert keys.status_code == 200, keys.text
    by_id = {k["key_id"]: k for k in keys.json()["items"]}

    for checkpoint in (sealed, latest.json()):
        entry = by_id[checkpoint["key_id"]]
        assert entry["algorithm"] == "Ed25519"
        key = load_pem_public_key(entry["public_key"].encode())
        assert isinstance(key, Ed25519PublicKey)
        message = signed_message(checkpoint["tree_size"], checkpoint["root_hash"], checkpoint["timestamp"])
        assert message == checkpoint_message(checkpoint["tree_size"], checkpoint["root_hash"], checkpoint["timestamp"])
        signature = base64.b64decode(checkpoint["signature"], validate=True)
        key.verify(signature, message)
        # Negative controls: any other size, root or time does not verify.
        for forged in (
            signed_message(checkpoint["tree_size"] + 1, checkpoint["root_hash"], checkpoint["timestamp"]),
            signed_message(checkpoint["tree_size"], "0" * 64, checkpoint["timestamp"]),
            signed_message(checkpoint["tree_size"], checkpoint["root_hash"], "2000-01-01T00:00:00.000000Z"),
        ):
            with pytest.raises(InvalidSignature):
                key.verify(signature, forged)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", checkpoint["timestamp"])


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/api/v1/audit/proofs/inclusion", {"index": 0, "tree_size": "{beyond}"}),
        ("/api/v1/audit/proofs/inclusion", {"index": "{size}", "tree_size": "{size}"}),
        ("/api/v1/audit/proofs/inclusion", {"index": -1, "tree_size": 1}),
        ("/api/v1/audit/proofs/inclusion", {"index": 0, "tree_size": 0}),
        ("/api/v1/audit/proofs/consistency", {"first": 0, "second": 1}),
        ("/api/v1/audit/proofs/consistency", {"first": 2, "second": 1}),
        ("/api/v1/audit/proofs/consistency", {"first": 1, "second": "{beyond}"}),
        ("/api/v1/audit/proofs/consistency", {"first": -3, "second": -1}),
    ],
)
def test_out_of_range_proof_parameters_are_422(compliance_officer: RoleClient, agent: RoleClient, url: str,
                                                params: dict[str, Any]) -> None:
    for _ in range(3):
        agent.post(RECORDS, json=record_body())
    size = _seal(compliance_officer)["tree_size"]
    resolved = {k: (int(v.format(size=size, beyond=size + 10_000)) if isinstance(v, str) else v) for k, v in params.items()}
    is_problem(compliance_officer.get(url, params=resolved), 422, "invalid_input")


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/api/v1/audit/proofs/inclusion", {"index": "zero", "tree_size": 1}),
        ("/api/v1/audit/proofs/inclusion", {"index": 0, "tree_size": "1.5"}),
        ("/api/v1/audit/proofs/inclusion", {"index": 0}),
        ("/api/v1/audit/proofs/consistency", {"first": "one", "second": 1}),
        ("/api/v1/audit/proofs/consistency", {"first": 1, "second": ""}),
    ],
)
def test_non_integer_proof_parameters_are_422(app: Litestar, client: TestClient, compliance_officer: RoleClient,
                                              url: str, params: dict[str, Any]) -> None:
    before = log_size(app, client)
    response = compliance_officer.get(url, params=params)
    is_problem(response, 422, "validation_failed")
    event = event_for(app, client, before, response.headers["x-request-id"])
    assert (event["action"], event["outcome"], event["status"]) == ("audit.proof.read", "failed", 422)


# --- who reads the log ----------------------------------------------------------------------------


def test_only_compliance_officers_and_admins_read_the_log(app: Litestar, client: TestClient,
                                                          as_role: Callable[..., RoleClient]) -> None:
    callers = {role: as_role(role, f"reader-{role.value}".replace("_", "-")) for role in Role}
    callers[Role.agent].get(RECORDS)
    with client.portal() as portal:
        size = portal.call(app.state.audit_service.seal).tree_size
    spec = client.get("/schema/openapi.json").json()
    handlers = _handlers_by_operation(app)
    audit_ops = [(m, p) for p, ops in spec["paths"].items() if p.startswith("/api/v1/audit") for m in ops]
    assert len(audit_ops) >= 6
    params = {"/api/v1/audit/proofs/inclusion": {"index": 0, "tree_size": 1},
              "/api/v1/audit/proofs/consistency": {"first": 1, "second": 1}}
    assert size >= 1
    for method, path in audit_ops:
        action = handlers[(method, path)].opt["audit"]
        for role, caller in callers.items():
            before = log_size(app, client)
            response = caller.request(method.upper(), path, params=params.get(path))
            event = event_for(app, client, before, response.headers.get("x-request-id"))
            assert (event["action"], event["actor"], event["role"]) == (action, caller.name, role.value)
            if role in (Role.compliance_officer, Role.admin):
                assert 200 <= response.status_code < 300, (role, path, response.text)
                assert event["outcome"] == "allowed"
            else:
                is_problem(response, 403)
                assert (event["outcome"], event["status"]) == ("denied", 403), (role, path, event)


def test_reading_the_log_is_itself_audited(compliance_officer: RoleClient, admin: RoleClient) -> None:
    first = compliance_officer.get(EVENTS, params={"action": "audit.events.read"})
    assert first.status_code == 200
    request_id = first.headers["x-request-id"]
    assert first.json()["items"] == []  # its own event is appended once the answer is ready
    second = admin.get(EVENTS, params={"action": "audit.events.read"}).json()["items"]
    assert [(e["actor"], e["role"], e["outcome"]) for e in second] == [("carl", "compliance_officer", "allowed")]
    assert second[0]["request_id"] == request_id


# --- queries and exports --------------------------------------------------------------------------


def _varied_log(agent: RoleClient, other_agent: RoleClient, supervisor: RoleClient,
                compliance_officer: RoleClient) -> tuple[str, str]:
    mine = agent.post(RECORDS, json=record_body(subject="mine")).json()["id"]
    theirs = other_agent.post(RECORDS, json=record_body(subject="theirs")).json()["id"]
    agent.get(f"{RECORDS}/{mine}")
    other_agent.patch(f"{RECORDS}/{mine}", json={"subject": "not yours"}, headers={"If-Match": '"1"'})  # 403
    supervisor.patch(f"{RECORDS}/{theirs}", json={"subject": "fixed"}, headers={"If-Match": '"1"'})
    agent.get(f"{RECORDS}/does-not-exist")
    agent.post(f"{RECORDS}/{mine}/notes", json={"text": "called"})
    agent.post(f"{RECORDS}/{mine}/attachments", files={"file": ("f.txt", b"x", "text/plain")})
    compliance_officer.get(f"{RECORDS}/{theirs}/identity", headers={"X-Purpose": "review"})
    agent.get("/api/v1/tokens")  # 403
    return mine, theirs


def test_filters_select_exactly_the_matching_events(agent: RoleClient, other_agent: RoleClient, supervisor: RoleClient,
                                                    compliance_officer: RoleClient) -> None:
    mine, theirs = _varied_log(agent, other_agent, supervisor, compliance_officer)
    snapshot = all_events(compliance_officer)
    last = snapshot[-1]["seq"]

    def check(params: dict[str, Any], keep: Callable[[dict[str, Any]], bool], at_least: int = 1) -> None:
        got = [e["seq"] for e in all_events(compliance_officer, **params) if e["seq"] <= last]
        expected = [e["seq"] for e in snapshot if keep(e)]
        assert got == expected, params
        assert len(expected) >= at_least, params

    check({"record_id": mine}, lambda e: f"record:{mine}" in e["targets"], 5)
    check({"record_id": theirs}, lambda e: f"record:{theirs}" in e["targets"], 3)
    check({"actor": "alice"}, lambda e: e["actor"] == "alice", 6)
    check({"actor": "bob"}, lambda e: e["actor"] == "bob", 2)
    check({"role": "supervisor"}, lambda e: e["role"] == "supervisor")
    check({"action": "record.amend"}, lambda e: e["action"] == "record.amend", 2)
    check({"outcome": "denied"}, lambda e: e["outcome"] == "denied", 2)
    check({"outcome": "failed"}, lambda e: e["outcome"] == "failed")
    check({"actor": "alice", "outcome": "allowed", "record_id": mine},
          lambda e: e["actor"] == "alice" and e["outcome"] == "allowed" and f"record:{mine}" in e["targets"], 4)
    check({"actor": "nobody"}, lambda e: False, 0)

    at = [datetime.fromisoformat(e["at"].replace("Z", "+00:00")) for e in snapshot]
    since, until = at[3], at[len(at) - 3]
    assert since < until
    check({"since": since.isoformat(), "until": until.isoformat()}, lambda e: since <= datetime.fromisoformat(
        e["at"].replace("Z", "+00:00")) < until, 3)
    # A time zone other than UTC means the same instant.
    shifted = since.astimezone(timezone(timedelta(hours=8)))
    check({"since": shifted.isoformat()}, lambda e: datetime.fromisoformat(e["at"].replace("Z", "+00:00")) >= since, 3)
    is_problem(compliance_officer.get(EVENTS, params={"since": "2026-01-01T00:00:00"}), 422)


def test_cursor_paging_visits_every_event_once_in_order(agent: RoleClient, other_agent: RoleClient, supervisor: RoleClient,
                                                        compliance_officer: RoleClient) -> None:
    _varied_log(agent, other_agent, supervisor, compliance_officer)
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = compliance_officer.get(EVENTS, params=params).json()
        assert len(page["items"]) <= 3
        seen.extend(e["seq"] for e in page["items"])
        cursor = page["next_cursor"]
        pages += 1
        if cursor is None:
            break
    # Every event once, in order; the paging reads append events of their own, which show up too.
    assert seen == list(range(len(seen))), seen
    assert pages >= 4 and len(seen) >= 12
    is_problem(compliance_officer.get(EVENTS, params={"cursor": "not-a-cursor"}), 400, "invalid_cursor")
    is_problem(compliance_officer.get(EVENTS, params={"limit": 501}), 422)


def _append_many(app: Litestar, client: TestClient, n: int, action: str) -> None:
    drafts = [AuditEventDraft(at=datetime.now(UTC), actor="bulk", role="agent", action=action, targets=[f"record:bulk-{i % 7}"],
                              outcome=Outcome.allowed, purpose="é, \"quoted\"\nline" if i == 0 else None) for i in range(n)]
    with client.portal() as portal:
        portal.call(app.state.audit_service.append, drafts)


def test_exports_stream_every_matching_event_beyond_one_page(app: Litestar, client: TestClient, agent: RoleClient,
                                                             compliance_officer: RoleClient) -> None:
    agent.post(RECORDS, json=record_body())
    _append_many(app, client, 1234, "bulk.synthetic")
    agent.get(RECORDS)

    exported = compliance_officer.get(EVENTS, params={"format": "jsonl", "action": "bulk.synthetic"})
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    lines = exported.text.splitlines()
    assert len(lines) == 1234
    rows = [json.loads(line) for line in lines]
    assert all(r["action"] == "bulk.synthetic" for r in rows)
    assert [r["seq"] for r in rows] == sorted({r["seq"] for r in rows})

    size = log_size(app, client)
    everything = compliance_officer.get(EVENTS, params={"format": "jsonl"})
    seqs = [json.loads(line)["seq"] for line in everything.text.splitlines()]
    assert seqs == list(range(size + 1))  # all of them, the export's own read event included
    # Exported lines re-encode to the bytes the log hashed (non-ASCII, quotes and a newline included).
    exported_events = [json.loads(line) for line in everything.text.splitlines()]
    sealed = _seal(compliance_officer)["tree_size"]
    bulk_first = next(e for e in exported_events if e["actor"] == "bulk")
    assert bulk_first["purpose"] == "é, \"quoted\"\nline"
    for event in (exported_events[0], bulk_first, exported_events[-1]):
        proof = compliance_officer.get("/api/v1/audit/proofs/inclusion", params={"index": event["seq"], "tree_size": sealed})
        assert proof.json()["leaf_hash"] == leaf_of(event).hex()

    filtered = compliance_officer.get(EVENTS, params={"format": "jsonl", "record_id": "bulk-3"})
    assert len(filtered.text.splitlines()) == len([i for i in range(1234) if i % 7 == 3])

    as_csv = compliance_officer.get(EVENTS, params={"format": "csv", "action": "bulk.synthetic"})
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(as_csv.text, newline="")))
    assert len(table) == 1234
    assert list(table[0]) == ["seq", "at", "actor", "role", "action", "targets", "outcome", "status", "request_id",
                              "client", "purpose"]
    assert table[0]["purpose"] == "é, \"quoted\"\nline"
    assert [int(r["seq"]) for r in table] == [r["seq"] for r in rows]
    assert {r["targets"] for r in table} == {f"record:bulk-{i}" for i in range(7)}

    size = log_size(app, client)
    everything_csv = compliance_officer.get(EVENTS, params={"format": "csv"})
    assert [int(r["seq"]) for r in csv.DictReader(io.StringIO(everything_csv.text, newline=""))] == list(range(size + 1))


def test_exports_are_refused_to_other_roles(agent: RoleClient) -> None:
    for fmt in ("jsonl", "csv", "json"):
        is_problem(agent.get(EVENTS, params={"format": fmt}), 403)
