"""Authorization matrix: who may call which endpoint, on whose records, and how a bad token fails.

``POLICY`` below is the single declaration of the access rules. It is written out by hand on
purpose (not imported from ``records.roles``): the route walk fails when the running app admits
other roles than it says, or grows an endpoint nobody gave a policy, and the parametrised tests
check every operation against every role over HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar import Litestar
from litestar.testing import TestClient

from records.api.auth import role_guard
from records.plugins.signing import public_pem
from records.roles import Role
from tests.conftest import RoleClient, record_body
from tests.plugin_wheels import build_wheel
from tests.retention import setup as retention_setup

PROBLEM = "application/problem+json"
ALL_ROLES = frozenset(Role)
READERS = frozenset({Role.admin, Role.agent, Role.supervisor, Role.archivist, Role.compliance_officer})
FILERS = frozenset({Role.admin, Role.agent, Role.supervisor})
ADMINS = frozenset({Role.admin})
AUDITORS = frozenset({Role.admin, Role.compliance_officer})
RETENTION_MANAGERS = frozenset({Role.admin, Role.archivist})
RETENTION_READERS = frozenset({Role.admin, Role.archivist, Role.compliance_officer})
REVIEWERS = frozenset({Role.admin, Role.archivist, Role.compliance_officer, Role.supervisor})
RET = "/api/v1/retention"

ATTACHMENT_BYTES = b"signal strength log: -113 dBm\n"


@dataclass
class World:
    """What every operation needs to succeed, set up fresh for each test: a record filed by
    alice (agent) still at version 1, a second record of hers carrying an attachment, a spare
    token to revoke, and an admin to observe the state with."""

    record_id: str
    attachment_record_id: str
    attachment_id: str
    victim: str
    admin: RoleClient
    plugin_manager: RoleClient | None = None
    publisher: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    serial: list[int] = field(default_factory=lambda: [0])

    def _next(self) -> int:
        self.serial[0] += 1
        return self.serial[0]

    def signed_wheel(self) -> dict[str, Any]:
        """A newer signed version of the example plugin at every call: each install succeeds."""
        filename, wheel = build_wheel(version=f"1.0.{self._next()}")
        signature = base64.b64encode(self.publisher.sign(wheel)).decode()
        return {"files": {"wheel": (filename, wheel, "application/zip"), "signature": (None, signature)}}

    def installed_plugin(self) -> str:
        assert self.plugin_manager is not None
        response = self.plugin_manager.post("/api/v1/plugins", **self.signed_wheel())
        assert response.status_code == 201, response.text
        return response.json()["name"]

    def new_key(self) -> dict[str, str]:
        return {"name": f"publisher-{self._next()}", "public_key": public_pem(Ed25519PrivateKey.generate().public_key())}

    def trusted_key(self) -> str:
        body = self.new_key()
        assert self.admin.post("/api/v1/plugins/trusted-keys", json=body).status_code == 201
        return body["name"]

    def record(self) -> dict[str, Any]:
        response = self.admin.get(f"/api/v1/records/{self.record_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def token_names(self) -> list[str]:
        response = self.admin.get("/api/v1/tokens")
        assert response.status_code == 200, response.text
        return sorted(t["name"] for t in response.json()["items"])

    def sealed_size(self) -> int:
        """Seal the audit log (as admin) so proofs can be asked of it; returns the tree size."""
        response = self.admin.post("/api/v1/audit/checkpoints")
        assert response.status_code == 201, response.text
        return response.json()["tree_size"]

    def record_count(self) -> int:
        response = self.admin.get("/api/v1/records")
        assert response.status_code == 200, response.text
        return len(response.json()["items"])


Request = tuple[str, dict[str, Any]]  # url, keyword arguments of TestClient.request


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # template; parameter names are not compared with the app's
    roles: frozenset[Role]  # exactly the roles admitted
    success: int  # the status an admitted role gets for ``request``
    request: Callable[[World], Request]
    # Record-changing operations: may an agent act on a record another agent owns?
    agent_on_others_record: bool | None = None
    # What a call changes, observed as an admin: a refused call must leave it as it was.
    observe: Callable[[World], Any] | None = None
    # Where configuration narrows the guard (RECORDS_REVEAL_ROLES…): the roles the defaults grant.
    configured: frozenset[Role] | None = None

    @property
    def granted(self) -> frozenset[Role]:
        return self.configured if self.configured is not None else self.roles

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def _amend(w: World) -> Request:
    return f"/api/v1/records/{w.record_id}", {"json": {"subject": "Amended subject"}, "headers": {"If-Match": '"1"'}}


def _upload(w: World) -> Request:
    return f"/api/v1/records/{w.record_id}/attachments", {"files": {"file": ("log.txt", ATTACHMENT_BYTES, "text/plain")}}


def _version(w: World) -> int:
    return w.record()["version"]


POLICY: tuple[Operation, ...] = (
    Operation(
        "POST", "/api/v1/records", FILERS, 201,
        lambda w: ("/api/v1/records", {"json": record_body()}),
        observe=World.record_count,
    ),
    Operation("GET", "/api/v1/records", READERS, 200, lambda w: ("/api/v1/records", {})),
    Operation("GET", "/api/v1/records/{id}", READERS, 200, lambda w: (f"/api/v1/records/{w.record_id}", {})),
    Operation(
        # The guard admits RECORDS_REVEAL_ROLES (defaults here), and the OpenAPI document says so.
        "GET", "/api/v1/records/{id}/identity", frozenset({Role.agent, Role.supervisor, Role.compliance_officer}), 200,
        lambda w: (f"/api/v1/records/{w.record_id}/identity", {"headers": {"X-Purpose": "authorization test"}}),
    ),
    Operation(
        "PATCH", "/api/v1/records/{id}", FILERS, 200, _amend,
        agent_on_others_record=False, observe=_version,
    ),
    Operation(
        "POST", "/api/v1/records/{id}/notes", FILERS, 201,
        lambda w: (f"/api/v1/records/{w.record_id}/notes", {"json": {"text": "Called the customer back."}}),
        agent_on_others_record=True, observe=_version,
    ),
    Operation(
        "POST", "/api/v1/records/{id}/attachments", FILERS, 201, _upload,
        agent_on_others_record=True, observe=_version,
    ),
    Operation(
        # Roles that see customers masked read attachment bytes for a stated purpose only.
        "GET", "/api/v1/records/{id}/attachments/{aid}", READERS, 200,
        lambda w: (f"/api/v1/records/{w.attachment_record_id}/attachments/{w.attachment_id}",
                   {"headers": {"X-Purpose": "authorization test"}}),
    ),
    Operation(
        "POST", "/api/v1/tokens", ADMINS, 201,
        lambda w: ("/api/v1/tokens", {"json": {"name": "new-token", "role": "agent"}}),
        observe=World.token_names,
    ),
    Operation("GET", "/api/v1/tokens", ADMINS, 200, lambda w: ("/api/v1/tokens", {})),
    Operation(
        "DELETE", "/api/v1/tokens/{name}", ADMINS, 204,
        lambda w: (f"/api/v1/tokens/{w.victim}", {}),
        observe=World.token_names,
    ),
    Operation("GET", "/api/v1/me", ALL_ROLES, 200, lambda w: ("/api/v1/me", {})),
    Operation(
        "POST", "/api/v1/records/{id}/transitions", frozenset({Role.admin, Role.agent, Role.supervisor, Role.archivist}), 200,
        lambda w: (f"/api/v1/records/{w.record_id}/transitions", {"json": {"to": "investigating"}}),
        # The complaint workflow lets handlers (not archivists) start an investigation, on any complaint.
        configured=FILERS, agent_on_others_record=True, observe=_version,
    ),
    Operation("GET", "/api/v1/workflows", ALL_ROLES, 200, lambda w: ("/api/v1/workflows", {})),
    Operation("GET", "/api/v1/classification-schemes", ALL_ROLES, 200, lambda w: ("/api/v1/classification-schemes", {})),
    Operation("GET", "/api/v1/plugins", frozenset({Role.admin, Role.plugin_manager}), 200, lambda w: ("/api/v1/plugins", {})),
    Operation("POST", "/api/v1/plugins", frozenset({Role.plugin_manager}), 201, lambda w: ("/api/v1/plugins", w.signed_wheel())),
    Operation("POST", "/api/v1/plugins/{name}/disable", frozenset({Role.plugin_manager}), 200,
              lambda w: ("/api/v1/plugins/telecom-metrics/disable", {})),
    Operation("POST", "/api/v1/plugins/{name}/enable", frozenset({Role.plugin_manager}), 200,
              lambda w: ("/api/v1/plugins/telecom-metrics/enable", {})),
    Operation("DELETE", "/api/v1/plugins/{name}", frozenset({Role.plugin_manager}), 204,
              lambda w: (f"/api/v1/plugins/{w.installed_plugin()}", {})),
    Operation("GET", "/api/v1/plugins/trusted-keys", ADMINS, 200, lambda w: ("/api/v1/plugins/trusted-keys", {})),
    Operation("POST", "/api/v1/plugins/trusted-keys", ADMINS, 201, lambda w: ("/api/v1/plugins/trusted-keys", {"json": w.new_key()})),
    Operation("DELETE", "/api/v1/plugins/trusted-keys/{name}", ADMINS, 204,
              lambda w: (f"/api/v1/plugins/trusted-keys/{w.trusted_key()}", {})),
    Operation("GET", "/api/v1/metrics", READERS, 200, lambda w: ("/api/v1/metrics", {})),
    Operation("GET", "/api/v1/metrics/{metric}", READERS, 200,
              lambda w: ("/api/v1/metrics/satisfaction_rate", {"params": {"group_by": "month"}})),
    Operation("GET", "/api/v1/service-levels", ALL_ROLES, 200, lambda w: ("/api/v1/service-levels", {})),
    Operation("GET", "/api/v1/audit/checkpoint", AUDITORS, 200, lambda w: ("/api/v1/audit/checkpoint", {})),
    Operation("POST", "/api/v1/audit/checkpoints", AUDITORS, 201, lambda w: ("/api/v1/audit/checkpoints", {})),
    Operation(
        "GET", "/api/v1/audit/proofs/inclusion", AUDITORS, 200,
        lambda w: ("/api/v1/audit/proofs/inclusion", {"params": {"index": 0, "tree_size": w.sealed_size()}}),
    ),
    Operation(
        "GET", "/api/v1/audit/proofs/consistency", AUDITORS, 200,
        lambda w: ("/api/v1/audit/proofs/consistency", {"params": {"first": 1, "second": w.sealed_size()}}),
    ),
    Operation("GET", "/api/v1/audit/public-keys", AUDITORS, 200, lambda w: ("/api/v1/audit/public-keys", {})),
    Operation("GET", "/api/v1/audit/events", AUDITORS, 200, lambda w: ("/api/v1/audit/events", {})),
    Operation("POST", f"{RET}/schedules", RETENTION_MANAGERS, 201, lambda w: (f"{RET}/schedules", {"json": {
        "name": "Walk schedule", "kinds": ["emergency"], "period": "P7Y", "cutoff": "year", "action": "transfer"}})),
    Operation("GET", f"{RET}/schedules", RETENTION_MANAGERS, 200, lambda w: (f"{RET}/schedules", {})),
    Operation("GET", f"{RET}/schedules/{{id}}", RETENTION_MANAGERS, 200,
              lambda w: (f"{RET}/schedules/{retention_setup.schedule_id(w.admin)}", {})),
    Operation("PATCH", f"{RET}/schedules/{{id}}", RETENTION_MANAGERS, 200,
              lambda w: (f"{RET}/schedules/{retention_setup.schedule_id(w.admin)}",
                         {"json": {"period": "P4Y", "reason": "walk"}})),
    Operation("POST", f"{RET}/schedules/{{id}}/reapply", RETENTION_MANAGERS, 200,
              lambda w: (f"{RET}/schedules/{retention_setup.schedule_id(w.admin)}/reapply", {"json": {"reason": "walk"}})),
    Operation("POST", f"{RET}/events", RETENTION_MANAGERS, 200,
              lambda w: (f"{RET}/events", {"json": {"name": "account_closed", "record_ids": [w.record_id]}})),
    Operation("POST", f"{RET}/holds", RETENTION_MANAGERS, 201, lambda w: (f"{RET}/holds", {"json": {
        "reason": "Litigation", "case_reference": "CASE-1", "record_ids": [w.record_id]}})),
    Operation("GET", f"{RET}/holds", RETENTION_READERS, 200, lambda w: (f"{RET}/holds", {})),
    Operation("GET", f"{RET}/holds/{{id}}", RETENTION_READERS, 200,
              lambda w: (f"{RET}/holds/{retention_setup.hold(w.admin, w.record_id)}", {})),
    Operation("GET", f"{RET}/holds/{{id}}/records", RETENTION_READERS, 200,
              lambda w: (f"{RET}/holds/{retention_setup.hold(w.admin, w.record_id)}/records", {})),
    Operation("POST", f"{RET}/holds/{{id}}/release", RETENTION_MANAGERS, 200,
              lambda w: (f"{RET}/holds/{retention_setup.hold(w.admin, w.record_id)}/release", {"json": {"reason": "done"}})),
    Operation("POST", f"{RET}/sweeps", RETENTION_MANAGERS, 200, lambda w: (f"{RET}/sweeps", {"json": {}})),
    Operation("GET", f"{RET}/floors", RETENTION_READERS, 200, lambda w: (f"{RET}/floors", {})),
    Operation("GET", f"{RET}/floors/{{id}}", RETENTION_READERS, 200,
              lambda w: (f"{RET}/floors/{retention_setup.floor(w.admin)}", {})),
    Operation("POST", f"{RET}/floors", RETENTION_MANAGERS, 201, lambda w: (f"{RET}/floors", {"json": {
        "kinds": ["emergency"], "minimum_period": "P2Y", "reason": "walk"}})),
    Operation("POST", f"{RET}/floors/{{id}}/remove", ADMINS, 200,
              lambda w: (f"{RET}/floors/{retention_setup.floor(w.admin)}/remove", {"json": {"reason": "walk"}})),
    Operation("GET", f"{RET}/batches", RETENTION_READERS, 200, lambda w: (f"{RET}/batches", {})),
    Operation("GET", f"{RET}/batches/{{id}}", RETENTION_READERS, 200,
              lambda w: (f"{RET}/batches/{retention_setup.open_batch(w.admin)}", {})),
    Operation("POST", f"{RET}/batches/{{id}}/decisions", RETENTION_MANAGERS, 200,
              lambda w: _decide(retention_setup.open_batch(w.admin), w)),
    Operation("POST", f"{RET}/batches/{{id}}/execute", RETENTION_MANAGERS, 202,
              lambda w: (f"{RET}/batches/{retention_setup.open_batch(w.admin, approve=True)}/execute", {})),
    Operation("GET", f"{RET}/certificates/{{id}}", RETENTION_READERS, 200,
              lambda w: (f"{RET}/certificates/{retention_setup.certificate(w.admin)}", {})),
    Operation("GET", "/api/v1/reviews", REVIEWERS, 200, lambda w: ("/api/v1/reviews", {})),
    Operation("POST", "/api/v1/reviews/decisions", REVIEWERS, 200, lambda w: ("/api/v1/reviews/decisions", {"json": {
        "decision": "approve", "items": [retention_setup.review_item(w.admin)]}})),
    Operation("GET", "/api/v1/records/{id}/retention", RETENTION_READERS, 200,
              lambda w: (f"/api/v1/records/{retention_setup.archived_record(w.admin)}/retention", {})),
)


def _decide(batch_id: str, w: World) -> Request:
    batch = w.admin.get(f"{RET}/batches/{batch_id}").json()
    decisions = [{"record_id": i["record_id"], "decision": "approve"} for i in batch["items"]]
    return f"{RET}/batches/{batch_id}/decisions", {"json": {"decisions": decisions}}

OPS = {op.id: op for op in POLICY}
RECORD_CHANGING = [op for op in POLICY if op.agent_on_others_record is not None]


def call(caller: TestClient | RoleClient, op: Operation, world: World, headers: dict[str, str] | None = None) -> httpx.Response:
    url, kwargs = op.request(world)
    kwargs = dict(kwargs)
    merged = {**kwargs.pop("headers", {}), **(headers or {})}
    return caller.request(op.method, url, headers=merged, **kwargs)


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0].strip() == PROBLEM
    body = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["type"] == f"urn:records:problem:{code}"
    assert body["title"] and body["detail"]
    return body


def assert_not_authenticated(response: httpx.Response) -> None:
    assert_problem(response, 401, "not_authenticated")
    assert response.headers.get("www-authenticate", "").lower().startswith("bearer")


@pytest.fixture
def world(admin: RoleClient, agent: RoleClient, filed: dict[str, Any], issue_token: Callable[..., str],
          plugin_manager: RoleClient) -> World:
    evidence = agent.post("/api/v1/records", json=record_body(subject="Record with evidence"))
    assert evidence.status_code == 201, evidence.text
    evidence_id = evidence.json()["id"]
    upload = agent.post(
        f"/api/v1/records/{evidence_id}/attachments", files={"file": ("log.txt", ATTACHMENT_BYTES, "text/plain")}
    )
    assert upload.status_code == 201, upload.text
    issue_token(Role.agent, "victim")
    assert filed["owner"] == agent.name and filed["version"] == 1
    built = World(
        record_id=filed["id"],
        attachment_record_id=evidence_id,
        attachment_id=upload.json()["id"],
        victim="victim",
        admin=admin,
        plugin_manager=plugin_manager,
    )
    trusted = admin.post("/api/v1/plugins/trusted-keys",
                         json={"name": "world-publisher", "public_key": public_pem(built.publisher.public_key())})
    assert trusted.status_code == 201, trusted.text
    return built


def observed(op: Operation, world: World) -> Any:
    return op.observe(world) if op.observe else None


# --- the policy against the running app ---------------------------------------------------------


def _template(path: str) -> str:
    """``/api/v1/records/{record_id:str}`` and ``/api/v1/records/{id}`` → ``/api/v1/records/{}``."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def _is_automatic_options(handler: Any) -> bool:
    """litestar adds an OPTIONS handler to every path (it answers only ``Allow``, no data)."""
    return handler.http_methods == {"OPTIONS"} and handler.handler_name == "options_handler" and not handler.include_in_schema


