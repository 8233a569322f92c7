"""Shared fixtures: an app on a fresh data dir, and API clients holding a token of each role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from records.api.app import create_app
from records.roles import Role
from records.settings import RecordsSettings, load_settings

# Helpers with fixtures of their own, shared by test modules across the tree.
pytest_plugins = ("tests.helpers.server_process",)

BROWSER_FIXTURES = frozenset({"page", "context", "browser"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests run after every other test: Playwright's sync API leaves an event loop
    behind that breaks later ``asyncio.run()`` calls in the same process."""
    in_browser = [item for item in items if BROWSER_FIXTURES & set(getattr(item, "fixturenames", ()))]
    if in_browser:
        chosen = set(map(id, in_browser))
        items[:] = [item for item in items if id(item) not in chosen] + in_browser


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read the developer's own RECORDS_* settings."""
    import os

    for name in list(os.environ):
        if name.startswith("RECORDS_") and not name.startswith("RECORDS_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "records-data"


@pytest.fixture
def settings(data_dir: Path) -> RecordsSettings:
    return load_settings(data_dir=data_dir)


@pytest.fixture
def app(settings: RecordsSettings) -> Litestar:
    return create_app(settings)


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient]:
    """A client without a token; ``issue_token`` adds tokens to the same running app."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def issue_token(app: Litestar, client: TestClient) -> Callable[[Role | str, str], str]:
    def issue(role: Role | str, name: str) -> str:
        with client.portal() as portal:
            return portal.call(app.state.token_service.issue, name, str(role)).token

    return issue


class RoleClient:
    """Calls the API as one token holder: ``agent.post("/api/v1/records", json=...)``."""

    def __init__(self, client: TestClient, token: str, name: str, role: Role) -> None:
        self._client, self.token, self.name, self.role = client, token, name, role
        self.headers = {"Authorization": f"Bearer {token}"}

    def request(self, method: str, url: str, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        return self._client.request(method, url, headers={**self.headers, **(headers or {})}, **kwargs)

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def patch(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("PATCH", url, **kw)

    def delete(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", url, **kw)


@pytest.fixture
def as_role(client: TestClient, issue_token: Callable[[Role | str, str], str]) -> Callable[..., RoleClient]:
    """``as_role(Role.agent, "alice")`` → a client holding a fresh token of that role."""

    def make(role: Role, name: str | None = None) -> RoleClient:
        name = name or f"{role.value}-1"
        return RoleClient(client, issue_token(role, name), name, role)

    return make


@pytest.fixture
def admin(as_role: Callable[..., RoleClient]) -> RoleClient:
    return as_role(Role.admin, "root")


@pytest.fixture
def agent(as_role: Callable[..., RoleClient]) -> RoleClient:
    return as_role(Role.agent, "alice")


@pytest.fixture
def other_agent(as_role: Callable[..., RoleClient]) -> RoleClient:
    return as_role(Role.agent, "bob")


@pytest.fixture
def supervisor(as_role: Callable[..., RoleClient]) -> RoleClient:
    return as_role(Role.supervisor, "sam")


@pytest.fixture
def archivist(as_role: Callable[..., RoleClient]) -> RoleClient:
    return as_role(Role.archivist, "ada")


@pytest.fixture
def compliance_officer(as_role: Callable[..., RoleClient]) -> RoleClient:
    return as_role(Role.compliance_officer, "carl")


@pytest.fixture
def plugin_manager(as_role: Callable[..., RoleClient]) -> RoleClient:
    return as_role(Role.plugin_manager, "pat")


def record_body(kind: str = "complaint", **overrides: Any) -> dict[str, Any]:
    """A valid filing body; tests override what they examine."""
    body: dict[str, Any] = {
        "kind": kind,
        "channel": "phone",
        "customer": {"name": "张三", "phone": "13812345678", "account": "ACC-1001"},
        "subject": "No signal since Monday",
        "description": "Customer reports no mobile signal at home since Monday morning.",
        "urgency": "urgent",
    }
    body.update(overrides)
    return body


@pytest.fixture
def filed(agent: RoleClient) -> dict[str, Any]:
    """A complaint filed by ``agent`` (alice)."""
    response = agent.post("/api/v1/records", json=record_body())
    assert response.status_code == 201, response.text
    return response.json()
