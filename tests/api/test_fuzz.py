"""API fuzzing: schemathesis generates requests from the app's own ``/schema/openapi.json``, valid
and invalid, for every operation, sent with a token of every role; no response may be a 5xx and
none may break the schema (undocumented status, wrong content type or headers, a body that does
not match its declared shape).

schemathesis's ``negative_data_rejection`` check is left out: it counts a request with unknown
query parameters as invalid, where the API (like most) ignores them, and its invalid-header cases
drop the Authorization header this test always sends. Invalid bodies, parameters and headers
are still generated (negative mode); they must give a documented 4xx, never a 5xx.

Generated path parameters rarely name a real record, so half of the examples of an operation on
a record use a record (and attachment) that exists, to reach the code behind the lookups.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from litestar.testing import TestClient
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from records.api.app import create_app
from records.roles import Role
from records.settings import load_settings
from tests.conftest import record_body

# Examples per operation, per role and per generation mode (valid and invalid data): about 24
# operations x 6 roles x 2 modes x this, each one request to the in-process app.
EXAMPLES = 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
BASE_URL = "http://testserver.local"


@dataclass
class FuzzTarget:
    client: TestClient
    schema: Any
    tokens: dict[Role, str]
    existing: dict[str, str]  # path parameter -> a value naming something that exists


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    # Every request carries a valid token, so the authentication throttle never applies; the limit is
    # raised anyway so that nothing the fuzzer sends can lock the test out of its own app.
    settings = load_settings(data_dir=tmp_path_factory.mktemp("fuzz") / "data", auth_failure_limit=1_000_000)
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        with client.portal() as portal:
            tokens = {role: portal.call(app.state.token_service.issue, f"fuzz-{role.value}", role.value).token
                      for role in Role}
        agent = {"Authorization": f"Bearer {tokens[Role.agent]}"}
        record = client.post("/api/v1/records", json=record_body(), headers=agent)
        assert record.status_code == 201, record.text
        attachment = client.post(f"/api/v1/records/{record.json()['id']}/attachments", headers=agent,
                                 files={"file": ("log.txt", b"signal log", "text/plain")})
        assert attachment.status_code == 201, attachment.text
        document = client.get("/schema/openapi.json")
        assert document.status_code == 200
        yield FuzzTarget(
            client=client,
            schema=schemathesis.openapi.from_dict(document.json()),
            tokens=tokens,
            existing={"record_id": record.json()["id"], "attachment_id": attachment.json()["id"]},
        )


def _send(client: TestClient, kwargs: dict[str, Any]):
    """The request schemathesis prepared (``requests`` keyword arguments), sent through httpx."""
    kwargs = dict(kwargs)
    data = kwargs.pop("data", None)
    if isinstance(data, (bytes, str)):
        kwargs["content"] = data
    elif data is not None:
        kwargs["data"] = data
    if not kwargs.get("cookies"):
        kwargs.pop("cookies", None)
    if kwargs.get("files") is not None:
        kwargs["files"] = [(name, _file_part(part)) for name, part in kwargs["files"]]
    else:
        kwargs.pop("files", None)
    response = client.request(kwargs.pop("method"), kwargs.pop("url"), **kwargs)
    response.request.read()  # a multipart body is a stream; the checks read what was sent
    return response


def _as_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _file_part(part: Any) -> Any:
    """requests accepts any value as a multipart part (numbers from generated form fields); httpx wants bytes."""
    if isinstance(part, tuple):
        return (part[0], _as_bytes(part[1]), *part[2:])
    return _as_bytes(part)


def _strategy(operation: Any, mode: GenerationMode, existing: dict[str, str]) -> st.SearchStrategy:
    strategy = operation.as_strategy(mode)
    names = {p.name for p in operation.path_parameters}
    known = {name: value for name, value in existing.items() if name in names}
    if known:  # half the time, aim at what exists
        strategy = st.one_of(strategy, operation.as_strategy(mode, path_parameters=known))
    return strategy


def _has_inputs(operation: Any) -> bool:
    return any(True for _ in operation.iter_parameters()) or bool(operation.body)


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_fuzzed_requests_never_fail_the_server_or_the_schema(target: FuzzTarget, role: Role) -> None:
    headers = {"Authorization": f"Bearer {target.tokens[role]}"}
    failures: list[str] = []
    operations = [result.ok() for result in target.schema.get_all_operations()]
    assert len(operations) > 20, "the OpenAPI document lost its operations"
    for operation in operations:
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if _has_inputs(operation) else [])
        for mode in modes:

            @hypothesis.settings(
                max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                suppress_health_check=list(hypothesis.HealthCheck), phases=[hypothesis.Phase.generate],
            )
            @hypothesis.given(case=_strategy(operation, mode, target.existing))
            def fuzz(case: Any) -> None:
                kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
                response = _send(target.client, kwargs)
                case.validate_response(response, checks=CHECKS, headers=headers)

            try:
                fuzz()
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - schemathesis's FailureGroup is a BaseExceptionGroup
                # Collect every operation's failure, then report them all.
                failures.append(f"{operation.label} ({mode.value}, as {role.value}):\n{exc}")
    assert not failures, "\n\n".join(failures)