def _handlers(app: Litestar) -> list[tuple[str, str, Any]]:
    found = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not _is_automatic_options(handler):
                found.extend((method, route.path, handler) for method in sorted(handler.http_methods))
    return found


def policy_violations(app: Litestar, policy: tuple[Operation, ...] = POLICY) -> list[str]:
    """Every way the app's routes under /api disagree with ``policy``."""
    declared = {(op.method, _template(op.path)): op for op in policy}
    violations, seen = [], set()
    for method, path, handler in _handlers(app):
        if not path.startswith("/api/"):
            continue
        key = (method, _template(path))
        seen.add(key)
        op = declared.get(key)
        roles = handler.opt.get("roles")
        if op is None:
            violations.append(f"{method} {path} has no entry in POLICY")
        elif roles is None:
            violations.append(f"{method} {path} declares no roles (route it through admits(...))")
        elif frozenset(roles) != op.roles:
            violations.append(
                f"{method} {path} admits {sorted(r.value for r in roles)} but POLICY says {sorted(r.value for r in op.roles)}"
            )
        guards = [guard for layer in handler.ownership_layers for guard in (layer.guards or [])]
        if role_guard not in guards:
            violations.append(f"{method} {path} is not guarded by role_guard")
    violations.extend(f"POLICY has {m} {p} but the app has no such route" for m, p in sorted(set(declared) - seen))
    return violations


