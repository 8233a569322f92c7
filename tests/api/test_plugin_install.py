"""Teams install plugins through the API: signed, checked, live, reversible (issue 7)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from records.plugins.signing import public_pem
from tests.conftest import RoleClient, record_body
from tests.plugin_wheels import EXAMPLE_PACKAGE, build_wheel

PLUGINS = "/api/v1/plugins"
KEYS = "/api/v1/plugins/trusted-keys"


@pytest.fixture
def publisher() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def trusted(admin: RoleClient, publisher: Ed25519PrivateKey) -> Ed25519PrivateKey:
    response = admin.post(KEYS, json={"name": "team-escalation", "public_key": public_pem(publisher.public_key())})
    assert response.status_code == 201, response.text
    return publisher


def _sign(key: Ed25519PrivateKey, wheel: bytes) -> str:
    return base64.b64encode(key.sign(wheel)).decode()


def _install(client: RoleClient, filename: str, wheel: bytes, signature: str) -> Any:
    return client.post(PLUGINS, files={"wheel": (filename, wheel, "application/zip"), "signature": (None, signature)})


def _names(client: RoleClient, path: str) -> list[str]:
    body = client.get(path).json()
    return [item.get("name") for item in body["items"]]


def _plugin(client: RoleClient, name: str) -> dict[str, Any] | None:
    return next((p for p in client.get(PLUGINS).json()["items"] if p["name"] == name), None)


def test_install_use_disable_upgrade_uninstall_without_restart(plugin_manager, admin, agent, trusted):
    assert "major_complaint_share" not in _names(admin, "/api/v1/metrics")
    filename, wheel = build_wheel(version="1.0.0")
    response = _install(plugin_manager, filename, wheel, _sign(trusted, wheel))
    assert response.status_code == 201, response.text
    installed = response.json()
    assert installed["name"] == "records-example-escalation"
    assert (installed["version"], installed["origin"], installed["status"]) == ("1.0.0", "installed", "active")
    assert installed["publisher"] == "team-escalation"
    assert {"records_register_metrics", "records_register_classification_schemes", "records_lifecycle"} <= set(installed["hooks"])

    # Its contributions are live: a scheme and a metric, computed over filed records.
    assert "escalation" in _names(admin, "/api/v1/classification-schemes")
    assert "major_complaint_share" in _names(admin, "/api/v1/metrics")
    agent.post("/api/v1/records", json=record_body("complaint", urgency="major"))
    agent.post("/api/v1/records", json=record_body("complaint", urgency="general"))
    value = admin.get("/api/v1/metrics/major_complaint_share").json()["total"]
    assert (value["numerator"], value["denominator"]) == (1, 2)

    # Disable: gone from the API, listed as disabled; enable brings it back.
    response = plugin_manager.post(f"{PLUGINS}/records-example-escalation/disable")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "disabled"
    assert "major_complaint_share" not in _names(admin, "/api/v1/metrics")
    assert plugin_manager.post(f"{PLUGINS}/records-example-escalation/enable").json()["status"] == "active"
    assert "major_complaint_share" in _names(admin, "/api/v1/metrics")

    # Upgrade: a newer version replaces the code in place.
    filename2, wheel2 = build_wheel(version="1.1.0")
    plugin_source = wheel2  # noqa: F841 - the same package, a new version
    response = _install(plugin_manager, filename2, wheel2, _sign(trusted, wheel2))
    assert response.status_code == 201, response.text
    assert response.json()["version"] == "1.1.0"
    import sys

    assert sys.modules[EXAMPLE_PACKAGE].__version__ == "1.1.0"  # the new code, not the cached old module

    # The same or an older version is not an upgrade.
    again = _install(plugin_manager, filename, wheel, _sign(trusted, wheel))
    assert again.status_code == 409 and again.json()["code"] == "plugin_already_installed"

    # Uninstall: gone everywhere.
    assert plugin_manager.delete(f"{PLUGINS}/records-example-escalation").status_code == 204
    assert _plugin(admin, "records-example-escalation") is None
    assert "major_complaint_share" not in _names(admin, "/api/v1/metrics")
    assert "escalation" not in _names(admin, "/api/v1/classification-schemes")
    assert EXAMPLE_PACKAGE not in sys.modules


def test_every_change_is_audited(plugin_manager, admin, compliance_officer, trusted):
    filename, wheel = build_wheel()
    assert _install(plugin_manager, filename, wheel, _sign(trusted, wheel)).status_code == 201
    plugin_manager.post(f"{PLUGINS}/records-example-escalation/disable")
    plugin_manager.post(f"{PLUGINS}/records-example-escalation/enable")
    plugin_manager.delete(f"{PLUGINS}/records-example-escalation")
    admin.delete(f"{KEYS}/team-escalation")
    events = compliance_officer.get("/api/v1/audit/events", params={"limit": 200}).json()["items"]
    actions = [(e["action"], e["outcome"]) for e in events]
    for action in ("trusted_key.add", "plugin.install", "plugin.disable", "plugin.enable", "plugin.uninstall",
                   "trusted_key.remove"):
        assert (action, "allowed") in actions, action
    install = next(e for e in events if e["action"] == "plugin.install")
    assert "plugin:records-example-escalation" in install["targets"] and install["actor"] == plugin_manager.name


@pytest.mark.parametrize("role", ["admin", "agent", "supervisor", "archivist", "compliance_officer"])
def test_only_the_plugin_manager_role_installs(as_role, trusted, role):
    from records.roles import Role

    client = as_role(Role(role))
    filename, wheel = build_wheel()
    response = _install(client, filename, wheel, _sign(trusted, wheel))
    assert response.status_code == 403
    assert client.post(f"{PLUGINS}/telecom-metrics/disable").status_code == 403
    assert client.delete(f"{PLUGINS}/records-example-escalation").status_code == 403


def _refused(plugin_manager: RoleClient, admin: RoleClient, filename: str, wheel: bytes, signature: str) -> dict[str, Any]:
    before = admin.get(PLUGINS).json()
    response = _install(plugin_manager, filename, wheel, signature)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert admin.get(PLUGINS).json() == before  # nothing installed, nothing half-done
    assert "escalation" not in _names(admin, "/api/v1/classification-schemes")
    return response.json()


def test_unsigned_and_wrongly_signed_wheels_are_refused(plugin_manager, admin, trusted):
    filename, wheel = build_wheel()
    assert _refused(plugin_manager, admin, filename, wheel, "")["code"] == "invalid_input"
    assert _refused(plugin_manager, admin, filename, wheel, "bm90IGEgc2lnbmF0dXJl")["code"] == "invalid_input"
    stranger = Ed25519PrivateKey.generate()
    assert _refused(plugin_manager, admin, filename, wheel, _sign(stranger, wheel))["code"] == "plugin_signature_invalid"
    response = plugin_manager.post(PLUGINS, files={"wheel": (filename, wheel, "application/zip")})
    assert response.status_code == 422 and response.json()["code"] == "invalid_input"


def test_an_empty_trust_store_says_so(plugin_manager, admin, publisher):
    filename, wheel = build_wheel()
    problem = _refused(plugin_manager, admin, filename, wheel, _sign(publisher, wheel))
    assert problem["code"] == "plugin_signature_invalid" and "trust store is empty" in problem["detail"]


def test_a_tampered_wheel_fails_its_signature(plugin_manager, admin, trusted):
    filename, wheel = build_wheel()
    signature = _sign(trusted, wheel)
    tampered = bytearray(wheel)
    tampered[len(tampered) // 2] ^= 0x01
    assert _refused(plugin_manager, admin, filename, bytes(tampered), signature)["code"] == "plugin_signature_invalid"


@pytest.mark.parametrize("case", ["traversal", "absolute", "record_mismatch", "unlisted", "no_entry_point",
                                  "binary", "shadowing", "data_dir", "not_zip", "name_mismatch", "key_provider",
                                  "unknown_hook", "import_error"])
def test_bad_wheels_are_refused_even_when_signed(plugin_manager, admin, trusted, case):
    package = {f"{EXAMPLE_PACKAGE}/__init__.py": b"", f"{EXAMPLE_PACKAGE}/plugin.py": b"x = 1\n"}
    kwargs: dict[str, Any] = {}
    if case == "traversal":
        kwargs["extra"] = {"../evil.py": b"print('owned')"}
    elif case == "absolute":
        kwargs["extra"] = {"/tmp/evil.py": b"print('owned')"}
    elif case == "unlisted":
        kwargs["record"] = True
    elif case == "no_entry_point":
        kwargs["entry_points"] = {}
    elif case == "binary":
        kwargs["tag"] = "cp311-cp311-manylinux_2_17_x86_64"
    elif case == "shadowing":
        package = {"json/__init__.py": b"", "json/plugin.py": b""}
        kwargs["entry_points"] = {"escalation": "json.plugin"}
    elif case == "data_dir":
        kwargs["extra"] = {"records_example_escalation-1.0.0.data/scripts/run": b"#!/bin/sh\n"}
    elif case == "key_provider":
        package[f"{EXAMPLE_PACKAGE}/plugin.py"] = (
            b"from records import hookimpl\n\n@hookimpl\ndef records_key_provider(settings, keyring):\n    return None\n")
    elif case == "unknown_hook":
        package[f"{EXAMPLE_PACKAGE}/plugin.py"] = (
            b"from records import hookimpl\n\n@hookimpl\ndef records_no_such_hook():\n    return None\n")
    elif case == "import_error":
        package[f"{EXAMPLE_PACKAGE}/plugin.py"] = b"raise RuntimeError('broken at import')\n"
    filename, wheel = build_wheel(files=package, **kwargs)
    if case == "record_mismatch":
        import io
        import zipfile

        source = zipfile.ZipFile(io.BytesIO(wheel))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as target:
            for info in source.infolist():
                data = source.read(info)
                if info.filename.endswith("plugin.py"):
                    data = b"x = 2\n"  # altered after RECORD was written
                target.writestr(info, data)
        wheel = out.getvalue()
    elif case == "unlisted":
        import io
        import zipfile

        out = io.BytesIO(wheel)
        with zipfile.ZipFile(out, "a") as target:
            target.writestr(f"{EXAMPLE_PACKAGE}/sneaky.py", b"print('not in RECORD')")
        wheel = out.getvalue()
    elif case == "not_zip":
        wheel = b"this is not a zip file at all" * 10
    elif case == "name_mismatch":
        filename = "other_name-1.0.0-py3-none-any.whl"
    problem = _refused(plugin_manager, admin, filename, wheel, _sign(trusted, wheel))
    expected = "plugin_load_failed" if case in ("key_provider", "unknown_hook", "import_error") else "plugin_package_invalid"
    assert problem["code"] == expected, problem
    import sys

    assert EXAMPLE_PACKAGE not in sys.modules


def test_an_oversized_wheel_is_413_and_leaves_nothing(app, plugin_manager, admin, trusted):
    limit = app.state.settings.max_plugin_bytes
    filename, _ = build_wheel()
    huge = b"\0" * (limit + 1)
    response = _install(plugin_manager, filename, huge, _sign(trusted, huge))
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
    assert _plugin(admin, "records-example-escalation") is None


def test_built_ins_can_be_disabled_not_deleted(plugin_manager, admin):
    response = plugin_manager.delete(f"{PLUGINS}/telecom_metrics")
    assert response.status_code == 409 and response.json()["code"] == "builtin_plugin"
    assert plugin_manager.post(f"{PLUGINS}/telecom-metrics/disable").json()["status"] == "disabled"
    assert _names(admin, "/api/v1/metrics") == []
    assert plugin_manager.post(f"{PLUGINS}/telecom-metrics/enable").json()["status"] == "active"
    assert "satisfaction_rate" in _names(admin, "/api/v1/metrics")


def test_a_built_in_the_service_needs_cannot_be_disabled(plugin_manager, admin):
    response = plugin_manager.post(f"{PLUGINS}/telecom-workflows/disable")
    assert response.status_code == 409 and response.json()["code"] == "plugin_required"
    assert _plugin(admin, "telecom-workflows")["status"] == "active"
    assert admin.post("/api/v1/records", json=record_body()).status_code == 201


def test_unknown_plugins_are_404(plugin_manager):
    for response in (plugin_manager.post(f"{PLUGINS}/nope/disable"), plugin_manager.post(f"{PLUGINS}/nope/enable"),
                     plugin_manager.delete(f"{PLUGINS}/nope")):
        assert response.status_code == 404 and response.json()["code"] == "plugin_not_found"


def test_the_trust_store(admin, plugin_manager, publisher):
    pem = public_pem(publisher.public_key())
    created = admin.post(KEYS, json={"name": "team-a", "public_key": pem})
    assert created.status_code == 201 and created.json()["fingerprint"].startswith("sha256:")
    assert admin.post(KEYS, json={"name": "team-b", "public_key": pem}).json()["code"] == "trusted_key_exists"
    assert admin.post(KEYS, json={"name": "team-a", "public_key": public_pem(Ed25519PrivateKey.generate().public_key())}).status_code == 409
    assert [k["name"] for k in admin.get(KEYS).json()["items"]] == ["team-a"]
    rsa_like = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----\n"
    for bad in ("not a key", rsa_like, ""):
        response = admin.post(KEYS, json={"name": "team-c", "public_key": bad})
        assert response.status_code == 422, bad
    assert admin.post(KEYS, json={"name": "Bad Name!", "public_key": pem}).status_code == 422
    assert plugin_manager.post(KEYS, json={"name": "team-d", "public_key": pem}).status_code == 403
    assert admin.delete(f"{KEYS}/team-a").status_code == 204
    assert admin.delete(f"{KEYS}/team-a").json()["code"] == "trusted_key_not_found"


def test_a_private_key_pem_is_not_a_public_key(admin, publisher):
    private_pem = publisher.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()).decode()
    assert admin.post(KEYS, json={"name": "team-x", "public_key": private_pem}).status_code == 422


# --- found by the security review -----------------------------------------------------------------


@pytest.mark.parametrize("case", ["native_module", "binary_tag_in_wheel_file", "namespace_dir_shadowing",
                                  "file_and_directory", "main_module"])
def test_more_bad_wheels_are_refused_even_when_signed(plugin_manager, admin, trusted, case):
    package = {f"{EXAMPLE_PACKAGE}/__init__.py": b"", f"{EXAMPLE_PACKAGE}/plugin.py": b"x = 1\n"}
    kwargs: dict[str, Any] = {}
    if case == "native_module":
        package[f"{EXAMPLE_PACKAGE}/_speed.cpython-311-x86_64-linux-gnu.so"] = b"\x7fELF"
    elif case == "file_and_directory":
        package[f"{EXAMPLE_PACKAGE}/helpers"] = b"x = 1\n"
        package[f"{EXAMPLE_PACKAGE}/helpers/more.py"] = b"x = 2\n"
    elif case == "main_module":
        package["__main__.py"] = b"print('hi')\n"
    filename, wheel = build_wheel(files=package, **kwargs)
    if case == "binary_tag_in_wheel_file":
        wheel = _retag(wheel)  # a compiled wheel renamed py3-none-any: its WHEEL file still says so
    elif case == "namespace_dir_shadowing":
        import io
        import zipfile

        out = io.BytesIO(wheel)
        with zipfile.ZipFile(out, "a") as target:
            target.writestr(zipfile.ZipInfo("json/"), b"")  # an empty dir on sys.path shadows the stdlib's json
        wheel = out.getvalue()
    problem = _refused(plugin_manager, admin, filename, wheel, _sign(trusted, wheel))
    assert problem["code"] == "plugin_package_invalid", problem


def _retag(wheel: bytes) -> bytes:
    """The same wheel whose WHEEL file (and its RECORD line) declares a binary tag."""
    import base64
    import hashlib
    import io
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(wheel))
    files = {i.filename: source.read(i) for i in source.infolist()}
    name = next(n for n in files if n.endswith(".dist-info/WHEEL"))
    files[name] = files[name].replace(b"Tag: py3-none-any", b"Tag: cp311-cp311-linux_x86_64")
    record = next(n for n in files if n.endswith(".dist-info/RECORD"))
    digest = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(files[name]).digest()).rstrip(b"=").decode()
    lines = [f"{name},{digest},{len(files[name])}" if line.startswith(name + ",") else line
             for line in files[record].decode().splitlines()]
    files[record] = ("\n".join(lines) + "\n").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for path, data in files.items():
            target.writestr(path, data)
    return out.getvalue()


def test_an_upgrade_signed_by_another_publisher_is_refused(plugin_manager, admin, trusted):
    filename, wheel = build_wheel(version="1.0.0")
    assert _install(plugin_manager, filename, wheel, _sign(trusted, wheel)).status_code == 201
    other = Ed25519PrivateKey.generate()
    assert admin.post(KEYS, json={"name": "team-other", "public_key": public_pem(other.public_key())}).status_code == 201
    filename2, wheel2 = build_wheel(version="2.0.0")
    response = _install(plugin_manager, filename2, wheel2, _sign(other, wheel2))
    assert response.status_code == 409 and response.json()["code"] == "plugin_publisher_mismatch"
    assert _plugin(admin, "records-example-escalation")["version"] == "1.0.0"


@pytest.mark.parametrize("body", ["many_parts", "long_header"])
def test_malformed_multipart_is_4xx_never_500(plugin_manager, trusted, body):
    boundary = "b0undary"
    if body == "many_parts":
        parts = "".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\nx\r\n" for i in range(40))
    else:
        parts = f"--{boundary}\r\nContent-Disposition: form-data; name=\"wheel\"; filename=\"{'a' * 6000}.whl\"\r\n\r\nx\r\n"
    content = (parts + f"--{boundary}--\r\n").encode()
    response = plugin_manager.post(PLUGINS, content=content, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_commit_that_fails_leaves_no_code_running(app, client, plugin_manager, admin, trusted, monkeypatch):
    repository = app.state.storage.plugins

    async def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(repository, "save_installed", full_disk)
    filename, wheel = build_wheel()
    response = _install(plugin_manager, filename, wheel, _sign(trusted, wheel))
    assert response.status_code >= 500
    monkeypatch.undo()
    assert "major_complaint_share" not in _names(admin, "/api/v1/metrics")
    assert "escalation" not in _names(admin, "/api/v1/classification-schemes")
    assert _plugin(admin, "records-example-escalation") is None
    # And the same upload installs cleanly once the store takes writes again.
    assert _install(plugin_manager, filename, wheel, _sign(trusted, wheel)).status_code == 201


def test_an_installed_plugin_brings_its_retention_schedules_at_once(plugin_manager, admin, archivist, trusted):
    """Default schedules a plugin registers are stored when it is installed, not at the next start."""
    source = b'''from records import hookimpl


@hookimpl
def records_register_retention_schedules(register):
    register({"name": "Billing disputes", "kinds": ["work_order"], "classification": None, "trigger": "event:dispute_closed",
              "period": "P7Y", "cutoff": None, "action": "review"})
'''
    filename, wheel = build_wheel(name="records-billing-retention", files={"records_billing_retention/__init__.py": source},
                                  entry_points={"billing": "records_billing_retention"})

    def names() -> set[str]:
        return {s["name"] for s in archivist.get("/api/v1/retention/schedules").json()["items"]}

    assert "Billing disputes" not in names()
    assert _install(plugin_manager, filename, wheel, _sign(trusted, wheel)).status_code == 201
    schedule = next(s for s in archivist.get("/api/v1/retention/schedules").json()["items"] if s["name"] == "Billing disputes")
    assert schedule["period"] == "P7Y" and schedule["trigger"] == "event:dispute_closed"


def test_a_plugin_is_named_one_way_and_found_by_any_spelling_pip_accepts(admin, plugin_manager):
    # GET /plugins names every plugin in PEP 503 form, built-ins included; requests may use the
    # entry point's own spelling, or any other that normalises the same.
    names = {item["name"] for item in admin.get(PLUGINS).json()["items"]}
    assert {"local-keys", "telecom-workflows", "telecom-metrics", "telecom-service-levels"} <= names
    assert all(name == name.lower() and "_" not in name and "." not in name for name in names), names
    for spelling in ("telecom_metrics", "Telecom.Metrics", "telecom-metrics"):
        switched = plugin_manager.post(f"{PLUGINS}/{spelling}/disable")
        assert switched.status_code == 200 and switched.json()["name"] == "telecom-metrics", switched.text
        assert plugin_manager.post(f"{PLUGINS}/{spelling}/enable").json()["status"] == "active"
    refused = plugin_manager.delete(f"{PLUGINS}/local_keys")
    assert refused.status_code == 409 and "local-keys ships with the service" in refused.json()["detail"]
