"""The plugin manager's page over HTTP: the plugins as the API lists them, a signed wheel uploaded
through the form, enable, disable and uninstall, each audited as its API route; a bad signature,
an untrusted publisher or a bad wheel is refused with a clear message and installs nothing."""

from __future__ import annotations

import base64
import re

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from records import hookimpl
from records.plugins.signing import public_pem
from records.roles import Role
from tests.conftest import record_body
from tests.console.conftest import ConsoleClient
from tests.helpers.plugin_apps import running, with_plugins
from tests.plugin_wheels import build_wheel

NAME = "records-example-escalation"


@pytest.fixture
def publisher(admin) -> Ed25519PrivateKey:  # type: ignore[no-untyped-def]
    key = Ed25519PrivateKey.generate()
    response = admin.post("/api/v1/plugins/trusted-keys", json={"name": "team-escalation", "public_key": public_pem(key.public_key())})
    assert response.status_code == 201, response.text
    return key


def upload(console, filename: str, wheel: bytes, signature: str = "", signature_file: bytes = b"", csrf: bool = True):  # type: ignore[no-untyped-def]
    url = f"/console/plugins/?csrf_token={console.csrf}" if csrf else "/console/plugins/"
    return console.request("POST", url, follow_redirects=False, data={"signature": signature},
                           files={"wheel": (filename, wheel, "application/octet-stream"),
                                  "signature_file": ("wheel.sig", signature_file, "text/plain")})


def signed(key: Ed25519PrivateKey, version: str = "1.0.0") -> tuple[str, bytes, str]:
    filename, wheel = build_wheel(version=version)
    return filename, wheel, base64.b64encode(key.sign(wheel)).decode()


def api_plugin(client, name: str = NAME) -> dict | None:  # type: ignore[no-untyped-def]
    return next((p for p in client.get("/api/v1/plugins").json()["items"] if p["name"] == name), None)


def row(html: str, name: str) -> str:
    match = re.search(rf'<tr id="plugin-{re.escape(name)}">(.*?)</tr>', html, re.S)
    assert match, f"no row for {name}"
    return match.group(1)


def test_the_list_shows_what_the_api_lists(console_as, admin):
    console = console_as(Role.plugin_manager, "pat")
    html = console.get("/console/plugins/").text
    listed = admin.get("/api/v1/plugins").json()["items"]
    assert listed
    for plugin in listed:
        shown = row(html, plugin["name"])
        assert all(f"<code>{hook}</code>" in shown for hook in plugin["hooks"])
    builtin = row(html, listed[0]["name"])
    assert "built in" in builtin and "active" in builtin
    assert "Disable</button>" not in builtin  # the button names its plugin for screen readers
    assert f'Disable<span class="visually-hidden"> {listed[0]["name"]}</span>' in builtin
    assert 'enctype="multipart/form-data"' in html and 'name="signature_file"' in html


def test_a_signed_wheel_is_installed_disabled_enabled_and_uninstalled(console_as, admin, publisher):
    console = console_as(Role.plugin_manager, "pat")
    filename, wheel, signature = signed(publisher)
    response = upload(console, filename, wheel, signature_file=signature.encode() + b"\n")  # as `records plugins sign` writes it
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith("/console/plugins/?done=installed&name=records-example-escalation")
    html = console.get(response.headers["location"]).text
    assert f"Installed {NAME}." in html
    shown = row(html, NAME)
    assert "1.0.0" in shown and "team-escalation" in shown and "installed by pat" in shown
    assert "<code>records_register_metrics</code>" in shown
    installed = api_plugin(admin)
    assert (installed["version"], installed["publisher"], installed["installed_by"]) == ("1.0.0", "team-escalation", "pat")

    assert console.post(f"/console/plugins/{NAME}/disable").status_code == 303
    assert api_plugin(admin)["status"] == "disabled"
    assert "disabled" in row(console.get("/console/plugins/").text, NAME)
    assert console.post(f"/console/plugins/{NAME}/enable").status_code == 303
    assert api_plugin(admin)["status"] == "active"

    # An upgrade through the same form, the signature pasted this time.
    filename, wheel, signature = signed(publisher, "1.1.0")
    assert upload(console, filename, wheel, signature=signature).status_code == 303
    assert api_plugin(admin)["version"] == "1.1.0"

    gone = console.post(f"/console/plugins/{NAME}/uninstall")
    assert gone.status_code == 303
    assert f"Uninstalled {NAME}." in console.get(gone.headers["location"]).text
    assert api_plugin(admin) is None


@pytest.fixture
def audit_reader(as_role):  # type: ignore[no-untyped-def]
    return as_role(Role.compliance_officer, "carla")