def test_every_api_route_has_a_policy_and_admits_exactly_its_roles(app: Litestar) -> None:
    assert policy_violations(app) == []


def test_the_route_walk_catches_unpolicied_routes_and_role_drift(settings: Any) -> None:
    from litestar import get

    from records.api.app import create_app
    from records.api.auth import admits

    @get("/api/v1/export", **admits(Role.agent, audit="export.read"))
    async def export() -> None: ...

    @get("/api/v1/unguarded")
    async def unguarded() -> None: ...

    app = create_app(settings)
    app.register(export)
    app.register(unguarded)
    drifted = tuple(
        Operation(op.method, op.path, ADMINS, op.success, op.request) if op.id == "GET /api/v1/me" else op for op in POLICY
    )
    violations = "\n".join(policy_violations(app, drifted))
    assert "GET /api/v1/export has no entry in POLICY" in violations
    assert "GET /api/v1/unguarded has no entry in POLICY" in violations
    assert "GET /api/v1/unguarded is not guarded by role_guard" in violations
    assert "GET /api/v1/me admits" in violations and "POLICY says ['admin']" in violations
    stale = policy_violations(create_app(settings), (*POLICY, Operation("GET", "/api/v1/gone", ADMINS, 200, POLICY[0].request)))
    assert stale == ["POLICY has GET /api/v1/gone but the app has no such route"]


