"""A signed plugin installed, used, switched, upgraded and removed on a real ``records serve`` (issue 7).

The server runs as its own process and is talked to over HTTP, as a team would: nothing here
restarts it until the last test, which checks what a restart keeps.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from records.plugins.signing import public_pem
from tests.helpers.server_process import api, create_token, file_record
from tests.plugin_wheels import build_wheel

pytestmark = pytest.mark.slow

PLUGINS = "/api/v1/plugins"
KEYS = "/api/v1/plugins/trusted-keys"
NAME = "records-example-escalation"
METRIC = "major_complaint_share"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def tokens(data_dir: Path) -> dict[str, str]:
    return {role: create_token(data_dir, f"{role}-1", role) for role in ("admin", "plugin_manager", "agent")}


@pytest.fixture
def publisher() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _upload(client: httpx.Client, key: Ed25519PrivateKey, version: str) -> httpx.Response:
    filename, wheel = build_wheel(version=version)
    signature = base64.b64encode(key.sign(wheel)).decode()
    return client.post(PLUGINS, files={"wheel": (filename, wheel, "application/zip"), "signature": (None, signature)})


def _names(client: httpx.Client, path: str) -> list[str]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


def _plugin(client: httpx.Client, name: str = NAME) -> dict[str, Any] | None:
    response = client.get(PLUGINS)
    assert response.status_code == 200, response.text
    return next((p for p in response.json()["items"] if p["name"] == name), None)


def _trust(admin: httpx.Client, key: Ed25519PrivateKey) -> None:
    response = admin.post(KEYS, json={"name": "team-escalation", "public_key": public_pem(key.public_key())})
    assert response.status_code == 201, response.text


def test_the_plugin_lifecycle_on_a_running_server(server, tokens, publisher):
    server.start()
    pid = server.pid
    with api(server, tokens["admin"]) as admin, api(server, tokens["plugin_manager"]) as manager, \
            api(server, tokens["agent"]) as agent:
        # Only the admin manages trust, only the plugin manager installs.
        assert manager.post(KEYS, json={"name": "x", "public_key": public_pem(publisher.public_key())}).status_code == 403
        _trust(admin, publisher)
        assert _upload(admin, publisher, "1.0.0").status_code == 403

        assert METRIC not in _names(admin, "/api/v1/metrics")
        response = _upload(manager, publisher, "1.0.0")
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["name"], body["version"], body["status"], body["publisher"]) == (NAME, "1.0.0", "active", "team-escalation")

        # Its contributions are live.
        assert METRIC in _names(admin, "/api/v1/metrics")
        assert "escalation" in _names(admin, "/api/v1/classification-schemes")
        file_record(agent, "complaint", urgency="major")
        file_record(agent, "complaint", urgency="general")
        total = admin.get(f"/api/v1/metrics/{METRIC}").json()["total"]
        assert (total["numerator"], total["denominator"]) == (1, 2)

        # Disable: gone; enable: back.
        response = manager.post(f"{PLUGINS}/{NAME}/disable")
        assert response.status_code == 200 and response.json()["status"] == "disabled", response.text
        assert METRIC not in _names(admin, "/api/v1/metrics")
        assert "escalation" not in _names(admin, "/api/v1/classification-schemes")
        assert manager.post(f"{PLUGINS}/{NAME}/enable").json()["status"] == "active"
        assert METRIC in _names(admin, "/api/v1/metrics")

        # Upgrade in place.
        response = _upload(manager, publisher, "1.1.0")
        assert response.status_code == 201, response.text
        assert response.json()["version"] == "1.1.0"
        assert _plugin(admin)["version"] == "1.1.0"
        assert METRIC in _names(admin, "/api/v1/metrics")
        again = _upload(manager, publisher, "1.0.0")
        assert again.status_code == 409 and again.json()["code"] == "plugin_already_installed"

        # A wheel signed by someone else is refused and changes nothing.
        stranger = _upload(manager, Ed25519PrivateKey.generate(), "1.2.0")
        assert stranger.status_code == 422 and stranger.json()["code"] == "plugin_signature_invalid"
        assert _plugin(admin)["version"] == "1.1.0"

        # Uninstall.
        assert manager.delete(f"{PLUGINS}/{NAME}").status_code == 204
        assert _plugin(admin) is None
        assert METRIC not in _names(admin, "/api/v1/metrics")
        assert "escalation" not in _names(admin, "/api/v1/classification-schemes")
        assert manager.delete(f"{PLUGINS}/{NAME}").json()["code"] == "plugin_not_found"

        # The whole story is in the access log.
        audit_token = create_token(server.data_dir, "carl", "compliance_officer")
        with api(server, audit_token) as officer:
            events = officer.get("/api/v1/audit/events", params={"limit": 500}).json()["items"]
        actions = {(e["action"], e["outcome"]) for e in events}
        for action in ("trusted_key.add", "plugin.install", "plugin.disable", "plugin.enable", "plugin.uninstall"):
            assert (action, "allowed") in actions, action
        assert ("plugin.install", "denied") in actions or ("plugin.install", "failed") in actions

    assert server.running and server.pid == pid, "the server was never restarted"
    assert "Traceback" not in server.log(), server.log()


def test_plugin_state_survives_a_restart(server, tokens, publisher, data_dir):
    server.start()
    with api(server, tokens["admin"]) as admin, api(server, tokens["plugin_manager"]) as manager:
        _trust(admin, publisher)
        assert _upload(manager, publisher, "1.0.0").status_code == 201
        assert manager.post(f"{PLUGINS}/telecom-metrics/disable").json()["status"] == "disabled"
        assert METRIC in _names(admin, "/api/v1/metrics")
        assert "satisfaction_rate" not in _names(admin, "/api/v1/metrics")

    server.stop()
    server.start()
    with api(server, tokens["admin"]) as admin, api(server, tokens["plugin_manager"]) as manager:
        listed = _plugin(admin)
        assert listed is not None, "the installed plugin survived the restart"
        assert (listed["status"], listed["version"], listed["publisher"]) == ("active", "1.0.0", "team-escalation")
        assert METRIC in _names(admin, "/api/v1/metrics")
        assert "escalation" in _names(admin, "/api/v1/classification-schemes")
        assert _plugin(admin, "telecom-metrics")["status"] == "disabled"
        assert "satisfaction_rate" not in _names(admin, "/api/v1/metrics")
        assert [k["name"] for k in admin.get(KEYS).json()["items"]] == ["team-escalation"]

        # Changes after the restart persist too: disabled stays disabled across the next one.
        assert manager.post(f"{PLUGINS}/{NAME}/disable").json()["status"] == "disabled"
        assert manager.post(f"{PLUGINS}/telecom-metrics/enable").json()["status"] == "active"

    server.kill9()  # no graceful shutdown this time: the state is in the store, not in memory
    server.start()
    with api(server, tokens["admin"]) as admin, api(server, tokens["plugin_manager"]) as manager:
        assert _plugin(admin)["status"] == "disabled"
        assert METRIC not in _names(admin, "/api/v1/metrics")
        assert "satisfaction_rate" in _names(admin, "/api/v1/metrics")
        assert manager.post(f"{PLUGINS}/{NAME}/enable").json()["status"] == "active"
        assert METRIC in _names(admin, "/api/v1/metrics")
        # And an uninstall is for good.
        assert manager.delete(f"{PLUGINS}/{NAME}").status_code == 204

    server.stop()
    server.start()
    with api(server, tokens["admin"]) as admin:
        assert _plugin(admin) is None
        assert METRIC not in _names(admin, "/api/v1/metrics")
    assert not (data_dir / "plugins" / NAME).exists()