def test_each_change_is_audited_as_its_api_route(console_as, audit_reader, publisher):
    console = console_as(Role.plugin_manager, "pat")
    filename, wheel, signature = signed(publisher)
    assert upload(console, filename, wheel, signature=signature).status_code == 303
    assert console.post(f"/console/plugins/{NAME}/disable").status_code == 303
    assert console.post(f"/console/plugins/{NAME}/enable").status_code == 303
    assert console.post(f"/console/plugins/{NAME}/uninstall").status_code == 303
    events = audit_reader.get("/api/v1/audit/events", params={"actor": "pat", "limit": 500}).json()["items"]
    changes = [(e["action"], e["outcome"], e["role"]) for e in events if e["action"].startswith("plugin.") and e["action"] != "plugin.list"]
    assert changes == [(action, "allowed", "plugin_manager") for action in
                       ("plugin.install", "plugin.disable", "plugin.enable", "plugin.uninstall")]
    installed = next(e for e in events if e["action"] == "plugin.install")
    assert f"plugin:{NAME}" in installed["targets"]


@pytest.mark.parametrize("case, status, message", [
    ("stranger", 422, "the signature does not verify with any trusted publisher key"),
    ("garbage_signature", 422, "signature must be the base64 of a raw 64-byte Ed25519 signature"),
    ("no_signature", 422, "its .sig file, or the base64 text pasted"),
    ("not_a_wheel", 422, "not a wheel file name"),
    ("not_a_zip", 422, "not a valid zip archive"),
    ("tampered", 422, "the signature does not verify with any trusted publisher key"),
])
def test_a_refused_upload_says_why_and_installs_nothing(console_as, admin, publisher, case, status, message):
    console = console_as(Role.plugin_manager, "pat")
    filename, wheel, signature = signed(publisher)
    if case == "stranger":
        signature = base64.b64encode(Ed25519PrivateKey.generate().sign(wheel)).decode()
    elif case == "garbage_signature":
        signature = "not base64!"
    elif case == "no_signature":
        signature = ""
    elif case == "not_a_wheel":
        filename = "notes.txt"
    elif case == "not_a_zip":  # signed by the trusted publisher, but no wheel inside
        wheel = b"PK not really a zip archive"
        signature = base64.b64encode(publisher.sign(wheel)).decode()
    elif case == "tampered":
        wheel = wheel[:-1] + bytes([wheel[-1] ^ 1])
    response = upload(console, filename, wheel, signature=signature)
    assert response.status_code == status, response.text
    assert "The plugin was not installed." in response.text
    assert message in response.text, response.text
    assert 'role="alert"' in response.text and "Traceback" not in response.text
    if case in ("garbage_signature", "no_signature"):
        assert re.search(r'<textarea id="p-signature"[^>]*aria-invalid="true"', response.text)
    assert api_plugin(admin) is None


def test_refusals_of_the_switches(console_as, admin, publisher):
    console = console_as(Role.plugin_manager, "pat")
    builtin = admin.get("/api/v1/plugins").json()["items"][0]["name"]
    refused = console.post(f"/console/plugins/{builtin}/uninstall")
    assert refused.status_code == 409
    assert f"{builtin} was not changed." in refused.text and "ships with the service" in refused.text
    missing = console.post("/console/plugins/no-such-plugin/disable")
    assert missing.status_code == 404 and "no plugin is called" in missing.text
    # Without the session's CSRF token nothing is installed.
    filename, wheel, signature = signed(publisher)
    forged = upload(console, filename, wheel, signature=signature, csrf=False)
    assert forged.status_code == 403 and api_plugin(admin) is None


def test_admins_see_the_list_but_do_not_install(console_as, publisher):
    console = console_as(Role.admin, "ada")
    html = console.get("/console/plugins/").text
    assert "Plugins, by name" in html and 'enctype="multipart/form-data"' not in html and "Disable" not in html
    assert 'href="/console/admin/publishers/"' in html
    filename, wheel, signature = signed(publisher)
    assert upload(console, filename, wheel, signature=signature).status_code == 403


def test_other_roles_are_refused(console_as):
    console = console_as(Role.agent, "alice")
    assert console.get("/console/plugins/").status_code == 403
    assert console.post(f"/console/plugins/{NAME}/disable").status_code == 403


class AccountParsingClassifier:
    """Careless code whose exception would quote the customer's account."""

    @hookimpl
    def records_classify(self, record):  # type: ignore[no-untyped-def]
        return [f"account:{int(record.customer.account)}"]


def test_a_failing_plugin_shows_its_last_failure_without_its_message(settings):
    with running(settings, with_plugins(account_parser=AccountParsingClassifier())) as service:
        agent = service.login(Role.agent, "alice")
        filed = agent.post("/api/v1/records", json=record_body(customer={
            "name": "Yellowby Marchbanks", "phone": "13987654321", "account": "ACCT-YLW-55501"}))
        assert filed.status_code == 201, filed.text
        console = ConsoleClient(service.client, service.login(Role.plugin_manager, "pat").token)
        assert console.sign_in().status_code == 303
        html = console.get("/console/plugins/").text
    shown = row(html, "account-parser")
    assert "failing" in shown
    assert f"records_classify raised builtins.ValueError (request {filed.headers['x-request-id']})" in shown
    assert "1 failure(s) since this instance started" in shown
    assert "55501" not in html and "Marchbanks" not in html