def _console_protected(path: str, handler: Any) -> bool:
    """A console page: behind the console's session check, or one of its declared public pages."""
    from records.console.auth import ConsoleSessionMiddleware

    if path.startswith("/console/static"):
        return True  # the package's own htmx and CSS
    if not path.startswith("/console"):
        return False
    sessions = any(isinstance(m, ConsoleSessionMiddleware) for m in handler.resolve_middleware())
    return sessions  # the public ones pass through it; the test lists them


def test_routes_outside_api_are_only_the_public_ones_and_the_console(app: Litestar) -> None:
    # Outside /api no bearer token is asked for: anything there must be a public path or a console
    # page behind the console's session check.
    outside = {(m, p, h) for m, p, h in _handlers(app) if not p.startswith("/api/")}
    unexpected = {(m, p) for m, p, h in outside
                  if not (p in ("/", "/health", "/schema") or p.startswith("/schema/") or _console_protected(p, h))}
    assert unexpected == set()
    assert ("GET", "/health") in {(m, p) for m, p, _ in outside}
    public = sorted((m, p) for m, p, h in outside if h.opt.get("console_public"))
    assert public == [("GET", "/console/language"), ("GET", "/console/sign-in"), ("POST", "/console/sign-in")]


def test_every_role_may_call_something_and_record_changes_say_whose_record() -> None:
    # A role no operation admits would be a token that can do nothing.
    assert frozenset().union(*(op.roles for op in POLICY)) == ALL_ROLES
    assert {op.id for op in RECORD_CHANGING} == {
        "PATCH /api/v1/records/{id}",
        "POST /api/v1/records/{id}/notes",
        "POST /api/v1/records/{id}/attachments",
        "POST /api/v1/records/{id}/transitions",
    }


