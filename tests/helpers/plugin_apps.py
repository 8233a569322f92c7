"""An app over a test's own plugin manager: ``with running(settings, with_plugins(name=Plugin())) as
service`` serves it in a test client, ``service.login(role, name)`` a client of that role."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from litestar.testing import TestClient

from records.api.app import create_app
from records.plugins.manager import plugin_manager
from records.roles import Role
from tests.conftest import RoleClient


class Service:
    def __init__(self, app, client: TestClient) -> None:  # type: ignore[no-untyped-def]
        self.app, self.client = app, client
        self.readers = 0

    def login(self, role: Role, name: str) -> RoleClient:
        with self.client.portal() as portal:
            token = portal.call(self.app.state.token_service.issue, name, str(role)).token
        return RoleClient(self.client, token, name, role)

    def drain(self) -> None:
        with self.client.portal() as portal:
            portal.call(self.app.state.notifier.drain)

    def plugins(self) -> dict[str, dict[str, Any]]:
        self.readers += 1
        response = self.login(Role.plugin_manager, f"pat-{self.readers}").get("/api/v1/plugins")
        assert response.status_code == 200, response.text
        return {p["name"]: p for p in response.json()["items"]}


@contextlib.contextmanager
def running(settings, pm=None) -> Iterator[Service]:  # type: ignore[no-untyped-def]
    app = create_app(settings, plugins=pm)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Service(app, client)


def with_plugins(**plugins: object):  # type: ignore[no-untyped-def]
    pm = plugin_manager()
    for name, plugin in plugins.items():
        pm.register(plugin, name=name.replace("_", "-"))
    return pm
