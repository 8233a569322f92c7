"""Every instance on one store picks plugin changes up without a restart (issue 7).

Two app instances (two ``create_app`` on the same data dir, each with its own lifespan and its
own periodic plugin sync) stand for two workers or two servers behind a load balancer; the CLI
stands for an operator changing plugins while they run.
"""

from __future__ import annotations

import base64
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar.testing import TestClient

from records.api.app import create_app
from records.cli import main
from records.plugins.signing import public_pem
from records.settings import RecordsSettings, load_settings
from tests.conftest import record_body
from tests.plugin_wheels import build_wheel

PLUGINS = "/api/v1/plugins"
KEYS = "/api/v1/plugins/trusted-keys"
NAME = "records-example-escalation"
METRIC = "major_complaint_share"
SYNC = 0.2
PATIENCE = 15.0  # seconds: many sync rounds, bounded


class Instance:
    """One running app on the shared data dir, calling its API with any token."""

    def __init__(self, settings: RecordsSettings) -> None:
        self.app = create_app(settings)
        self.client = TestClient(self.app, raise_server_exceptions=False)

    def start(self) -> Instance:
        self.client.__enter__()
        return self

    def stop(self) -> None:
        self.client.__exit__(None, None, None)

    def call(self, token: str, method: str, url: str, **kwargs: Any) -> Any:
        return self.client.request(method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs)

    def issue(self, role: str, name: str) -> str:
        with self.client.portal() as portal:
            return portal.call(self.app.state.token_service.issue, name, role).token

    def sync(self) -> None:
        with self.client.portal() as portal:
            portal.call(self.app.state.installation.plugin_service.sync)

    def metrics(self, token: str) -> list[str]:
        response = self.call(token, "GET", "/api/v1/metrics")
        assert response.status_code == 200, response.text
        return [m["name"] for m in response.json()["items"]]

    def schemes(self, token: str) -> list[str]:
        response = self.call(token, "GET", "/api/v1/classification-schemes")
        assert response.status_code == 200, response.text
        return [s["name"] for s in response.json()["items"]]

    def plugin(self, token: str, name: str = NAME) -> dict[str, Any] | None:
        response = self.call(token, "GET", PLUGINS)
        assert response.status_code == 200, response.text
        return next((p for p in response.json()["items"] if p["name"] == name), None)


def eventually(check: Callable[[], bool], what: str, timeout: float = PATIENCE) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


@pytest.fixture
def settings(data_dir: Path) -> RecordsSettings:
    return load_settings(data_dir=data_dir, plugin_sync_seconds=SYNC)


@pytest.fixture
def instances(settings: RecordsSettings) -> Iterator[Callable[[], Instance]]:
    started: list[Instance] = []

    def start() -> Instance:
        instance = Instance(settings).start()
        started.append(instance)
        return instance

    try:
        yield start
    finally:
        for instance in reversed(started):
            instance.stop()


@pytest.fixture
def publisher() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def pair(instances, publisher) -> tuple[Instance, Instance, dict[str, str]]:
    a, b = instances(), instances()
    tokens = {role: a.issue(role, f"{role}-1") for role in ("admin", "plugin_manager", "agent")}
    response = a.call(tokens["admin"], "POST", KEYS, json={"name": "team-escalation", "public_key": public_pem(publisher.public_key())})
    assert response.status_code == 201, response.text
    return a, b, tokens


def _install(instance: Instance, token: str, key: Ed25519PrivateKey, version: str = "1.0.0") -> Any:
    filename, wheel = build_wheel(version=version)
    signature = base64.b64encode(key.sign(wheel)).decode()
    return instance.call(token, "POST", PLUGINS, files={"wheel": (filename, wheel, "application/zip"), "signature": (None, signature)})


def test_install_on_one_instance_serves_on_the_other(pair, publisher):
    a, b, tokens = pair
    admin, manager = tokens["admin"], tokens["plugin_manager"]
    assert METRIC not in b.metrics(admin)
    response = _install(a, manager, publisher)
    assert response.status_code == 201, response.text
    assert METRIC in a.metrics(admin)

    eventually(lambda: METRIC in b.metrics(admin), "instance B serves the installed plugin's metric")
    assert "escalation" in b.schemes(admin)
    listed = b.plugin(admin)
    assert listed is not None
    assert (listed["status"], listed["version"], listed["publisher"]) == ("active", "1.0.0", "team-escalation")

    # B computes the metric over the shared records, like A.
    b.call(tokens["agent"], "POST", "/api/v1/records", json=record_body("complaint", urgency="major"))
    a.call(tokens["agent"], "POST", "/api/v1/records", json=record_body("complaint", urgency="general"))
    for instance in (a, b):
        value = instance.call(admin, "GET", f"/api/v1/metrics/{METRIC}").json()["total"]
        assert (value["numerator"], value["denominator"]) == (1, 2)