# --- every operation × every role -----------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role), ids=str)
@pytest.mark.parametrize("op", POLICY, ids=lambda op: op.id)
def test_operation_admits_exactly_its_roles(op: Operation, role: Role, world: World, request: pytest.FixtureRequest) -> None:
    # The fixtures are named after the roles; the agent is alice, who owns the world's records.
    caller: RoleClient = request.getfixturevalue(role.value)
    assert caller.role is role
    before = observed(op, world)
    response = call(caller, op, world)
    if role in op.granted:
        assert response.status_code == op.success, response.text
        if op.observe:
            assert observed(op, world) != before, "an admitted call changed nothing"
    else:
        body = assert_problem(response, 403, "forbidden")
        assert role.value in body["detail"]
        assert observed(op, world) == before, "a refused call changed state"


# --- authentication failures ------------------------------------------------------------------------

BAD_AUTHORIZATION = {
    "missing": None,
    "basic-scheme": "Basic x",
    "bearer-empty": "Bearer ",
    "bearer-alone": "Bearer",
    "unknown-token": "Bearer rec_" + "A" * 43,
    "not-a-records-token": "Bearer 0123456789abcdef0123456789abcdef",
}


@pytest.mark.parametrize("case", list(BAD_AUTHORIZATION))
@pytest.mark.parametrize("op", POLICY, ids=lambda op: op.id)
def test_missing_malformed_or_unknown_token_is_401(op: Operation, case: str, world: World, client: TestClient) -> None:
    header = BAD_AUTHORIZATION[case]
    before = observed(op, world)
    response = call(client, op, world, headers=None if header is None else {"Authorization": header})
    assert_not_authenticated(response)
    assert observed(op, world) == before


