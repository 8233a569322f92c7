"""The published API description: every guarded operation documents who may call it and how it fails."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from records.roles import Role

PROBLEM = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"


def _api_operations(app: Litestar) -> list[tuple[str, str, frozenset[Role] | None]]:
    """(method, OpenAPI path, roles the guard admits) for every handler under /api."""
    found = []
    for route in app.routes:
        if not route.path.startswith("/api/"):
            continue
        for handler in getattr(route, "route_handlers", []):
            if handler.http_methods == {"OPTIONS"} and not handler.include_in_schema:
                continue  # litestar's automatic OPTIONS answer
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            found.extend((method.lower(), path, handler.opt.get("roles")) for method in handler.http_methods)
    return sorted(found, key=lambda item: (item[1], item[0]))


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    response = client.get("/schema/openapi.json")  # no Authorization header: the description is public
    assert response.status_code == 200, response.text
    return response.json()


def _operation(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    assert path in spec["paths"], f"{path} is not documented"
    assert method in spec["paths"][path], f"{method.upper()} {path} is not documented"
    return spec["paths"][path][method]


def _roles_in(description: str) -> set[str]:
    match = re.search(r"\*\*Roles:\*\*\s*(.+)", description)
    assert match, f"no **Roles:** line in {description!r}"
    return {name.strip() for name in match.group(1).split(",")}


def test_the_walk_sees_the_api(app: Litestar) -> None:
    operations = _api_operations(app)
    assert len(operations) == len(OPERATION_IDS)
    assert ("patch", "/api/v1/records/{record_id}", frozenset({Role.admin, Role.agent, Role.supervisor})) in operations


def test_every_api_route_is_documented_with_an_operation_id_and_its_roles(app: Litestar, spec: dict[str, Any]) -> None:
    ids = []
    for method, path, roles in _api_operations(app):
        operation = _operation(spec, method, path)
        assert operation.get("operationId"), f"{method.upper()} {path} has no operationId"
        ids.append(operation["operationId"])
        assert roles, f"{method.upper()} {path} admits no declared roles"
        assert "**Roles:**" in operation.get("description", ""), f"{method.upper()} {path} does not list its roles"
        assert _roles_in(operation["description"]) == {r.value for r in roles}, f"{method.upper()} {path}"
        assert operation["description"].count("**Roles:**") == 1
        assert operation.get("security") == [{"BearerToken": []}], f"{method.upper()} {path} does not ask for a token"
    assert len(ids) == len(set(ids)), "operationIds must be unique"


def test_nothing_under_api_is_documented_that_is_not_served(app: Litestar, spec: dict[str, Any]) -> None:
    served = {(method, path) for method, path, _ in _api_operations(app)}
    documented = {
        (method, path)
        for path, item in spec["paths"].items()
        if path.startswith("/api/")
        for method in item
        if method in {"get", "post", "put", "patch", "delete", "head", "options"}
    }
    assert documented == served


def _problem_content(operation: dict[str, Any], status: str) -> dict[str, Any]:
    response = operation["responses"].get(status)
    assert response is not None, f"{operation['operationId']} does not document {status}"
    assert response.get("description")
    content = response.get("content", {})
    assert PROBLEM in content, f"{operation['operationId']} {status} is not {PROBLEM}: {sorted(content)}"
    return content[PROBLEM]


def test_every_operation_documents_401_and_403_problems(app: Litestar, spec: dict[str, Any]) -> None:
    for method, path, roles in _api_operations(app):
        operation = _operation(spec, method, path)
        assert _problem_content(operation, "401")["schema"] == {"$ref": PROBLEM_REF}
        # 403 is the guard refusing a role; an operation every role may call (whoAmI) cannot answer it.
        if roles != frozenset(Role):
            assert _problem_content(operation, "403")["schema"] == {"$ref": PROBLEM_REF}


OPERATION_IDS = [
    "fileRecord", "listRecords", "getRecord", "revealIdentity", "amendRecord", "addNote", "uploadAttachment",
    "downloadAttachment", "createToken", "listTokens", "revokeToken", "whoAmI",
    "transitionRecord", "listWorkflows", "listClassificationSchemes", "listPlugins", "latestCheckpoint", "sealCheckpoint", "inclusionProof", "consistencyProof", "auditPublicKeys", "listAuditEvents",
    "listMetrics", "getMetric", "listServiceLevels",
    "installPlugin", "disablePlugin", "enablePlugin", "uninstallPlugin", "listTrustedKeys", "trustKey", "distrustKey",
    "createRetentionSchedule", "listRetentionSchedules", "getRetentionSchedule", "amendRetentionSchedule",
    "reapplyRetentionSchedule", "fireRetentionEvent", "placeLegalHold", "listLegalHolds", "getLegalHold",
    "releaseLegalHold", "runDispositionSweep", "listDispositionBatches", "getDispositionBatch",
    "decideDispositionItems", "executeDispositionBatch", "getDestructionCertificate", "getRecordRetention",
    "listRetentionFloors", "getRetentionFloor", "declareRetentionFloor", "removeRetentionFloor", "listHeldRecords",
    "listReviews", "decideReviews",
]


def test_the_operation_ids_are_the_known_ones(spec: dict[str, Any]) -> None:
    # Keeps the parametrised check below complete: a new operation must be added to it.
    documented = [op["operationId"] for path, item in spec["paths"].items() if path.startswith("/api/") for op in item.values()]
    assert sorted(documented) == sorted(OPERATION_IDS)


# litestar documents its own 400 (application/json, {status_code, detail, extra}) for any operation
# with parameters that does not list 400 itself; the service never answers in that shape.
@pytest.mark.parametrize("operation_id", OPERATION_IDS)
def test_every_documented_error_is_a_problem(operation_id: str, spec: dict[str, Any]) -> None:
    operations = {op["operationId"]: op for item in spec["paths"].values() for op in item.values()}
    operation = operations[operation_id]
    for status, response in operation["responses"].items():
        if int(status) >= 400:
            assert response["content"] == {PROBLEM: {"schema": {"$ref": PROBLEM_REF}}}, f"{operation_id} {status}"


def test_the_problem_schema(spec: dict[str, Any]) -> None:
    problem = spec["components"]["schemas"]["Problem"]
    assert problem["type"] == "object"
    assert {"type", "code", "title", "status", "detail"} <= set(problem["required"])
    properties = problem["properties"]
    for name, kind in {"code": "string", "title": "string", "status": "integer", "detail": "string", "type": "string"}.items():
        assert properties[name]["type"] == kind, name


def test_a_problem_answer_matches_the_problem_schema(spec: dict[str, Any], client: TestClient) -> None:
    # What is documented is what is sent: a real 401 carries exactly the required fields.
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith(PROBLEM)
    assert set(response.json()) == set(spec["components"]["schemas"]["Problem"]["required"])


def test_the_bearer_security_scheme_is_declared(spec: dict[str, Any]) -> None:
    scheme = spec["components"]["securitySchemes"]["BearerToken"]
    assert scheme["type"] == "http"
    assert scheme["scheme"].lower() == "bearer"


def test_the_public_health_check_needs_no_token(spec: dict[str, Any]) -> None:
    assert not spec["paths"]["/health"]["get"].get("security")


def test_the_record_create_schema(spec: dict[str, Any]) -> None:
    body = spec["paths"]["/api/v1/records"]["post"]["requestBody"]
    assert body["required"] is True
    ref = body["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert set(schema["required"]) == {"kind", "channel", "customer", "subject", "description", "urgency"}
    assert {"received_at", "needs", "classification"} <= set(schema["properties"]) - set(schema["required"])


def test_the_token_create_schema_admits_only_known_roles(spec: dict[str, Any]) -> None:
    body = spec["paths"]["/api/v1/tokens"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema = spec["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
    assert set(schema["required"]) == {"name", "role"}
    role = spec["components"]["schemas"][schema["properties"]["role"]["$ref"].rsplit("/", 1)[-1]]
    assert set(role["enum"]) == {r.value for r in Role}


def test_the_interactive_docs_page(client: TestClient) -> None:
    response = client.get("/schema/swagger")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text.lower()
    assert "swagger-ui-bundle.js" in response.text
    assert 'data-openapi="/schema/openapi.json"' in response.text  # it renders this service's description


# Found by the fuzzer (tests/api/test_fuzz.py): responses the document described wrongly.


def test_workflow_transitions_are_documented_with_their_wire_name_from(spec, agent):
    transition = spec["components"]["schemas"]["Transition"]
    assert "from" in transition["properties"] and "from" in transition["required"]
    assert "from_" not in transition["properties"]
    sent = agent.get("/api/v1/workflows").json()["items"][0]["transitions"][0]
    assert set(transition["required"]) <= set(sent)


def test_audit_exports_are_documented_with_their_media_types(spec):
    content = _operation(spec, "get", "/api/v1/audit/events")["responses"]["200"]["content"]
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/EventPage"}
    assert {"application/x-ndjson", "text/csv"} <= set(content)


def test_attachment_download_is_documented_as_any_media_type(spec):
    content = _operation(spec, "get", "/api/v1/records/{record_id}/attachments/{attachment_id}")["responses"]["200"]["content"]
    assert list(content) == ["*/*"]  # the stored file's own type, whatever it is