def test_disable_on_one_instance_switches_the_other_off_and_uninstall_removes_it(pair, publisher):
    a, b, tokens = pair
    admin, manager = tokens["admin"], tokens["plugin_manager"]
    assert _install(a, manager, publisher).status_code == 201
    b.sync()  # an explicit round, no waiting
    assert METRIC in b.metrics(admin)

    response = b.call(manager, "POST", f"{PLUGINS}/{NAME}/disable")
    assert response.status_code == 200 and response.json()["status"] == "disabled", response.text
    assert METRIC not in b.metrics(admin)
    eventually(lambda: METRIC not in a.metrics(admin), "instance A drops the metric of a plugin disabled on B")
    assert "escalation" not in a.schemes(admin)
    assert a.plugin(admin)["status"] == "disabled"

    response = a.call(manager, "POST", f"{PLUGINS}/{NAME}/enable")
    assert response.status_code == 200 and response.json()["status"] == "active", response.text
    eventually(lambda: METRIC in b.metrics(admin), "instance B serves the metric again after enable on A")

    assert a.call(manager, "DELETE", f"{PLUGINS}/{NAME}").status_code == 204
    eventually(lambda: METRIC not in b.metrics(admin), "instance B drops the metric of a plugin uninstalled on A")
    assert b.plugin(admin) is None
    assert "escalation" not in b.schemes(admin)
    # Gone from B for good: B cannot switch what no longer exists.
    response = b.call(manager, "POST", f"{PLUGINS}/{NAME}/enable")
    assert response.status_code == 404 and response.json()["code"] == "plugin_not_found"


def test_an_upgrade_on_one_instance_reaches_the_other(pair, publisher):
    a, b, tokens = pair
    admin, manager = tokens["admin"], tokens["plugin_manager"]
    assert _install(a, manager, publisher, "1.0.0").status_code == 201
    eventually(lambda: (b.plugin(admin) or {}).get("version") == "1.0.0", "B has 1.0.0")
    response = _install(a, manager, publisher, "1.1.0")
    assert response.status_code == 201 and response.json()["version"] == "1.1.0", response.text
    eventually(lambda: (b.plugin(admin) or {}).get("version") == "1.1.0", "B has the upgrade")
    assert b.plugin(admin)["status"] == "active"
    assert METRIC in b.metrics(admin)
    # An upgrade arriving on B is not an upgrade again.
    again = _install(b, manager, publisher, "1.1.0")
    assert again.status_code == 409 and again.json()["code"] == "plugin_already_installed"


def test_a_built_in_switched_off_on_one_instance_is_off_on_the_other(pair):
    a, b, tokens = pair
    admin, manager = tokens["admin"], tokens["plugin_manager"]
    assert "satisfaction_rate" in b.metrics(admin)
    assert a.call(manager, "POST", f"{PLUGINS}/telecom-metrics/disable").json()["status"] == "disabled"
    eventually(lambda: "satisfaction_rate" not in b.metrics(admin), "B drops the built-in metrics disabled on A")
    assert b.plugin(admin, "telecom-metrics")["status"] == "disabled"
    assert b.call(manager, "POST", f"{PLUGINS}/telecom-metrics/enable").json()["status"] == "active"
    eventually(lambda: "satisfaction_rate" in a.metrics(admin), "A serves the built-in metrics again")


def _cli(*args: Any) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_a_plugin_installed_with_the_cli_reaches_a_running_app(instances, data_dir, tmp_path):
    app = instances()
    admin = app.issue("admin", "root")
    d = ["--data-dir", data_dir]
    key = tmp_path / "team.pem"
    assert _cli("plugins", "keygen", "--out", key).exit_code == 0
    assert _cli("plugins", "trust", "team-escalation", f"{key}.pub", *d).exit_code == 0
    filename, wheel = build_wheel()
    path = tmp_path / filename
    path.write_bytes(wheel)
    assert _cli("plugins", "sign", "--key", key, path).exit_code == 0
    assert METRIC not in app.metrics(admin)

    result = _cli("plugins", "install", path, *d)
    assert result.exit_code == 0, result.output
    eventually(lambda: METRIC in app.metrics(admin), "the running app serves the metric of a plugin the CLI installed")
    listed = app.plugin(admin)
    assert listed["status"] == "active" and listed["installed_by"].startswith("cli:")

    assert _cli("plugins", "disable", NAME, *d).exit_code == 0
    eventually(lambda: METRIC not in app.metrics(admin), "the running app drops a plugin the CLI disabled")
    assert _cli("plugins", "enable", NAME, *d).exit_code == 0
    eventually(lambda: METRIC in app.metrics(admin), "the running app takes a plugin the CLI enabled")
    assert _cli("plugins", "uninstall", NAME, *d).exit_code == 0
    eventually(lambda: app.plugin(admin) is None, "the running app forgets a plugin the CLI uninstalled")
    assert METRIC not in app.metrics(admin)


# --- a wheel missing or altered in the blob store ----------------------------------------------------