@pytest.mark.parametrize("shape", ["Basic {}", "Token {}", "{}"], ids=["basic", "token", "bare"])
@pytest.mark.parametrize("op", POLICY, ids=lambda op: op.id)
def test_a_valid_secret_still_needs_the_bearer_scheme(
    op: Operation, shape: str, world: World, client: TestClient, admin: RoleClient, as_role: Callable[..., RoleClient]
) -> None:
    # A token of an admitted role, so that only the scheme can be what is wrong.
    holder = admin if Role.admin in op.roles else as_role(min(op.roles), "scheme-holder")
    response = call(client, op, world, headers={"Authorization": shape.format(holder.token)})
    assert_not_authenticated(response)


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_bearer_scheme_is_case_insensitive(scheme: str, client: TestClient, agent: RoleClient) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": f"{scheme} {agent.token}"})
    assert response.status_code == 200, response.text
    assert response.json() == {"name": "alice", "role": "agent"}


@pytest.mark.parametrize("op", POLICY, ids=lambda op: op.id)
def test_a_revoked_token_is_401_afterwards(
    op: Operation, world: World, admin: RoleClient, as_role: Callable[..., RoleClient]
) -> None:
    role = min(op.roles - {Role.admin}, default=Role.admin)
    holder = as_role(role, "holder")
    assert holder.get("/api/v1/me").status_code == 200
    revoked = admin.delete("/api/v1/tokens/holder")
    assert revoked.status_code == 204, revoked.text
    before = observed(op, world)
    assert_not_authenticated(call(holder, op, world))
    assert observed(op, world) == before
    assert admin.get("/api/v1/me").status_code == 200  # revoking one token leaves the others alone


# --- whose record ----------------------------------------------------------------------------------


@pytest.mark.parametrize("op", RECORD_CHANGING, ids=lambda op: op.id)
def test_agent_on_another_agents_record(op: Operation, world: World, other_agent: RoleClient) -> None:
    assert world.record()["owner"] == "alice" and other_agent.name == "bob"
    before = observed(op, world)
    response = call(other_agent, op, world)
    if op.agent_on_others_record:
        assert response.status_code == op.success, response.text
        body = response.json()
        if "timeline" in body:  # a transition answers with the record: the move is bob's
            assert body["timeline"][-1]["actor"] == "bob"
        else:
            assert body.get("author", body.get("uploaded_by")) == "bob"
        assert observed(op, world) == before + 1
    else:
        assert_problem(response, 403, "not_record_owner")
        assert observed(op, world) == before
    assert world.record()["owner"] == "alice"


def test_agent_amends_own_record(world: World, agent: RoleClient) -> None:
    response = agent.patch(
        f"/api/v1/records/{world.record_id}", json={"subject": "Still no signal"}, headers={"If-Match": '"1"'}
    )
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"2"'
    record = world.record()
    assert (record["subject"], record["version"], record["owner"]) == ("Still no signal", 2, "alice")
    assert record["timeline"][-1]["actor"] == "alice"


@pytest.mark.parametrize("role", [Role.supervisor, Role.admin], ids=str)
def test_supervisors_and_admins_amend_any_record(role: Role, world: World, request: pytest.FixtureRequest) -> None:
    caller: RoleClient = request.getfixturevalue(role.value)
    response = caller.patch(f"/api/v1/records/{world.record_id}", json={"urgency": "major"}, headers={"If-Match": '"1"'})
    assert response.status_code == 200, response.text
    record = world.record()
    assert (record["urgency"], record["owner"], record["version"]) == ("major", "alice", 2)
    assert record["timeline"][-1] == {**record["timeline"][-1], "actor": caller.name, "event": "amended"}


# --- reassigning ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.supervisor, Role.admin], ids=str)
def test_supervisors_and_admins_reassign(
    role: Role, world: World, agent: RoleClient, other_agent: RoleClient, request: pytest.FixtureRequest
) -> None:
    caller: RoleClient = request.getfixturevalue(role.value)
    response = caller.patch(f"/api/v1/records/{world.record_id}", json={"owner": "bob"}, headers={"If-Match": '"1"'})
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"2"'
    record = world.record()
    assert record["owner"] == "bob"
    event = record["timeline"][-1]
    assert (event["event"], event["actor"], event["detail"]) == ("reassigned", caller.name, {"from": "alice", "to": "bob"})
    # Ownership moved with it: bob may now amend, alice no longer.
    by_bob = other_agent.patch(f"/api/v1/records/{world.record_id}", json={"needs": "A callback"}, headers={"If-Match": '"2"'})
    assert by_bob.status_code == 200, by_bob.text
    by_alice = agent.patch(f"/api/v1/records/{world.record_id}", json={"needs": "Mine"}, headers={"If-Match": '"3"'})
    assert_problem(by_alice, 403, "not_record_owner")


@pytest.mark.parametrize(
    "patch", [{"owner": "bob"}, {"subject": "Handing over", "owner": "bob"}], ids=["owner-only", "with-other-fields"]
)
def test_an_agent_may_not_reassign_even_its_own_record(patch: dict[str, Any], world: World, agent: RoleClient) -> None:
    response = agent.patch(f"/api/v1/records/{world.record_id}", json=patch, headers={"If-Match": '"1"'})
    assert_problem(response, 403, "reassign_forbidden")
    record = world.record()
    assert (record["owner"], record["version"], record["subject"]) == ("alice", 1, "No signal since Monday")


def test_an_agent_may_not_take_another_agents_record(world: World, other_agent: RoleClient) -> None:
    response = other_agent.patch(f"/api/v1/records/{world.record_id}", json={"owner": "bob"}, headers={"If-Match": '"1"'})
    assert response.status_code == 403, response.text
    assert response.json()["code"] in {"not_record_owner", "reassign_forbidden"}
    assert (world.record()["owner"], world.record()["version"]) == ("alice", 1)


# --- readers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.compliance_officer, Role.archivist], ids=str)
def test_compliance_officer_and_archivist_read_but_change_nothing(
    role: Role, world: World, request: pytest.FixtureRequest
) -> None:
    reader: RoleClient = request.getfixturevalue(role.value)
    got = reader.get(f"/api/v1/records/{world.record_id}")
    assert got.status_code == 200, got.text
    assert got.json()["id"] == world.record_id and got.headers["etag"] == '"1"'
    listed = reader.get("/api/v1/records")
    assert listed.status_code == 200
    assert world.record_id in {r["id"] for r in listed.json()["items"]}
    url = f"/api/v1/records/{world.attachment_record_id}/attachments/{world.attachment_id}"
    assert_problem(reader.get(url), 422, "purpose_required")  # they see customers masked
    downloaded = reader.get(url, headers={"X-Purpose": "authorization test"})
    assert downloaded.status_code == 200
    assert downloaded.content == ATTACHMENT_BYTES

    count = world.record_count()
    for op in POLICY:
        if op.method != "GET" and op.path.startswith("/api/v1/records"):
            assert_problem(call(reader, op, world), 403, "forbidden")
    reassign = reader.patch(f"/api/v1/records/{world.record_id}", json={"owner": reader.name}, headers={"If-Match": '"1"'})
    assert_problem(reassign, 403, "forbidden")

    record = world.record()
    assert (record["version"], record["owner"], record["subject"]) == (1, "alice", "No signal since Monday")
    assert record["notes"] == [] and record["attachments"] == []
    assert world.record_count() == count