def _stored_wheel(data_dir: Path) -> Path:
    found = list((data_dir / "blobs" / "plugins" / NAME).glob("1.0.0-*.whl"))
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("damage", ["missing", "altered"])
def test_a_fresh_instance_reports_a_plugin_whose_wheel_is_gone_or_altered(instances, settings, data_dir, publisher, damage):
    first = instances()
    tokens = {role: first.issue(role, f"{role}-1") for role in ("admin", "plugin_manager", "agent")}
    admin = tokens["admin"]
    assert first.call(admin, "POST", KEYS, json={"name": "team-escalation",
                                                 "public_key": public_pem(publisher.public_key())}).status_code == 201
    assert _install(first, tokens["plugin_manager"], publisher).status_code == 201
    first.stop()

    blob = _stored_wheel(data_dir)
    assert blob.name.startswith("1.0.0-")
    if damage == "missing":
        blob.unlink()
    else:
        data = bytearray(blob.read_bytes())
        data[len(data) // 2] ^= 0x01
        blob.write_bytes(bytes(data))
    # A fresh instance has not unpacked the plugin yet: it must fetch the wheel from the blob store.
    shutil.rmtree(data_dir / "plugins" / NAME)

    fresh = instances()
    listed = fresh.plugin(admin)
    assert listed is not None, "the installed plugin is still listed"
    assert (listed["status"], listed["origin"], listed["version"]) == ("failed", "installed", "1.0.0")
    assert listed["error"], listed
    expected = "missing from the blob store" if damage == "missing" else "does not match its hash"
    assert expected in listed["error"] and NAME in listed["error"]
    assert not (data_dir / "plugins" / NAME / blob.stem).exists()  # nothing unpacked from a bad wheel

    # The service runs on without it.
    assert fresh.client.get("/health").status_code == 200
    assert METRIC not in fresh.metrics(admin) and "satisfaction_rate" in fresh.metrics(admin)
    assert "escalation" not in fresh.schemes(admin)
    filed = fresh.call(tokens["agent"], "POST", "/api/v1/records", json=record_body())
    assert filed.status_code == 201, filed.text
    # Later sync rounds do not change their mind or crash.
    fresh.sync()
    assert fresh.plugin(admin)["status"] == "failed"
    # An upgrade with a good wheel repairs it.
    response = _install(fresh, tokens["plugin_manager"], publisher, "1.1.0")
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "active"
    assert METRIC in fresh.metrics(admin)


def test_a_broken_upgrade_leaves_every_instance_on_the_working_version(pair, publisher):
    a, b, tokens = pair
    admin, manager = tokens["admin"], tokens["plugin_manager"]
    assert _install(a, manager, publisher, "1.0.0").status_code == 201
    eventually(lambda: METRIC in b.metrics(admin), "B serves 1.0.0")

    package = "records_example_escalation"
    filename, wheel = build_wheel(version="1.1.0", files={f"{package}/__init__.py": b"",
                                                          f"{package}/plugin.py": b"raise RuntimeError('broken 1.1.0')\n"})
    signature = base64.b64encode(publisher.sign(wheel)).decode()
    response = a.call(manager, "POST", PLUGINS, files={"wheel": (filename, wheel, "application/zip"), "signature": (None, signature)})
    assert response.status_code == 422 and response.json()["code"] == "plugin_load_failed", response.text
    assert response.json()["detail"].endswith("1.1.0 failed to load: loading raised builtins.RuntimeError")  # never its message

    for instance in (a, b):
        instance.sync()
        listed = instance.plugin(admin)
        assert (listed["version"], listed["status"]) == ("1.0.0", "active")
        assert METRIC in instance.metrics(admin)
        assert "escalation" in instance.schemes(admin)


def test_a_change_committed_elsewhere_during_an_install_still_arrives(pair, publisher, monkeypatch):
    """Two plugin managers act at the same moment on two instances: each instance ends up with both changes."""
    import anyio.to_thread

    a, b, tokens = pair
    admin, manager = tokens["admin"], tokens["plugin_manager"]
    repository = a.app.state.storage.plugins
    save_installed = repository.save_installed
    done: list[int] = []

    async def save_while_b_acts(plugin: Any, expected: Any, events: Any = ()) -> bool:
        # B's change commits while A is installing (after A's own sync, before A's commit).
        response = await anyio.to_thread.run_sync(
            lambda: b.call(manager, "POST", f"{PLUGINS}/telecom-metrics/disable"))
        done.append(response.status_code)
        return await save_installed(plugin, expected, events)

    monkeypatch.setattr(repository, "save_installed", save_while_b_acts)
    assert _install(a, manager, publisher).status_code == 201
    monkeypatch.setattr(repository, "save_installed", save_installed)
    assert done == [200]

    assert "satisfaction_rate" not in b.metrics(admin)
    eventually(lambda: METRIC in b.metrics(admin), "B serves the plugin A installed")
    eventually(lambda: "satisfaction_rate" not in a.metrics(admin),
               "A drops the built-in metrics B disabled while A was installing", timeout=3.0)