# --- the admin token API -----------------------------------------------------------------------------


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_admin_creates_a_token_that_works(admin: RoleClient, client: TestClient) -> None:
    response = admin.post("/api/v1/tokens", json={"name": "dora", "role": "agent"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"name", "role", "token", "created_at"}
    assert (body["name"], body["role"]) == ("dora", "agent")
    assert body["token"].startswith("rec_") and len(body["token"]) >= 40

    me = client.get("/api/v1/me", headers=_bearer(body["token"]))
    assert me.status_code == 200, me.text
    assert me.json() == {"name": "dora", "role": "agent"}
    # It carries exactly its role: dora files records as herself, and may not manage tokens.
    filed = client.post("/api/v1/records", json=record_body(), headers=_bearer(body["token"]))
    assert filed.status_code == 201, filed.text
    assert filed.json()["owner"] == "dora"
    assert_problem(client.get("/api/v1/tokens", headers=_bearer(body["token"])), 403, "forbidden")


def test_every_issued_token_is_a_new_secret(admin: RoleClient) -> None:
    secrets = {admin.post("/api/v1/tokens", json={"name": f"t{i}", "role": "archivist"}).json()["token"] for i in range(3)}
    assert len(secrets) == 3 and admin.token not in secrets


@pytest.mark.parametrize("include_revoked", [False, True])
def test_token_list_shows_tokens_without_any_secret(include_revoked: bool, admin: RoleClient, agent: RoleClient) -> None:
    created = admin.post("/api/v1/tokens", json={"name": "dora", "role": "supervisor"})
    assert created.status_code == 201, created.text
    assert admin.post("/api/v1/tokens", json={"name": "gone", "role": "agent"}).status_code == 201
    assert admin.delete("/api/v1/tokens/gone").status_code == 204

    response = admin.get("/api/v1/tokens", params={"include_revoked": str(include_revoked).lower()})
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    by_name = {item["name"]: item for item in items}
    assert {"root", "alice", "dora"} <= set(by_name)
    assert ("gone" in by_name) is include_revoked
    assert by_name["dora"]["role"] == "supervisor" and by_name["dora"]["revoked_at"] is None
    for item in items:
        assert set(item) == {"name", "role", "created_at", "revoked_at"}, item
    for secret in (created.json()["token"], admin.token, agent.token):
        assert secret not in response.text
        assert hashlib.sha256(secret.encode()).hexdigest() not in response.text
    assert "rec_" not in response.text


@pytest.mark.parametrize("name", ["dora", "root"], ids=["created-through-the-api", "issued-elsewhere"])
def test_an_active_token_name_cannot_be_issued_twice(name: str, admin: RoleClient, client: TestClient) -> None:
    first = admin.post("/api/v1/tokens", json={"name": "dora", "role": "agent"})
    assert first.status_code == 201
    again = admin.post("/api/v1/tokens", json={"name": name, "role": "admin"})
    assert_problem(again, 409, "token_name_taken")
    # The existing token is untouched and keeps its role.
    assert client.get("/api/v1/me", headers=_bearer(first.json()["token"])).json() == {"name": "dora", "role": "agent"}
    assert admin.get("/api/v1/me").json() == {"name": "root", "role": "admin"}
    assert [t["name"] for t in admin.get("/api/v1/tokens").json()["items"]].count(name) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"name": "dora", "role": "superuser"},
        {"name": "dora", "role": "Admin"},
        {"name": "dora"},
        {"role": "agent"},
        {"name": "", "role": "agent"},
        {"name": "-dora", "role": "agent"},
        {"name": "dora smith", "role": "agent"},
        {"name": "dora/../root", "role": "agent"},
        {"name": "dóra", "role": "agent"},
        {"name": "d" * 65, "role": "agent"},
        {"name": "dora", "role": "agent", "token": "rec_chosen-by-the-caller"},
    ],
    ids=["unknown-role", "role-case", "no-role", "no-name", "empty-name", "leading-dash", "space", "slash",
         "non-ascii", "too-long", "caller-chosen-secret"],
)
def test_bad_token_requests_are_422(body: dict[str, Any], admin: RoleClient) -> None:
    before = sorted(t["name"] for t in admin.get("/api/v1/tokens").json()["items"])
    response = admin.post("/api/v1/tokens", json=body)
    assert_problem(response, 422, "validation_failed")
    assert response.json()["errors"], "a validation problem names the fields"
    assert sorted(t["name"] for t in admin.get("/api/v1/tokens").json()["items"]) == before


@pytest.mark.parametrize("name", ["d", "d" * 64, "dora.smith@example-2_b", "0day"])
def test_token_names_at_the_edges_are_accepted(name: str, admin: RoleClient) -> None:
    response = admin.post("/api/v1/tokens", json={"name": name, "role": "agent"})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == name


def test_revoking_an_unknown_or_already_revoked_token_is_404(admin: RoleClient) -> None:
    assert_problem(admin.delete("/api/v1/tokens/nobody"), 404, "token_not_found")
    assert admin.post("/api/v1/tokens", json={"name": "dora", "role": "agent"}).status_code == 201
    first = admin.delete("/api/v1/tokens/dora")
    assert first.status_code == 204 and first.content == b""
    assert_problem(admin.delete("/api/v1/tokens/dora"), 404, "token_not_found")


def test_a_name_is_not_reusable_after_revocation(admin: RoleClient, client: TestClient) -> None:
    """A name is one holder for the installation's life (issue 14 finding 7)."""
    old = admin.post("/api/v1/tokens", json={"name": "temp", "role": "agent"}).json()["token"]
    assert admin.delete("/api/v1/tokens/temp").status_code == 204
    assert_not_authenticated(client.get("/api/v1/me", headers=_bearer(old)))

    again = admin.post("/api/v1/tokens", json={"name": "temp", "role": "archivist"})
    assert_problem(again, 409, "token_name_retired")
    assert_not_authenticated(client.get("/api/v1/me", headers=_bearer(old)))  # the old secret stays dead
    assert [t for t in admin.get("/api/v1/tokens").json()["items"] if t["name"] == "temp"] == []
    everything = [t for t in admin.get("/api/v1/tokens?include_revoked=true").json()["items"] if t["name"] == "temp"]
    assert [(t["role"], t["revoked_at"] is None) for t in everything] == [("agent", False)]


def test_admin_cannot_revoke_the_last_admin_token(admin):
    refused = admin.delete(f"/api/v1/tokens/{admin.name}")
    assert refused.status_code == 409
    assert refused.json()["code"] == "last_admin_token"
    assert admin.get("/api/v1/me").status_code == 200
    assert admin.post("/api/v1/tokens", json={"name": "root2", "role": "admin"}).status_code == 201
    assert admin.delete(f"/api/v1/tokens/{admin.name}").status_code == 204
